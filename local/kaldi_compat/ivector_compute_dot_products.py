"""ivector-compute-dot-products: score trials by the dot product of two vectors.

  ivector-compute-dot-products [options] <trials-in> <ivector1-rspecifier> <ivector2-rspecifier> <scores-out>
With length-normalised vectors this is cosine scoring. Trials naming a missing key
are skipped with a warning and counted, as Kaldi does.
"""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.trials import read_trial_keys, resolve_trials, write_scores

NAME = 'ivector-compute-dot-products'


def main(argv):
    parser = ToolParser(NAME, __doc__, 4)
    opts, args = parser.parse(argv)
    trials = read_trial_keys(args[0])
    keys1, vectors1 = kt.read_vector_table(args[1])
    keys2, vectors2 = kt.read_vector_table(args[2])
    if vectors1.size and vectors2.size and vectors1.shape[1] != vectors2.shape[1]:
        raise kt.KaldiError('%s has dimension %d but %s has %d'
                            % (args[1], vectors1.shape[1], args[2], vectors2.shape[1]))
    kept, rows1, rows2 = resolve_trials(NAME, trials, keys1, keys2, args[1], args[2])
    if not kept:
        # Kaldi exits with status 1 when it scored nothing.
        raise kt.KaldiError('%s: no trial could be scored (%d trials, each with a key '
                            'missing from the vectors)' % (args[0], len(trials)))
    scores = np.einsum('ij,ij->i', vectors1[rows1], vectors2[rows2])
    write_scores(args[3], kept, scores)
    log(NAME, 'Processed %d trials, %d had errors' % (len(trials), len(trials) - len(kept)))


if __name__ == '__main__':
    run_tool(NAME, main)
