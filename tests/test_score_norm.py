"""AS-norm (local/analysis/score_norm.py) against its formula, on hand-made and random cases."""
import os

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from kaldi_compat.plda import Plda, write_plda
from analysis import score_norm


def write_table(path, keys, vectors):
    kt.write_vectors('ark,t:%s' % path, keys, np.asarray(vectors, dtype=np.float32))
    return 'ark:%s' % path


def write_lines(path, lines):
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    return str(path)


def read_output(path):
    with open(path) as f:
        return [(a, b, float(s)) for a, b, s in (line.split() for line in f)]


def test_hand_made_case(tmp_path):
    """1-dim vectors, so the cohort scores (dot products) are plain products.

    enrol e1 = 2:  cohort scores 2 4 6 -2 -> top-2 {4, 6}: mu 5, sd 1
    enrol e2 = -1: cohort scores -1 -2 -3 1 -> top-2 {-1, 1}: mu 0, sd 1
    test  t1 = 1:  cohort scores 1 2 3 -1 -> top-2 {2, 3}: mu 2.5, sd 0.5
    test  t2 = 0.5: cohort scores 0.5 1 1.5 -0.5 -> top-2 {1, 1.5}: mu 1.25, sd 0.25
    """
    enrol = write_table(tmp_path / 'e.ark', ['e1', 'e2'], [[2], [-1]])
    test = write_table(tmp_path / 't.ark', ['t1', 't2'], [[1], [0.5]])
    cohort = write_table(tmp_path / 'c.ark', ['c1', 'c2', 'c3', 'c4'], [[1], [2], [3], [-1]])
    # The scores to normalise need not be the cohort scorer's own (they come from the
    # back-end); arbitrary values show the formula is applied to the given score.
    scores = write_lines(tmp_path / 'scores', ['e1 t1 7', 'e2 t1 -1', 'e1 t2 3.5', 'e2 t2 0'])
    out = tmp_path / 'out'
    assert score_norm.main(['--top-n=2', enrol, test, cohort, scores, str(out)]) == 0
    expected = [('e1', 't1', 0.5 * ((7 - 5) / 1 + (7 - 2.5) / 0.5)),          # 5.5
                ('e2', 't1', 0.5 * ((-1 - 0) / 1 + (-1 - 2.5) / 0.5)),        # -4
                ('e1', 't2', 0.5 * ((3.5 - 5) / 1 + (3.5 - 1.25) / 0.25)),    # 3.75
                ('e2', 't2', 0.5 * ((0 - 0) / 1 + (0 - 1.25) / 0.25))]        # -2.5
    got = read_output(out)
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2] for g in got], [e[2] for e in expected], rtol=1e-6)


def reference_as_norm(scores, enrol_cohort, test_cohort, top_n):
    """Row by row with sorting: the textbook definition."""
    out = []
    for s, ec, tc in zip(scores, enrol_cohort, test_cohort):
        top_e, top_t = np.sort(ec)[-top_n:], np.sort(tc)[-top_n:]
        out.append(0.5 * ((s - top_e.mean()) / top_e.std() + (s - top_t.mean()) / top_t.std()))
    return np.array(out)


def random_plda(rng, dim):
    transform = rng.randn(dim, dim) + 2 * np.eye(dim)
    return Plda(rng.randn(dim) * 0.1, transform, np.sort(rng.rand(dim) * 3)[::-1])


