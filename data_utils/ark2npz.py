"""Convert a Kaldi vector table (with its speakers) to the trainer's npz.

  python -m data_utils.ark2npz --data-dir data/demo/train exp/vae/train.npz
  python -m data_utils.ark2npz --vectors scp:x.scp [--utt2spk utt2spk] out.npz

With --data-dir the dir's xvector.scp/ark, utt2spk and spk2utt are cross-checked
(every utt2spk utterance needs a vector and every vector a speaker). Dimensions are
read from the data, never assumed.
"""
import argparse
import sys

from data_utils import kaldi_table as kt
from data_utils.datadir import DataDirLabels, check_coverage, read_pairs
from data_utils.errors import UserError, run_main
from data_utils.npz_io import NpzWriter, speaker_arrays

PROG = 'ark2npz'


def convert(out, data_dir=None, vectors=None, utt2spk_path=None):
    """Stream the vectors into the npz: memory holds one chunk of rows and the keys."""
    labels = DataDirLabels(data_dir) if data_dir else None
    rspecifier = labels.rspecifier if labels else vectors
    keys = []
    with NpzWriter(out) as writer:
        for chunk_keys, chunk in kt.read_unique_vector_chunks(rspecifier, dtype='float32'):
            writer.append(chunk)
            keys.extend(chunk_keys)
        if labels:
            labels.check(keys)
            utt2spk = labels.utt2spk
        else:
            if not keys:
                raise UserError('%s: no vectors' % vectors)
            utt2spk = read_pairs(utt2spk_path, 'utt2spk') if utt2spk_path else None
            if utt2spk is not None:
                check_coverage(keys, utt2spk, kt.parse_rspecifier(vectors)[2], utt2spk_path,
                               every_utterance=False)
        writer.finish(keys, *speaker_arrays(keys, utt2spk))
    return len(keys), writer.dim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--data-dir', help='Kaldi data dir with xvector.scp|ark, utt2spk, spk2utt')
    source.add_argument('--vectors', help='rspecifier of the vectors')
    parser.add_argument('--utt2spk', help='with --vectors: speaker labels')
    parser.add_argument('out', help='npz file to write')
    args = parser.parse_args(argv)
    count, dim = convert(args.out, args.data_dir, args.vectors, args.utt2spk)
    print('%s: wrote %d vectors of dim %d to %s' % (PROG, count, dim, args.out), file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
