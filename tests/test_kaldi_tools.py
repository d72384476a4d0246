"""Our Kaldi back-end tools on their own: their maths against straightforward versions of
Kaldi's formulas, and bad input (singular covariances, missing trial keys, malformed lines).

Self-contained, so these run everywhere; the comparison with real Kaldi's outputs is in
test_kaldi_backend.py (../shared/kaldi-reference) and test_kaldi_parity.py (the oracle).
"""
import os
import subprocess

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from helpers import add_class_samples, env, one_error_line, read_scores
from kaldi_compat.compute_eer import compute_eer
from kaldi_compat.compute_min_dcf import min_dcf
from kaldi_compat.fastformat import format_g7, join_rows
from kaldi_compat.plda import Plda, read_plda, score_trials, write_plda


# ----------------------------------------------------------------------------
# The maths, against straightforward versions

def test_vectorised_scores_equal_kaldis_per_trial_formula():
    rng = np.random.default_rng(3)
    dim = 12
    plda = Plda(rng.standard_normal(dim), rng.standard_normal((dim, dim)),
                np.sort(rng.gamma(2.0, 1.0, dim))[::-1])
    enrol, test = rng.standard_normal((7, dim)), rng.standard_normal((9, dim))
    num = rng.integers(1, 5, 7)
    rows_e, rows_t = rng.integers(0, 7, 40), rng.integers(0, 9, 40)
    expected = plda.log_likelihood_ratio(enrol[rows_e], num[rows_e], test[rows_t])
    # Kaldi's formula, written out once more for one trial:
    e, n, t = enrol[rows_e[0]], num[rows_e[0]], test[rows_t[0]]
    mean = n * plda.psi / (n * plda.psi + 1) * e
    var = 1 + plda.psi / (n * plda.psi + 1)
    given = -0.5 * (np.log(var).sum() + dim * np.log(2 * np.pi) + ((t - mean) ** 2 / var).sum())
    without = -0.5 * (np.log(1 + plda.psi).sum() + dim * np.log(2 * np.pi)
                      + (t ** 2 / (1 + plda.psi)).sum())
    assert np.isclose(expected[0], given - without)
    dense = score_trials(plda, enrol, num, test, rows_e, rows_t)
    sparse = score_trials(plda, enrol, num, test, rows_e, rows_t, max_dense=0)
    np.testing.assert_allclose(dense, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sparse, expected, rtol=1e-10, atol=1e-10)


def test_score_format_is_printf_g7():
    rng = np.random.default_rng(5)
    values = np.concatenate([
        rng.standard_normal(20000) * 10.0 ** rng.integers(-9, 15, 20000),
        rng.integers(-10 ** 6, 10 ** 6, 2000) / 64.0,        # exact ties at the 7th digit
        [0.0, -0.0, 1.0, -1.0, 10.0, 9999999.5, 1e7, 1e-4, 9.9999995e-5, 123456.75, 0.5,
         2.5e-5, 1e12, 3e12, np.inf, -np.inf, 5e-45]]).astype(np.float32)
    got = join_rows([format_g7(values), '\n']).split(b'\n')[:-1]
    assert got == [b'%.7g' % float(v) for v in values]


def kaldi_eer_loop(target, nontarget):
    """compute-eer.cc's loop, literally."""
    target, nontarget = sorted(np.float32(target)), sorted(np.float32(nontarget))
    pos = 0
    while pos + 1 < len(target):
        non_n = int(len(nontarget) * pos * 1.0 / len(target))
        non_pos = max(len(nontarget) - 1 - non_n, 0)
        if nontarget[non_pos] < target[pos]:
            break
        pos += 1
    return float(np.float32(pos * 1.0 / len(target))), float(target[pos])


@pytest.mark.parametrize('seed', range(6))
def test_eer_equals_kaldis_loop(seed):
    rng = np.random.default_rng(seed)
    tar = np.round(rng.normal(1.0, 1.0, rng.integers(1, 60)), 1)     # rounding makes ties
    non = np.round(rng.normal(-1.0, 1.0, rng.integers(1, 300)), 1)
    assert compute_eer(tar, non) == kaldi_eer_loop(tar, non)


