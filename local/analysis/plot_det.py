"""DET curves and score histograms from Kaldi score files and a trials list.

  python local/analysis/plot_det.py --trials FILE [--title T] --out DET.png NAME=SCORES [NAME=SCORES ...]
  python local/analysis/plot_det.py --trials FILE [--title T] --hist-out HIST.png NAME=SCORES [NAME=SCORES ...]

--out draws one DET plot (miss vs false-alarm rate on normal-deviate axes, as NIST
plots them) with a curve per score file and each curve's EER point marked: call it
once per back-end with the front-ends as NAME=SCORES. --hist-out draws the target and
nontarget score distributions, one panel per score file (stacked), so one call per
back-end shows every front-end; both options may be given together.

Score files hold "model test score" lines (as ivector-plda-scoring writes them); every
trial must have a score, extra scores are ignored. PNGs are written atomically.
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use('Agg')   # files only: no display on compute nodes
import matplotlib.pyplot as plt   # noqa: E402  (the backend must be chosen first)
import numpy as np   # noqa: E402
# ndtri is the standard normal's quantile (scipy.stats.norm.ppf) without scipy.stats,
# whose import alone takes ~1.5 s of each plot job.
from scipy.special import ndtri   # noqa: E402

from data_utils.datadir import read_trials   # noqa: E402
from data_utils.atomic import atomic_write   # noqa: E402
from data_utils.errors import UserError, file_errors, run_main   # noqa: E402
from kaldi_compat.compute_eer import compute_eer   # noqa: E402

PROG = 'plot_det.py'
TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40]    # percent, the usual DET grid
LIMITS = (0.05, 50.0)                           # percent: a margin around the ticks


# ----------------------------------------------------------------------------
# Reading

def read_scores(path):
    """{(model, test): score}; finite numbers, one per pair."""
    if not os.path.isfile(path):
        raise UserError('%s: missing (scores)' % path)
    scores = {}
    with file_errors(path), open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 3:
                    raise ValueError
                value = float(fields[2])
            except ValueError:
                raise UserError('%s: line %d: expected "model test score"' % (path, lineno))
            if not np.isfinite(value):
                raise UserError('%s: line %d: score is %s' % (path, lineno, fields[2]))
            key = (fields[0], fields[1])
            if key in scores:
                raise UserError('%s: line %d: pair %s %s scored twice' % (path, lineno, *key))
            scores[key] = value
    return scores


def split_scores(trials, scores, path):
    """(target scores, nontarget scores) of the trials; every trial must be scored."""
    missing = [(m, t) for m, t, _ in trials if (m, t) not in scores]
    if missing:
        raise UserError('%s: no score for %d of %d trials (first: %s %s)'
                         % (path, len(missing), len(trials), *missing[0]))
    target = np.array([scores[m, t] for m, t, is_target in trials if is_target])
    nontarget = np.array([scores[m, t] for m, t, is_target in trials if not is_target])
    return target, nontarget


# ----------------------------------------------------------------------------
# Error rates

def det_points(target, nontarget):
    """(p_miss, p_fa) for every threshold between distinct scores, from accept-all to reject-all.

    A trial is accepted when its score is >= the threshold. At threshold k (scores
    sorted ascending) the lowest k scores are rejected.
    """
    scores = np.concatenate([target, nontarget])
    is_target = np.concatenate([np.ones(len(target)), np.zeros(len(nontarget))])
    order = np.argsort(scores, kind='mergesort')
    scores, is_target = scores[order], is_target[order]
    rejected_targets = np.concatenate([[0], np.cumsum(is_target)])
    rejected_nontargets = np.concatenate([[0], np.cumsum(1 - is_target)])
    # Tied scores are all accepted or all rejected: keep only cuts between distinct scores.
    cut = np.concatenate([[True], scores[1:] != scores[:-1], [True]])
    p_miss = rejected_targets[cut] / len(target)
    p_fa = 1 - rejected_nontargets[cut] / len(nontarget)
    return p_miss, p_fa


def table_eer(target, nontarget):
    """EER in percent as the results table shows it: compute-eer's (Kaldi's definition,
    local/kaldi_compat/compute_eer.py), which prints 4 significant digits that
    results_table.py rounds to 2 decimals. With tied scores this point need not be where
    the drawn curve crosses p_miss = p_fa; the number is the table's on purpose."""
    eer, _ = compute_eer(target, nontarget)
    return float('%.4g' % (100 * eer))


