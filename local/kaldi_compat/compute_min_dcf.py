"""compute_min_dcf.py: minimum of the detection cost function (Kaldi's sid/compute_min_dcf.py).

  compute_min_dcf.py [--p-target 0.01] [--c-miss 1] [--c-fa 1] <scores-file> <trials-file>

scores-file: "<utt1> <utt2> <score>" lines; trials-file: "<utt1> <utt2> target|nontarget".
Every scored pair must be in the trials (anything but "target" counts as a
non-target); trials without a score are ignored. As in Kaldi's script, the scores
are sorted (stable, so ties keep the order of the scores file), each sorted score
in turn is a threshold rejecting it and all below it, and the cost
    c_miss * P_miss * p_target + c_fa * P_fa * (1 - p_target)
is minimised and divided by min(c_miss * p_target, c_fa * (1 - p_target)).
The minDCF goes to standard output with 4 decimals. Options take argparse syntax
("--p-target 0.01" or "--p-target=0.01"), as the Python script does.
"""
import argparse
import sys

import numpy as np

from data_utils.errors import UserError
from kaldi_compat.cli import run_tool

NAME = 'compute_min_dcf.py'


def min_dcf(scores, labels, p_target, c_miss, c_fa):
    """(minDCF, threshold) exactly as Kaldi's script computes them (float64)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    order = np.argsort(scores, kind='stable')
    sorted_labels = labels[order]
    misses = np.cumsum(sorted_labels)
    false_alarms_kept = np.cumsum(1 - sorted_labels)
    num_tar = int(sorted_labels.sum())
    num_non = sorted_labels.size - num_tar
    if num_tar == 0 or num_non == 0:
        raise UserError('need both target and non-target trials among the scored pairs '
                            '(%d targets, %d non-targets)' % (num_tar, num_non))
    fnrs = misses / float(num_tar)
    fprs = 1 - false_alarms_kept / float(num_non)
    c_det = c_miss * fnrs * p_target + c_fa * fprs * (1 - p_target)
    best = int(np.argmin(c_det))           # the first minimum, as the script's strict <
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    return c_det[best] / c_def, scores[order][best]


def _read_lines(path, ncols, what):
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
    except OSError as err:
        raise UserError('%s: cannot open for reading: %s' % (path, err.strerror))
    rows = []
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) != ncols:
            raise UserError('%s: line %d: expected %d fields (%s), got %d: "%s"'
                                % (path, lineno, ncols, what, len(fields), line.rstrip()))
        rows.append(fields)
    return rows


def compute(scores_path, trials_path, p_target, c_miss, c_fa):
    trials = {}
    for utt1, utt2, target in _read_lines(trials_path, 3, '<utt1> <utt2> <target/nontarget>'):
        trials[utt1 + ' ' + utt2] = target
    scores, labels = [], []
    for lineno, (utt1, utt2, score) in enumerate(
            _read_lines(scores_path, 3, '<utt1> <utt2> <score>'), 1):
        label = trials.get(utt1 + ' ' + utt2)
        if label is None:
            raise UserError('%s: line %d: Missing entry for %s and %s in %s'
                                % (scores_path, lineno, utt1, utt2, trials_path))
        try:
            value = float(score)
        except ValueError:
            raise UserError('%s: line %d: score is not a number: "%s"'
                                % (scores_path, lineno, score))
        if not np.isfinite(value):
            raise UserError('%s: line %d: score is NaN or Inf' % (scores_path, lineno))
        scores.append(value)
        labels.append(1 if label == 'target' else 0)
    if not scores:
        raise UserError('%s: no scores' % scores_path)
    return min_dcf(scores, labels, p_target, c_miss, c_fa)


def main(argv):
    parser = argparse.ArgumentParser(
        prog=NAME, description='Compute the minimum detection cost function along with the '
        'threshold at which it occurs.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--p-target', type=float, dest='p_target', default=0.01,
                        help='The prior probability of the target speaker in a trial.')
    parser.add_argument('--c-miss', type=float, dest='c_miss', default=1,
                        help='Cost of a missed detection.')
    parser.add_argument('--c-fa', type=float, dest='c_fa', default=1,
                        help='Cost of a spurious detection.')
    parser.add_argument('scores_filename', help='scores: <utt1> <utt2> <score>')
    parser.add_argument('trials_filename', help='trials: <utt1> <utt2> <target/nontarget>')
    args = parser.parse_args(argv)
    if args.c_fa <= 0:
        raise UserError('--c-fa must be greater than 0')
    if args.c_miss <= 0:
        raise UserError('--c-miss must be greater than 0')
    if not 0 < args.p_target < 1:
        raise UserError('--p-target must be greater than 0 and less than 1')
    value, threshold = compute(args.scores_filename, args.trials_filename, args.p_target,
                               args.c_miss, args.c_fa)
    sys.stdout.write('{0:.4f}\n'.format(value))
    sys.stderr.write('minDCF is {0:.4f} at threshold {1:.4f} (p-target={2}, c-miss={3},'
                     'c-fa={4})\n'.format(value, threshold, args.p_target, args.c_miss,
                                          args.c_fa))


if __name__ == '__main__':
    run_tool(NAME, main)