def kaldi_min_dcf_loop(scores, labels, p_target, c_miss, c_fa):
    """sid/compute_min_dcf.py's lists and loop, literally."""
    pairs = sorted(enumerate(scores), key=lambda x: x[1])
    labels = [labels[i] for i, _ in pairs]
    fnrs, fprs = [], []
    for i, lab in enumerate(labels):
        fnrs.append(lab if i == 0 else fnrs[-1] + lab)
        fprs.append(1 - lab if i == 0 else fprs[-1] + 1 - lab)
    fnrs = [x / float(sum(labels)) for x in fnrs]
    fprs = [1 - x / float(len(labels) - sum(labels)) for x in fprs]
    best, threshold = float('inf'), pairs[0][1]
    for i in range(len(fnrs)):
        c = c_miss * fnrs[i] * p_target + c_fa * fprs[i] * (1 - p_target)
        if c < best:
            best, threshold = c, pairs[i][1]
    return best / min(c_miss * p_target, c_fa * (1 - p_target)), threshold


@pytest.mark.parametrize('seed', range(4))
def test_min_dcf_equals_kaldis_loop(seed):
    rng = np.random.default_rng(seed)
    n = 500
    labels = (rng.random(n) < 0.1).astype(int)
    scores = np.round(rng.normal(2.0 * labels, 1.0), 1).tolist()
    for p in (0.01, 0.05, 0.5):
        assert min_dcf(scores, labels, p, 1, 1) == kaldi_min_dcf_loop(scores, labels, p, 1, 1)


# ----------------------------------------------------------------------------
# Bad input

def write_table(path, rows):
    keys = list(rows)
    kt.write_vectors('ark,t:%s' % path, keys, np.array([rows[k] for k in keys]))


def write_lines(path, lines):
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)


@pytest.fixture
def small_set(tmp_path):
    """8 speakers x 4 utterances in 6 dimensions, enrolment and test sets."""
    rng = np.random.default_rng(11)
    spk_means = rng.standard_normal((8, 6)) * 3
    train = {'s%d-u%d' % (s, u): spk_means[s] + rng.standard_normal(6)
             for s in range(8) for u in range(4)}
    write_table(tmp_path / 'train.ark', train)
    write_lines(tmp_path / 'spk2utt', ['s%d %s' % (s, ' '.join('s%d-u%d' % (s, u)
                                                                for u in range(4)))
                                       for s in range(8)])
    write_lines(tmp_path / 'utt2spk', ['s%d-u%d s%d' % (s, u, s) for s in range(8)
                                       for u in range(4)])
    write_table(tmp_path / 'enroll.ark', {'m%d' % s: spk_means[s] for s in range(3)})
    write_table(tmp_path / 'test.ark', {'t%d' % s: spk_means[s] + rng.standard_normal(6)
                                        for s in range(3)})
    write_lines(tmp_path / 'trials', ['m%d t%d' % (a, b) for a in range(3) for b in range(3)])
    return tmp_path


def run_tool(cwd, command):
    return subprocess.run(['sh', '-c', command], cwd=cwd, env=env(), capture_output=True,
                          text=True)


def test_plda_pipeline_on_small_set(small_set):
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring plda ark:enroll.ark ark:test.ark trials scores')
    assert proc.returncode == 0, proc.stderr
    keys, scores = read_scores(small_set / 'scores')
    assert len(keys) == 9 and np.all(np.isfinite(scores))
    # Same-speaker trials score highest for each model.
    grid = scores.reshape(3, 3)
    assert (grid.argmax(axis=1) == np.arange(3)).all()


def test_missing_trial_keys_warn_and_are_counted(small_set):
    write_lines(small_set / 'trials2', ['m0 t0', 'm9 t1', 'm1 t1', 'm2 t7', 'm2 t2'])
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring plda ark:enroll.ark ark:test.ark trials2 scores')
    assert proc.returncode == 0, proc.stderr
    assert 'Key m9 not present in training iVectors.' in proc.stderr
    assert 'Key t7 not present in test iVectors.' in proc.stderr
    assert 'Processed 3 trials, 2 had errors.' in proc.stderr
    keys, _ = read_scores(small_set / 'scores')
    assert keys == [('m0', 't0'), ('m1', 't1'), ('m2', 't2')]


def test_missing_num_utts_entry_skips_the_model(small_set):
    write_lines(small_set / 'num_utts', ['m0 4', 'm2 4'])
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring --num-utts=ark:num_utts plda ark:enroll.ark '
                    'ark:test.ark trials scores')
    assert proc.returncode == 0, proc.stderr
    assert 'Number of utterances not given for speaker m1' in proc.stderr
    assert 'Processed 6 trials, 3 had errors.' in proc.stderr