# ----------------------------------------------------------------------------
# Plots

def _probit(p_percent):
    # Rates of exactly 0 or 1 map to -inf/+inf: pin them just outside the axes instead.
    p = np.clip(np.asarray(p_percent, dtype=float) / 100, 1e-6, 1 - 1e-6)
    return ndtri(p)


def _save(fig, path):
    """Write the figure as PNG under a temp name and rename it into place."""
    try:
        with file_errors(path):
            atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=100))
    finally:
        plt.close(fig)


def det_figure(curves, title):
    """curves: [(name, target scores, nontarget scores)] -> (figure, {name: EER %})."""
    fig, ax = plt.subplots(figsize=(6, 6))
    eers = {}
    for name, target, nontarget in curves:
        p_miss, p_fa = det_points(target, nontarget)
        eer = table_eer(target, nontarget)
        eers[name] = eer
        line, = ax.plot(_probit(100 * p_fa), _probit(100 * p_miss), lw=1.5,
                        label='%s (EER %.2f%%)' % (name, eer))
        ax.plot(_probit(eer), _probit(eer), 'o', color=line.get_color(), ms=6)
    low, high = _probit(LIMITS)
    ax.plot([low, high], [low, high], ':', color='0.6', lw=0.8)   # the EER points lie on it
    ticks = _probit(TICKS)
    labels = ['%g' % t for t in TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel('False alarm rate (%)')
    ax.set_ylabel('Miss rate (%)')
    ax.set_title(title)
    ax.grid(True, color='0.85')
    ax.legend(loc='lower left', fontsize='small')   # no DET curve passes there
    fig.tight_layout()
    return fig, eers


def plot_det(curves, title, path):
    """curves: [(name, target scores, nontarget scores)] -> one PNG; returns {name: EER %}."""
    fig, eers = det_figure(curves, title)
    _save(fig, path)
    return eers


def plot_hist(curves, title, path, bins=60):
    """Target vs nontarget score densities (the counts differ by orders of magnitude):
    one panel per (name, target, nontarget) in curves, stacked, e.g. one per front-end."""
    fig, axes = plt.subplots(len(curves), 1, figsize=(7, 4.5 * len(curves)), squeeze=False)
    for ax, (name, target, nontarget) in zip(axes[:, 0], curves):
        edges = np.histogram_bin_edges(np.concatenate([target, nontarget]), bins=bins)
        ax.hist(nontarget, bins=edges, density=True, alpha=0.55, color='tab:red',
                label='nontarget (%d)' % len(nontarget))
        ax.hist(target, bins=edges, density=True, alpha=0.55, color='tab:blue',
                label='target (%d)' % len(target))
        ax.axvline(compute_eer(target, nontarget)[1], color='k', ls='--', lw=1,
                   label='EER threshold')
        ax.set_xlabel('score')
        ax.set_ylabel('density')
        ax.set_title('%s: %s' % (title, name) if title else name)
        ax.legend(fontsize='small')
    fig.tight_layout()
    _save(fig, path)


def parse_named(items):
    """['NAME=FILE', ...] -> [(name, file)], names unique."""
    named = []
    for item in items:
        name, eq, path = item.partition('=')
        if not eq or not name or not path:
            raise UserError("'%s': expected NAME=SCOREFILE" % item)
        if name in [n for n, _ in named]:
            raise UserError("'%s': name %s given twice" % (item, name))
        named.append((name, path))
    return named


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trials', required=True)
    parser.add_argument('--title', default='')
    parser.add_argument('--out', help='DET plot PNG, one curve per score file')
    parser.add_argument('--hist-out', help='score histogram PNG, one panel per score file')
    parser.add_argument('scores', nargs='+', metavar='NAME=SCOREFILE')
    args = parser.parse_args(argv)
    if not args.out and not args.hist_out:
        parser.error('give --out, --hist-out or both')
    named = parse_named(args.scores)
    trials = read_trials(args.trials)
    curves = [(name,) + split_scores(trials, read_scores(path), path) for name, path in named]
    if args.out:
        for name, eer in plot_det(curves, args.title, args.out).items():
            print('%s: %s: EER %.2f%%' % (PROG, name, eer), file=sys.stderr)
    if args.hist_out:
        plot_hist(curves, args.title, args.hist_out)


if __name__ == '__main__':
    run_main(PROG, main)
