"""compute-eer: equal error rate from "score target|nontarget" lines.

  compute-eer <scores-in>
  e.g.: compute-eer -

Kaldi's rule, exactly: sort the target and non-target scores; walking up the
sorted target scores (position p = 0, 1, ...), stop at the first p where the
non-target score at position N - 1 - floor(N p / T) is below the target score at
p. The EER is p / T and the threshold the target score at p. The EER in percent
goes to standard output (4 significant digits, no newline); the log line has
6 digits and the threshold.
"""
import sys

import numpy as np

from data_utils.errors import UserError
from data_utils.kaldi_streams import describe
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.columns import read_columns

NAME = 'compute-eer'


def compute_eer(target_scores, nontarget_scores):
    """(eer as a proportion, threshold), with Kaldi's single-precision values."""
    target = np.sort(np.asarray(target_scores, dtype=np.float32))
    nontarget = np.sort(np.asarray(nontarget_scores, dtype=np.float32))
    num_tar, num_non = target.size, nontarget.size
    if num_tar == 0 or num_non == 0:
        raise UserError('need both target and non-target scores')
    positions = np.arange(num_tar - 1, dtype=np.int64)
    # Kaldi: nontarget_n = (ssize_t)(N * p * 1.0 / T), truncated toward zero.
    nontarget_n = ((num_non * positions).astype(np.float64) / num_tar).astype(np.int64)
    nontarget_pos = np.maximum(num_non - 1 - nontarget_n, 0)
    crossed = np.flatnonzero(nontarget[nontarget_pos] < target[positions])
    p = int(crossed[0]) if crossed.size else num_tar - 1
    eer = np.float32(p * 1.0 / num_tar)
    return float(eer), float(target[p])


def read_scores(rxfilename):
    cols = read_columns(rxfilename, 2, 'Invalid input line (must have two fields)')
    labels = cols.column(1)
    is_target = labels == b'target'
    is_nontarget = labels == b'nontarget'
    bad = np.flatnonzero(~(is_target | is_nontarget))
    if bad.size:
        raise UserError("%s: line %d: Invalid input line (second field must be 'target' "
                            "or 'nontarget'): %s"
                            % (describe(rxfilename), bad[0] + 1, cols.line(int(bad[0]))))
    raw = cols.column(0)
    try:
        scores = raw.astype(np.float32)
    except ValueError:
        for i, text in enumerate(raw.tolist()):
            try:
                float(text)
            except ValueError:
                raise UserError('%s: line %d: Invalid input line (first field must be '
                                    'float): %s' % (describe(rxfilename), i + 1, cols.line(i)))
        raise
    nonfinite = np.flatnonzero(~np.isfinite(scores))
    if nonfinite.size:
        i = int(nonfinite[0])
        raise UserError('%s: line %d: score is NaN or Inf (or out of single-precision '
                            'range): %s' % (describe(rxfilename), i + 1, cols.line(i)))
    return scores[is_target], scores[is_nontarget]


def main(argv):
    parser = ToolParser(NAME, __doc__, 1)
    opts, args = parser.parse(argv)
    target, nontarget = read_scores(args[0])
    if target.size == 0 and nontarget.size == 0:
        raise UserError('Empty input.')
    if target.size == 0:
        raise UserError('No target scores seen.')
    if nontarget.size == 0:
        raise UserError('No non-target scores seen.')
    eer, threshold = compute_eer(target, nontarget)
    log(NAME, 'Equal error rate is %.6g%%, at threshold %.6g' % (100.0 * eer, threshold))
    sys.stdout.write('%.4g' % (100.0 * eer))


if __name__ == '__main__':
    run_tool(NAME, main)