def test_trial_line_with_three_fields_is_one_error(small_set):
    write_lines(small_set / 'trials3', ['m0 t0', 'm1 t1 target'])
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring plda ark:enroll.ark ark:test.ark trials3 scores')
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert 'trials3: line 2' in line and 'm1 t1 target' in line
    assert not os.path.exists(small_set / 'scores')


def test_plda_with_fewer_speakers_than_dimensions_gives_finite_scores(tmp_path):
    """3 speakers in 20 dimensions: E-M keeps the covariances positive definite.
    (More vectors than dimensions: with fewer, Kaldi refuses, and so do we.)"""
    rng = np.random.default_rng(2)
    train = {'s%d-u%d' % (s, u): rng.standard_normal(20) for s in range(3) for u in range(8)}
    write_table(tmp_path / 'train.ark', train)
    write_lines(tmp_path / 'spk2utt', ['s%d %s' % (s, ' '.join('s%d-u%d' % (s, u)
                                                              for u in range(8)))
                                       for s in range(3)])
    write_table(tmp_path / 'e.ark', {'m': rng.standard_normal(20)})
    write_table(tmp_path / 't.ark', {'t': rng.standard_normal(20)})
    write_lines(tmp_path / 'trials', ['m t'])
    proc = run_tool(tmp_path, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring plda ark:e.ark ark:t.ark trials scores')
    assert proc.returncode == 0, proc.stderr
    plda = read_plda(str(tmp_path / 'plda'))
    assert np.all(np.isfinite(plda.transform)) and np.all(plda.psi >= 0)
    assert np.all(np.isfinite(read_scores(tmp_path / 'scores')[1]))


def test_plda_needs_speakers_with_several_utterances(tmp_path):
    write_table(tmp_path / 'train.ark', {'a': [1.0, 2.0], 'b': [2.0, 1.0], 'c': [0.5, 0.3]})
    write_lines(tmp_path / 'spk2utt', ['sa a', 'sb b', 'sc c'])
    proc = run_tool(tmp_path, 'ivector-compute-plda ark:spk2utt ark:train.ark plda')
    assert proc.returncode == 1
    assert 'No speakers with multiple utterances' in one_error_line(proc.stderr)


def test_plda_with_zero_within_class_variance_in_a_dimension_trains():
    """Identical vectors in one dimension: zero within-class variance there. E-M only
    shrinks the variance towards zero, and Kaldi trains on it (even after 400
    iterations, with psi ~1e120): so must we (issue 7; tests/test_kaldi_parity.py
    compares the scores with Kaldi's)."""
    from kaldi_compat.plda_train import PldaStats, estimate_plda
    stats = PldaStats(2)
    add_class_samples(stats, [[1.0, 5.0], [1.0, 7.0]])
    add_class_samples(stats, [[3.0, 1.0], [3.0, 2.0]])
    for iters in (10, 400):
        model = estimate_plda(stats, iters)
        assert np.all(np.isfinite(model.transform)) and np.all(model.psi >= 0)
        assert model.psi[0] > 1e3 * model.psi[1]     # the dead direction dominates


def test_lda_with_too_little_data_is_one_error(tmp_path):
    rng = np.random.default_rng(0)
    write_table(tmp_path / 'x.ark', {'s%d-u%d' % (s, u): rng.standard_normal(10)
                                     for s in range(2) for u in range(2)})
    write_lines(tmp_path / 'utt2spk', ['s%d-u%d s%d' % (s, u, s) for s in range(2)
                                       for u in range(2)])
    proc = run_tool(tmp_path, 'ivector-compute-lda --dim=2 ark:x.ark ark:utt2spk lda.mat')
    assert proc.returncode == 1
    assert 'Too little data' in one_error_line(proc.stderr)
    assert not os.path.exists(tmp_path / 'lda.mat')
    proc = run_tool(tmp_path, 'ivector-compute-lda --dim=20 ark:x.ark ark:utt2spk lda.mat')
    assert '--dim=20' in one_error_line(proc.stderr)


def test_vector_on_the_plda_mean_scores_finite(tmp_path):
    """A vector equal to the model mean has no length to normalise (Kaldi: NaN)."""
    plda = Plda(np.array([1.0, 2.0, 3.0]), np.eye(3), np.array([2.0, 1.0, 0.5]))
    write_plda(str(tmp_path / 'plda'), plda, binary=False)
    write_table(tmp_path / 'e.ark', {'m': [1.0, 2.0, 3.0]})
    write_table(tmp_path / 't.ark', {'t': [0.0, 2.0, 1.0]})
    write_lines(tmp_path / 'trials', ['m t'])
    for simple in ('false', 'true'):
        proc = run_tool(tmp_path, 'ivector-plda-scoring --simple-length-normalization=%s '
                        'plda ark:e.ark ark:t.ark trials scores' % simple)
        assert proc.returncode == 0, proc.stderr
        assert np.all(np.isfinite(read_scores(tmp_path / 'scores')[1]))


def test_nan_input_is_rejected(small_set):
    with open(small_set / 'enroll.ark', 'a') as f:
        f.write('m9  [ 1 nan 2 3 4 5 ]\n')
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-plda-scoring plda ark:enroll.ark ark:test.ark trials scores')
    assert proc.returncode == 1
    assert 'NaN' in one_error_line(proc.stderr)


def test_bad_plda_options_and_inputs(small_set):
    proc = run_tool(small_set, 'ivector-compute-plda ark:spk2utt ark:train.ark plda && '
                    'ivector-copy-plda --smoothing=1.5 plda plda2')
    assert 'between 0 and 1' in one_error_line(proc.stderr)
    write_lines(small_set / 'empty.ark', [])
    proc = run_tool(small_set, 'ivector-adapt-plda plda ark:empty.ark plda3')
    assert 'no adaptation vectors' in one_error_line(proc.stderr)
    proc = run_tool(small_set, 'ivector-plda-scoring plda ark:train.ark ark:test.ark trials s')
    # Wrong models are just missing keys; with no trial scored the exit status is 1,
    # as in Kaldi, and ours says why in one line; no scores file is left.
    assert proc.returncode == 1
    assert 'no trial could be scored (9 trials' in one_error_line(proc.stderr)
    assert not os.path.exists(small_set / 's')
    write_table(small_set / 'short.ark', {'m0': [1.0, 2.0]})
    proc = run_tool(small_set, 'ivector-plda-scoring plda ark:short.ark ark:test.ark trials s')
    assert 'dimension 2' in one_error_line(proc.stderr)   # a wrong dimension is an error
    with open(small_set / 'broken', 'wb') as f:
        f.write(b'\0B<Plda> DV \x04\x06\x00\x00\x00' + b'\0' * 20)
    proc = run_tool(small_set, 'ivector-copy-plda broken out')
    assert 'broken' in one_error_line(proc.stderr)
    proc = run_tool(small_set, 'est-pca --read-vectors=true --dim=7 ark:train.ark pca.mat')
    assert 'greater than feature dimension' in one_error_line(proc.stderr)


def test_compute_eer_bad_input(tmp_path):
    write_lines(tmp_path / 'a', ['1.0 target', '0.5 nontarget', '0.2 maybe'])
    proc = run_tool(tmp_path, 'compute-eer a')
    assert "line 3" in one_error_line(proc.stderr)
    write_lines(tmp_path / 'b', ['1.0 nontarget', '0.5 nontarget'])
    assert 'No target scores' in one_error_line(run_tool(tmp_path, 'compute-eer b').stderr)
    write_lines(tmp_path / 'c', ['1.0 target', 'x nontarget'])
    assert 'first field must be float' in one_error_line(run_tool(tmp_path,
                                                                  'compute-eer c').stderr)
    write_lines(tmp_path / 'd', ['1.0 target', '2.0 nontarget extra'])
    assert 'two fields' in one_error_line(run_tool(tmp_path, 'compute-eer d').stderr)
    proc = run_tool(tmp_path, 'printf "3 target\\n1 nontarget\\n2 target\\n" | compute-eer -')
    assert proc.returncode == 0 and proc.stdout == '0'


def test_min_dcf_bad_input(tmp_path):
    write_lines(tmp_path / 'trials', ['a b target', 'a c nontarget'])
    write_lines(tmp_path / 'scores', ['a b 1.0', 'a d 0.5'])
    proc = run_tool(tmp_path, 'compute_min_dcf.py scores trials')
    assert 'Missing entry for a and d' in one_error_line(proc.stderr)
    proc = run_tool(tmp_path, 'compute_min_dcf.py --p-target 1.5 scores trials')
    assert 'p-target' in one_error_line(proc.stderr)
