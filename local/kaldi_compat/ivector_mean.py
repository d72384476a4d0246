"""ivector-mean: the global mean of a vector table, or per-speaker means with spk2utt.

  ivector-mean <ivector-rspecifier> <mean-wxfilename>
  ivector-mean <spk2utt-rspecifier> <ivector-rspecifier> <ivector-wspecifier> [<num-utt-wspecifier>]
The second form makes enrolment models: each model is the mean of its utterances,
and num_utts records how many there were (PLDA scoring uses it).
"""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool, warn

NAME = 'ivector-mean'


def global_mean(rspecifier, wxfilename, binary):
    keys, vectors = kt.read_vector_table(rspecifier)
    if not keys:
        raise kt.KaldiError('%s: no vectors to average' % rspecifier)
    mean = vectors.mean(axis=0)
    kt.write_vector(wxfilename, mean, binary=binary)
    log(NAME, 'Wrote mean of %d vectors; norm of mean is %g' % (len(keys), np.linalg.norm(mean)))


def speaker_means(spk2utt_rspecifier, rspecifier, wspecifier, num_utts_wspecifier):
    keys, vectors = kt.read_vector_table(rspecifier)
    row_of = {key: i for i, key in enumerate(keys)}
    models, means, counts = [], [], []
    missing_utts = 0
    for spk, utts in kt.read_token_table(spk2utt_rspecifier):
        rows = [row_of[u] for u in utts if u in row_of]
        missing_utts += len(utts) - len(rows)
        for utt in utts:
            if utt not in row_of:
                warn(NAME, 'No vector for utterance %s of %s' % (utt, spk))
        if not rows:
            warn(NAME, 'Not producing output for %s: none of its utterances has a vector' % spk)
            continue
        models.append(spk)
        means.append(vectors[rows].mean(axis=0))
        counts.append(len(rows))
    if not models:
        raise kt.KaldiError('%s: no model has any vector in %s' % (spk2utt_rspecifier, rspecifier))
    kt.write_vectors(wspecifier, models, np.vstack(means))
    if num_utts_wspecifier:
        kt.write_int_table(num_utts_wspecifier, models, counts)
    log(NAME, 'Computed mean of %d models (%d utterances missing)' % (len(models), missing_utts))


def main(argv):
    parser = ToolParser(NAME, __doc__, 2, 4)
    parser.add('binary', True, 'write the global mean in binary mode')
    opts, args = parser.parse(argv)
    if len(args) == 2:
        global_mean(args[0], args[1], opts.binary)
    elif len(args) >= 3:
        speaker_means(args[0], args[1], args[2], args[3] if len(args) == 4 else None)


if __name__ == '__main__':
    run_tool(NAME, main)