@pytest.mark.parametrize('backend', ['cosine', 'plda'])
def test_random_case_matches_reference(tmp_path, backend):
    rng = np.random.RandomState(4)
    dim, top_n = 5, 7
    enrol, test, cohort = rng.randn(6, dim), rng.randn(9, dim), rng.randn(40, dim)
    num_utts = rng.randint(1, 4, size=6)
    e_keys = ['e%d' % i for i in range(6)]
    t_keys = ['t%d' % i for i in range(9)]
    trials = [(i, j) for i in range(6) for j in range(9) if (i + j) % 3]   # not every pair
    scores = rng.randn(len(trials)) * 3
    args = ['--top-n=%d' % top_n]
    if backend == 'plda':
        plda = random_plda(rng, dim)
        write_plda(str(tmp_path / 'plda'), plda)
        with open(tmp_path / 'num_utts', 'w') as f:
            f.write(''.join('%s %d\n' % kv for kv in zip(e_keys, num_utts)))
        args += ['--plda=%s' % (tmp_path / 'plda'), '--num-utts=ark,t:%s' % (tmp_path / 'num_utts')]
        # Reference: Kaldi's LogLikelihoodRatio row by row after TransformIvector.
        e_t = plda.transform_vectors(enrol, num_utts)[0]
        t_t = plda.transform_vectors(test, 1)[0]
        c_t = plda.transform_vectors(cohort, 1)[0]
        enrol_cohort = np.array([[plda.log_likelihood_ratio(e_t[i], num_utts[i], c)[0]
                                  for c in c_t] for i in range(6)])
        test_cohort = np.array([[plda.log_likelihood_ratio(c, 1, t_t[j])[0]
                                 for c in c_t] for j in range(9)])
    else:
        enrol_cohort, test_cohort = enrol @ cohort.T, test @ cohort.T
    expected = reference_as_norm(scores, [enrol_cohort[i] for i, _ in trials],
                                 [test_cohort[j] for _, j in trials], top_n)
    lines = ['%s %s %.9g' % (e_keys[i], t_keys[j], s) for (i, j), s in zip(trials, scores)]
    out = tmp_path / 'out'
    assert score_norm.main(args + [write_table(tmp_path / 'e.ark', e_keys, enrol),
                                   write_table(tmp_path / 't.ark', t_keys, test),
                                   write_table(tmp_path / 'c.ark', ['c%d' % k for k in range(40)], cohort),
                                   write_lines(tmp_path / 'scores', lines), str(out)]) == 0
    got = np.array([g[2] for g in read_output(out)])
    # Vectors are stored as float32 and cohort scores computed in float32: ~1e-6 relative.
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(got - scores).max() > 0.1      # it did change the scores


def test_cohort_smaller_than_top_n_uses_all(tmp_path, capsys):
    enrol = write_table(tmp_path / 'e.ark', ['e'], [[1.0]])
    test = write_table(tmp_path / 't.ark', ['t'], [[2.0]])
    cohort = write_table(tmp_path / 'c.ark', ['a', 'b'], [[1.0], [3.0]])
    scores = write_lines(tmp_path / 'scores', ['e t 4'])
    out = tmp_path / 'out'
    assert score_norm.main([enrol, test, cohort, scores, str(out)]) == 0   # --top-n 300
    assert 'fewer than --top-n=300' in capsys.readouterr().err
    # enrol: {1, 3} mu 2 sd 1; test: {2, 6} mu 4 sd 2  ->  0.5 * (2 + 0) = 1
    assert read_output(out) == [('e', 't', 1.0)]


@pytest.mark.parametrize('problem', ['unknown-key', 'top-n', 'bad-score', 'dim'])
def test_bad_input_is_refused_without_output(tmp_path, problem):
    enrol = write_table(tmp_path / 'e.ark', ['e'], [[1.0, 0.0]])
    test = write_table(tmp_path / 't.ark', ['t'], [[0.0, 1.0] if problem != 'dim' else [1.0]])
    cohort = write_table(tmp_path / 'c.ark', ['a', 'b'], [[1.0, 0.0], [0.0, 1.0]])
    lines = {'unknown-key': ['e x 1'], 'bad-score': ['e t nan']}.get(problem, ['e t 1'])
    scores = write_lines(tmp_path / 'scores', lines)
    out = tmp_path / 'out'
    args = (['--top-n=1'] if problem == 'top-n' else []) + [enrol, test, cohort, scores, str(out)]
    with pytest.raises(UserError) as err:
        score_norm.main(args)
    message = {'unknown-key': 'no test vector for x', 'top-n': '--top-n must be at least 2',
               'bad-score': 'NaN or Inf', 'dim': 'dimension'}[problem]
    assert message in str(err.value)
    assert not os.path.exists(out)
