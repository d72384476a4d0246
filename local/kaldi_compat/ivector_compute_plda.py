"""ivector-compute-plda: estimate a PLDA model from vectors and speaker labels.

  ivector-compute-plda [options] <spk2utt-rspecifier> <ivector-rspecifier> <plda-out>
  e.g.: ivector-compute-plda ark:spk2utt ark,s,cs:ivectors.ark plda

As Kaldi's: E-M for the within- and between-class covariances (--num-em-iters,
default 10), then the model is written with the transform that makes the
within-class covariance unit and the between-class covariance diagonal. Utterances
without a vector are warned about and skipped; a speaker with none is skipped.
"""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.plda import write_plda
from kaldi_compat.plda_train import PldaStats, estimate_plda

NAME = 'ivector-compute-plda'


def main(argv):
    parser = ToolParser(NAME, __doc__, 3)
    parser.add('num-em-iters', 10, 'Number of iterations of E-M used for PLDA estimation')
    parser.add('binary', True, 'Write output in binary mode')
    opts, args = parser.parse(argv)
    spk2utt_rspecifier, ivector_rspecifier, plda_wxfilename = args

    # Kaldi reads vectors as BaseFloat and accumulates in double.
    keys, vectors = kt.read_vector_table(ivector_rspecifier, dtype=np.float32)
    vectors = vectors.astype(np.float64)
    row_of = {key: i for i, key in enumerate(keys)}
    stats = None
    spk_done = spk_err = utt_done = utt_err = 0
    for spk, utts in kt.read_token_table(spk2utt_rspecifier):
        if not utts:
            raise kt.KaldiError('%s: speaker %s has no utterances' % (spk2utt_rspecifier, spk))
        rows = []
        for utt in utts:
            if utt in row_of:
                rows.append(row_of[utt])
                utt_done += 1
            else:
                warn(NAME, 'No iVector present in input for utterance %s' % utt)
                utt_err += 1
        if not rows:
            warn(NAME, 'Not producing output for speaker %s since no utterances had iVectors'
                 % spk)
            spk_err += 1
            continue
        if stats is None:
            stats = PldaStats(vectors.shape[1])
        stats.add_samples(vectors[rows])
        spk_done += 1
    log(NAME, 'Accumulated stats from %d speakers (%d with no utterances), consisting of '
        '%d utterances (%d absent from input).' % (spk_done, spk_err, utt_done, utt_err))
    if spk_done == 0:
        raise kt.KaldiError('No stats accumulated, unable to estimate PLDA.')
    if spk_done == utt_done:
        raise kt.KaldiError('No speakers with multiple utterances, unable to estimate PLDA.')
    plda = estimate_plda(stats, opts.num_em_iters, log=lambda m: log(NAME, m))
    write_plda(plda_wxfilename, plda, opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
