"""Speaker-disjoint k-fold splits of a labelled data dir, with trials for each held-out fold.

  python local/analysis/kfold.py --data DIR --out DIR [--folds 3] [--seed 7] [--enroll-utts 1]
                        [--nontarget-ratio 10] [--trials FILE]

Speakers are shuffled with the seed and dealt round-robin into k folds, so the folds
are disjoint, cover every speaker, and differ in size by at most one speaker. For fold
i (1-based) <out>/fold<i>/ gets the Kaldi layout the recipes read:

  train/   the other folds' utterances: xvector.scp (or .ark), utt2spk, spk2utt
  enroll/  one model per held-out speaker, named after it, from its first --enroll-utts
           utterances (utt2spk maps them to the model; spk2utt lists them)
  test/    the held-out speakers' other utterances (utt2spk to the true speaker)
  trials   "model test target|nontarget": every same-speaker pair, and a seeded sample
           of different-speaker pairs, at least --nontarget-ratio times as many

A speaker with too few utterances for a model and a test still gives its utterances as
tests (nontarget only).

With --trials, the data's own trial list ("enroll-utt test-utt target|nontarget", both
utterances of the dir) is used instead of generated trials: fold i scores the given trials
whose two speakers are both held out in fold i, each enrolment utterance being a model of
its own (named after it). A trial whose speakers fall in different folds can be scored in
no fold (one of them would be in the training part); their number is reported.

<out>/spk2fold records the split. Vectors are not copied when the source has an
xvector.scp: the subsets are lines of it, as Kaldi's subset_data_dir.sh does, so relative
paths in it stay relative to where the recipes run. Otherwise subset arks are written.
Every fold is built in a temp dir and moved into place at the end.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.datadir import check_coverage, read_pairs, read_trials, vectors_rspecifier
from data_utils.errors import UserError, file_errors, run_main

PROG = 'kfold.py'


# ----------------------------------------------------------------------------
# Splitting and trials (pure functions on ids)

def split_speakers(speakers, folds, seed):
    """k lists of speakers (each sorted), disjoint, covering all, sizes within one.

    RandomState is numpy's legacy generator, whose stream numpy keeps fixed across
    versions, so a seed names the same split on every machine.
    """
    speakers = sorted(set(speakers))
    if folds < 2:
        raise UserError('--folds must be at least 2, got %d' % folds)
    if folds > len(speakers):
        raise UserError('%d folds need at least %d speakers, there are %d'
                            % (folds, folds, len(speakers)))
    order = np.random.RandomState(seed).permutation(len(speakers))
    return [sorted(speakers[j] for j in order[i::folds]) for i in range(folds)]


def enroll_test_split(utt2spk, enroll_utts):
    """(enroll utt -> model, test utt -> speaker) for the utterances of one fold.

    The model of a speaker is named after the speaker and made from its first utterances
    in sorted order; a speaker needs at least one utterance left over for a test.
    """
    by_speaker = {}
    for utt in sorted(utt2spk):
        by_speaker.setdefault(utt2spk[utt], []).append(utt)
    enroll, test = {}, {}
    for spk, utts in by_speaker.items():
        cut = enroll_utts if len(utts) > enroll_utts else 0
        enroll.update((u, spk) for u in utts[:cut])
        test.update((u, spk) for u in utts[cut:])
    return enroll, test


def make_trials(models, test2spk, nontarget_ratio, seed):
    """Sorted (model, test, is_target): all target pairs, sampled nontarget pairs.

    A model is named after its speaker, so a pair is a target when the test utterance's
    speaker is the model. Nontarget pairs are drawn uniformly without replacement from
    the models x tests grid minus its targets: by rejection when the grid is mostly
    nontargets (large sets, where listing the grid would not fit in memory), else from
    the listed nontargets.
    """
    models = sorted(models)
    tests = sorted(test2spk)
    model_index = {m: i for i, m in enumerate(models)}
    # The model each test utterance is a target for, -1 when its speaker has no model.
    own = np.array([model_index.get(test2spk[t], -1) for t in tests], dtype=np.int64)
    n_models, n_tests = len(models), len(tests)
    target_tests = np.flatnonzero(own >= 0)
    n_nontarget_all = n_models * n_tests - len(target_tests)
    want = min(n_nontarget_all, int(math.ceil(nontarget_ratio * len(target_tests))))
    rng = np.random.RandomState(seed)
    if want > n_nontarget_all // 2:
        grid = np.arange(n_models * n_tests, dtype=np.int64)
        grid = grid[grid // n_tests != own[grid % n_tests]]
        chosen = np.sort(rng.choice(grid, size=want, replace=False))
    else:
        chosen = np.empty(0, dtype=np.int64)
        while len(chosen) < want:
            draw = rng.randint(0, n_models * n_tests, size=2 * (want - len(chosen)), dtype=np.int64)
            draw = draw[draw // n_tests != own[draw % n_tests]]
            chosen = np.concatenate([chosen, draw])
            _, first = np.unique(chosen, return_index=True)   # drop repeats, keep draw order
            chosen = chosen[np.sort(first)]
        chosen = np.sort(chosen[:want])
    trials = [(models[own[t]], tests[t], True) for t in target_tests]
    trials += [(models[i // n_tests], tests[i % n_tests], False) for i in chosen]
    return sorted(trials)


# ----------------------------------------------------------------------------
# Reading the source and writing the folds

class Source:
    """The labelled data dir: utt2spk, and either scp lines or vectors per utterance."""

    def __init__(self, data_dir):
        utt2spk_path = os.path.join(data_dir, 'utt2spk')
        self.utt2spk = read_pairs(utt2spk_path, 'utt2spk')
        rspecifier = vectors_rspecifier(data_dir)
        kind, _, path = kt.parse_rspecifier(rspecifier)
        self.scp_lines, self.vectors = None, None
        if kind == 'scp':
            self.scp_lines = self._read_scp(path)
            have = self.scp_lines
        else:
            keys, matrix = kt.read_vector_table(rspecifier)
            self.vectors = dict(zip(keys, matrix))
            have = self.vectors
        # Vectors of no listed utterance are left out of every fold.
        check_coverage(have, self.utt2spk, path, utt2spk_path, every_vector=False)

    @staticmethod
    def _read_scp(path):
        lines = {}
        with file_errors(path), open(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split(None, 1)
                if not fields:
                    continue
                if len(fields) != 2:
                    raise UserError('%s: line %d: expected "key rxfilename"' % (path, lineno))
                if fields[0] in lines:
                    raise UserError('%s: line %d: key %s appears twice' % (path, lineno, fields[0]))
                lines[fields[0]] = line if line.endswith('\n') else line + '\n'
        return lines

    def write_vectors(self, out_dir, utts):
        utts = sorted(utts)
        if self.scp_lines is not None:
            with open(os.path.join(out_dir, 'xvector.scp'), 'w') as f:
                f.writelines(self.scp_lines[u] for u in utts)
        else:
            kt.write_vectors('ark:%s' % os.path.join(out_dir, 'xvector.ark'), utts,
                             np.array([self.vectors[u] for u in utts]))


def write_labels(out_dir, utt2spk):
    """utt2spk and spk2utt, both sorted (Kaldi's tools expect sorted tables)."""
    spk2utt = {}
    with open(os.path.join(out_dir, 'utt2spk'), 'w') as f:
        for utt in sorted(utt2spk):
            f.write('%s %s\n' % (utt, utt2spk[utt]))
            spk2utt.setdefault(utt2spk[utt], []).append(utt)
    with open(os.path.join(out_dir, 'spk2utt'), 'w') as f:
        f.writelines('%s %s\n' % (spk, ' '.join(utts)) for spk, utts in sorted(spk2utt.items()))


def write_subset(source, out_dir, utt2spk):
    os.makedirs(out_dir)
    source.write_vectors(out_dir, utt2spk)
    write_labels(out_dir, utt2spk)


def read_given_trials(path, utt2spk):
    """The data dir's own trials, checked against its utt2spk: both sides are utterances
    of the dir, and 'target' means same speaker."""
    trials = read_trials(path)
    for enroll, test, is_target in trials:
        for utt in (enroll, test):
            if utt not in utt2spk:
                raise UserError('%s: trial "%s %s": %s is not an utterance of the data dir'
                                    % (path, enroll, test, utt))
        if (utt2spk[enroll] == utt2spk[test]) != is_target:
            raise UserError('%s: trial "%s %s" is labelled %s but utt2spk gives speakers %s and %s'
                                % (path, enroll, test, 'target' if is_target else 'nontarget',
                                   utt2spk[enroll], utt2spk[test]))
    return trials


def trials_of_fold(given, utt2spk, held_out):
    """(enroll utt -> model, test utt -> speaker, trials) of the given trials inside a fold.

    Each enrolment utterance is its own model, named after it, as in utterance-pair
    trial lists; the models' speakers are never needed by the back-ends.
    """
    kept = [t for t in given if utt2spk[t[0]] in held_out and utt2spk[t[1]] in held_out]
    enroll = {e: e for e, _, _ in kept}
    test = {t: utt2spk[t] for _, t, _ in kept}
    return enroll, test, sorted(kept)


def build_fold(source, fold_dir, held_out, enroll_utts, nontarget_ratio, seed, given=None):
    """Write one fold's train/enroll/test/trials; returns (#targets, #nontargets)."""
    rest = {u: s for u, s in source.utt2spk.items() if s not in held_out}
    name = os.path.basename(fold_dir)
    if given is not None:
        enroll, test, trials = trials_of_fold(given, source.utt2spk, held_out)
        if {t[2] for t in trials} != {True, False}:
            raise UserError('fold %s: the given trials have no %s trial inside this fold '
                                '(use fewer folds, or let kfold.py generate trials)'
                                % (name, 'target' if not any(t[2] for t in trials) else 'nontarget'))
    else:
        held = {u: s for u, s in source.utt2spk.items() if s in held_out}
        enroll, test = enroll_test_split(held, enroll_utts)
        models = set(enroll.values())
        if not models:
            raise UserError('no speaker of fold %s has more than %d utterances: no models to enrol'
                                % (name, enroll_utts))
        trials = make_trials(models, test, nontarget_ratio, seed)
        if all(is_target for _, _, is_target in trials):
            raise UserError('fold %s has one speaker: no nontarget trials (use fewer folds)' % name)
    write_subset(source, os.path.join(fold_dir, 'train'), rest)
    write_subset(source, os.path.join(fold_dir, 'enroll'), enroll)
    write_subset(source, os.path.join(fold_dir, 'test'), test)
    with open(os.path.join(fold_dir, 'trials'), 'w') as f:
        f.writelines('%s %s %s\n' % (m, t, 'target' if is_target else 'nontarget')
                     for m, t, is_target in trials)
    n_target = sum(1 for t in trials if t[2])
    return n_target, len(trials) - n_target


def replace_dir(new, target):
    """Move the finished dir `new` to `target`, replacing an earlier run's."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(target))
        os.replace(target, os.path.join(old, 'x'))
    os.replace(new, target)
    if old:
        shutil.rmtree(old)


def run(data_dir, out_dir, folds, seed, enroll_utts, nontarget_ratio, trials_path=None):
    if enroll_utts < 1:
        raise UserError('--enroll-utts must be at least 1, got %d' % enroll_utts)
    if not 0 <= seed < 2 ** 31:
        raise UserError('--seed must be in [0, 2^31), got %d' % seed)
    if nontarget_ratio <= 0:
        raise UserError('--nontarget-ratio must be positive, got %g' % nontarget_ratio)
    source = Source(data_dir)
    given = read_given_trials(trials_path, source.utt2spk) if trials_path else None
    split = split_speakers(source.utt2spk.values(), folds, seed)
    with file_errors(out_dir):
        return write_folds(source, out_dir, split, enroll_utts, nontarget_ratio, seed, given)


def write_folds(source, out_dir, split, enroll_utts, nontarget_ratio, seed, given):
    """Build every fold in a work dir inside out_dir, then move them into place."""
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='.kfold-', dir=out_dir)
    try:
        counts = []
        for i, held_out in enumerate(split, 1):
            # Each fold samples with its own seed, so adding folds does not change fold 1's trials.
            counts.append(build_fold(source, os.path.join(work, 'fold%d' % i), set(held_out),
                                     enroll_utts, nontarget_ratio, seed + i, given))
        with open(os.path.join(work, 'spk2fold'), 'w') as f:
            f.writelines('%s %d\n' % (spk, i) for i, fold in enumerate(split, 1) for spk in fold)
        for i in range(1, len(split) + 1):
            replace_dir(os.path.join(work, 'fold%d' % i), os.path.join(out_dir, 'fold%d' % i))
        os.replace(os.path.join(work, 'spk2fold'), os.path.join(out_dir, 'spk2fold'))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return split, counts, (len(given) if given is not None else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='labelled data dir: xvector.scp|ark, utt2spk')
    parser.add_argument('--out', required=True, help='gets fold1 .. foldK and spk2fold')
    parser.add_argument('--folds', type=int, default=3)
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--enroll-utts', type=int, default=1,
                        help='utterances per enrolment model (default 1)')
    parser.add_argument('--nontarget-ratio', type=float, default=10.0,
                        help='at least this many nontarget trials per target trial (default 10)')
    parser.add_argument('--trials', help='use this trial list of the data dir\'s utterances '
                        '("enroll-utt test-utt target|nontarget") instead of generating trials')
    args = parser.parse_args(argv)
    split, counts, n_given = run(args.data, args.out, args.folds, args.seed, args.enroll_utts,
                                 args.nontarget_ratio, args.trials)
    for i, (fold, (n_tar, n_non)) in enumerate(zip(split, counts), 1):
        print('%s: fold%d: %d held-out speakers, %d target and %d nontarget trials'
              % (PROG, i, len(fold), n_tar, n_non), file=sys.stderr)
        if n_given is None and n_non < args.nontarget_ratio * n_tar:
            print('WARNING (%s): fold%d: only %d different-speaker pairs exist, all are used'
                  % (PROG, i, n_non), file=sys.stderr)
    if n_given is not None:
        crossing = n_given - sum(n_tar + n_non for n_tar, n_non in counts)
        print('%s: %d of the %d given trials pair speakers of different folds and are scored in no fold'
              % (PROG, crossing, n_given), file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
