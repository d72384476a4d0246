"""Convert a Kaldi vector table (with its speakers) to the trainer's npz.

  python -m data_utils.ark2npz --data-dir data/demo/train exp/vae/train.npz
  python -m data_utils.ark2npz --vectors scp:x.scp [--utt2spk utt2spk] out.npz
  ... [--identity-out train_set.json]

--identity-out writes the set's identity (count, dimension, digests of the keys and of the
vectors: data_utils.set_identity), computed from the same stream: train.sh records it in
each model dir, so a model is never resumed on other data.

With --data-dir the dir's xvector.scp/ark, utt2spk and spk2utt are cross-checked
(every utt2spk utterance needs a vector and every vector a speaker). Dimensions are
read from the data, never assumed.

Memory stays flat with the size of the table: the rows go to disk chunk by chunk
(npz_io.NpzWriter), utt2spk is held as one sorted fixed-width bytes array
(data_utils.utt2spk_map) and each vector's key as its entry there (without utt2spk: the
keys as one bytes array): about 30 bytes a vector in all.
"""
import argparse
import os
import sys

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.datadir import report_coverage, vectors_rspecifier
from data_utils.errors import UserError, run_main
from data_utils.kaldi_streams import describe, printable
from data_utils.npz_io import NpzWriter
from data_utils.set_identity import VectorHasher, write_json
from data_utils.utt2spk_map import Utt2SpkMap, first_repeat
from data_utils.key_map import KeyMap, duplicate_key

PROG = 'ark2npz'


class TableKeys:
    """The keys of the table as they stream in, and their checks: no key twice, utt2spk's
    coverage. With utt2spk only each key's entry in it is kept (4 bytes: the key itself
    is utt2spk's), else the key as bytes."""

    def __init__(self, rspecifier, labels):
        self.name = kt.parse_rspecifier(rspecifier)[2]
        self.labels = labels
        self.count = self.unlabelled = 0
        self.first_unlabelled = None
        self.blocks = []     # per chunk: utt2spk entries (-1: none), or the keys as bytes
        self.seen = np.zeros(len(labels), dtype=bool) if labels is not None else None

    def add(self, keys):
        self.count += len(keys)
        if self.labels is None:
            self.blocks.append(np.array([key.encode('latin1') for key in keys]))
            return
        entries = self.labels.entries(keys)
        unknown = np.flatnonzero(entries < 0)
        if unknown.size and self.first_unlabelled is None:
            self.first_unlabelled = keys[unknown[0]]
        self.unlabelled += unknown.size
        known = entries[entries >= 0]
        if self.seen[known].any() or np.unique(known).size < known.size:
            self.repeated(duplicate_key(self.labels.keys, known, self.seen))
        self.seen[known] = True
        self.blocks.append(entries)

    def repeated(self, key):
        raise UserError('%s: key %s appears twice' % (describe(self.name), printable(key)))

    def unlabelled_keys(self):
        """The keys in table order, latin-1 bytes, checked for repeats (no utt2spk)."""
        keys = np.concatenate(self.blocks)
        self.blocks = []
        repeat = first_repeat(KeyMap(key.decode('latin1') for key in keys))
        if repeat is not None:
            self.repeated(keys[repeat].decode('latin1'))
        return keys

    def entries(self, vectors_name, every_utterance):
        """The utt2spk entry of each key, after datadir.check_coverage's checks: utt2spk
        names no utterance without a vector (when every_utterance), every vector has a
        speaker."""
        missing = np.flatnonzero(~self.seen) if every_utterance else np.zeros(0, int)
        self.seen = None
        report_coverage(vectors_name, self.labels.path, missing.size,
                        [self.labels.keys.key(missing[0])] if missing.size else [],
                        self.unlabelled, [self.first_unlabelled])
        entries = np.concatenate(self.blocks)
        self.blocks = []
        return entries


def convert(out, data_dir=None, vectors=None, utt2spk_path=None, identity_out=None):
    """Stream the vectors into the npz: memory holds one chunk of rows and the keys.
    With identity_out, the table's identity (set_identity) goes there once the npz is written."""
    rspecifier = vectors_rspecifier(data_dir) if data_dir else vectors
    where = kt.parse_rspecifier(rspecifier)[2]     # the table, as messages name it
    if data_dir:
        utt2spk_path = os.path.join(data_dir, 'utt2spk')
        spk2utt_path = os.path.join(data_dir, 'spk2utt')
    labels = Utt2SpkMap(utt2spk_path) if utt2spk_path else None
    spk2utt_matches = labels.matches_spk2utt(spk2utt_path) if data_dir else True
    table = TableKeys(rspecifier, labels)
    hasher = VectorHasher()
    with NpzWriter(out) as writer:
        for chunk_keys, chunk in kt.read_vector_chunks(rspecifier, dtype='float32'):
            writer.append(chunk)
            table.add(chunk_keys)
            hasher.add(chunk_keys, chunk)
        if not table.count:
            raise UserError('%s: no vectors' % where)
        if labels is None:
            writer.finish(table.unlabelled_keys())
        else:
            entries = table.entries(where, every_utterance=bool(data_dir))
            if not spk2utt_matches:
                raise UserError('%s: does not match utt2spk (rebuild it with utt2spk_to_spk2utt)'
                                % spk2utt_path)
            spk_index, spk_labels = labels.speaker_arrays(entries)
            writer.finish(labels.ids(entries), spk_index, spk_labels)
    if identity_out:
        write_json(identity_out, hasher.identity(data_dir.rstrip('/') if data_dir else where))
    return table.count, writer.dim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--data-dir', help='Kaldi data dir with xvector.scp|ark, utt2spk, spk2utt')
    source.add_argument('--vectors', help='rspecifier of the vectors')
    parser.add_argument('--utt2spk', help='with --vectors: speaker labels')
    parser.add_argument('--identity-out', help='also write the set\'s identity (JSON) here')
    parser.add_argument('out', help='npz file to write')
    args = parser.parse_args(argv)
    count, dim = convert(args.out, args.data_dir, args.vectors, args.utt2spk, args.identity_out)
    print('%s: wrote %d vectors of dim %d to %s' % (PROG, count, dim, args.out), file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
