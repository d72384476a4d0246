"""ivector-compute-dot-products: score trials by the dot product of two vectors.

  ivector-compute-dot-products [options] <trials-in> <ivector1-rspecifier> <ivector2-rspecifier> <scores-out>
With length-normalised vectors this is cosine scoring. Trials naming a missing key
are skipped with a warning and counted, as Kaldi does.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.trials import score_trial_list

NAME = 'ivector-compute-dot-products'


def main(argv):
    parser = ToolParser(NAME, __doc__, 4)
    opts, args = parser.parse(argv)
    # Both tables are held in single precision (as Kaldi does); the trials stream through.
    keys1, vectors1 = kt.read_vector_table(args[1], dtype=np.float32)
    keys2, vectors2 = kt.read_vector_table(args[2], dtype=np.float32)
    if vectors1.size and vectors2.size and vectors1.shape[1] != vectors2.shape[1]:
        raise UserError('%s has dimension %d but %s has %d'
                            % (args[1], vectors1.shape[1], args[2], vectors2.shape[1]))

    def score(rows1, rows2, is_last):
        scores = np.zeros(rows1.size)
        # 4096 trials at a time: the double-precision rows stay small at any dimension.
        for start in range(0, rows1.size, 4096):
            sel = slice(start, start + 4096)
            scores[sel] = np.einsum('ij,ij->i', vectors1[rows1[sel]].astype(np.float64),
                                    vectors2[rows2[sel]].astype(np.float64))
        return scores

    num_done, num_errors, _, _ = score_trial_list(
        NAME, args[0], args[3], keys1, keys2, score, 'Key %%s not present in %s' % args[1],
        'Key %%s not present in %s' % args[2], 'expected "enroll test" (two fields)')
    log(NAME, 'Processed %d trials, %d had errors' % (num_done + num_errors, num_errors))


if __name__ == '__main__':
    run_tool(NAME, main)
