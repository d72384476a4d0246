"""Analysis tools of issue 4: Gaussianity statistics, k-fold splits, DET plots,
the Kaldi x-vector extraction wrapper and importing other toolkits' embeddings."""
import os
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils import import_embeddings as ie
from data_utils.datadir import load_data_dir, read_trials
from helpers import ROOT, env, one_error_line, run_module, write_data_dir
from analysis import gaussianity, kfold, plot_det


def run_script(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'local', 'analysis', script)] + [str(a) for a in args],
                          cwd=ROOT, env=env(), capture_output=True, text=True)


def labelled_dir(path, speakers=12, utts=5, dim=6, seed=0, scp=True):
    rng = np.random.default_rng(seed)
    utt2spk = {'spk%02d-u%d' % (s, u): 'spk%02d' % s for s in range(speakers) for u in range(utts)}
    vectors = rng.standard_normal((len(utt2spk), dim)).astype(np.float32)
    write_data_dir(str(path), utt2spk, vectors, scp=scp)
    return utt2spk, vectors


# ----------------------------------------------------------------------------
# Gaussianity

def test_gaussian_samples_have_no_skew_or_excess_kurtosis():
    n, dim = 20000, 20
    data = np.random.default_rng(1).standard_normal((n, dim))
    values, constant = gaussianity.moments(data)
    # Sample skewness and kurtosis of a Gaussian have standard deviations sqrt(6/n) and
    # sqrt(24/n); the average over dims is tighter still, so 4 of them is generous.
    assert abs(values['skewness']) < 4 * np.sqrt(6 / n)
    assert abs(values['kurtosis']) < 4 * np.sqrt(24 / n)
    assert 0 < values['abs_skewness'] < 4 * np.sqrt(6 / n)
    assert constant == 0


def test_exponential_samples_have_skew_2_and_kurtosis_6():
    data = np.random.default_rng(2).exponential(size=(100000, 8))
    values, _ = gaussianity.moments(data)
    assert values['skewness'] == pytest.approx(2, abs=0.1)
    assert values['abs_skewness'] == pytest.approx(values['skewness'])
    assert values['kurtosis'] == pytest.approx(6, abs=0.8)


def test_moments_are_population_moments_averaged_over_dims():
    rng = np.random.default_rng(3)
    data = np.column_stack([rng.standard_normal(50), rng.exponential(size=50), -rng.exponential(size=50),
                            rng.uniform(size=50)])
    values, _ = gaussianity.moments(data)
    assert values['skewness'] == pytest.approx(np.mean(stats.skew(data, axis=0, bias=True)), rel=1e-12)
    assert values['kurtosis'] == pytest.approx(np.mean(stats.kurtosis(data, axis=0, fisher=True, bias=True)),
                                               rel=1e-12)
    # The definitions by hand: central moments with 1/n, not the bias-corrected estimates.
    centred = data - data.mean(axis=0)
    m2, m3, m4 = [(centred ** k).mean(axis=0) for k in (2, 3, 4)]
    assert values['skewness'] == pytest.approx(np.mean(m3 / m2 ** 1.5), rel=1e-12)
    assert values['abs_skewness'] == pytest.approx(np.mean(np.abs(m3 / m2 ** 1.5)), rel=1e-12)
    assert values['kurtosis'] == pytest.approx(np.mean(m4 / m2 ** 2 - 3), rel=1e-12)


def test_opposite_skews_cancel_in_the_mean_but_not_in_the_absolute_mean():
    x = np.random.default_rng(4).exponential(size=1000)
    values, _ = gaussianity.moments(np.column_stack([x, -x]))
    assert values['skewness'] == pytest.approx(0, abs=1e-12)
    assert values['abs_skewness'] > 1


def test_constant_dimensions_are_left_out():
    data = np.random.default_rng(5).standard_normal((100, 3))
    with_constant = np.column_stack([data, np.full(100, 7.0)])
    assert gaussianity.moments(with_constant) == (gaussianity.moments(data)[0], 1)


def test_a_spread_lost_in_rounding_is_left_out_as_scipy_does():
    # 1e8 and the next float64 up: the column varies (ptp > 0), but its spread is below
    # the values' resolution, where scipy.stats calls the moments undefined.
    data = np.random.default_rng(6).standard_normal((100, 3))
    ulp = np.spacing(1e8)
    rounded = np.where(np.arange(100) % 2 == 0, 1e8, 1e8 + ulp)
    assert np.ptp(rounded) > 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)   # scipy's "catastrophic cancellation"
        assert np.isnan(stats.skew(rounded, bias=True))
    assert gaussianity.moments(np.column_stack([data, rounded])) == (gaussianity.moments(data)[0], 1)


def test_speaker_level_uses_per_speaker_means():
    keys = ['a1', 'a2', 'b1', 'c1', 'c2', 'c3', 'd1']
    utt2spk = {'a1': 'A', 'a2': 'A', 'b1': 'B', 'c1': 'C', 'c2': 'C', 'c3': 'C', 'd1': 'D'}
    matrix = np.array([[0., 1], [2, 1], [5, 0], [0, 4], [0, 4], [3, 10], [1, -1]])
    speakers, means = gaussianity.speaker_means(keys, matrix, utt2spk)
    assert speakers == ['A', 'B', 'C', 'D']
    np.testing.assert_allclose(means, [[1, 1], [5, 0], [1, 6], [1, -1]])
    results = gaussianity.gaussianity(keys, matrix, utt2spk)
    assert results['speaker'][0]['skewness'] == pytest.approx(np.mean(stats.skew(means, axis=0)))
    assert results['utterance'][0]['skewness'] == pytest.approx(np.mean(stats.skew(matrix, axis=0)))
    # Not the same numbers: a test that passed the utterances twice would fail here.
    assert results['speaker'][0]['skewness'] != pytest.approx(results['utterance'][0]['skewness'])


def test_gaussianity_cli_updates_its_row_in_order_and_atomically(tmp_path):
    labelled_dir(tmp_path / 'd1', seed=1)
    labelled_dir(tmp_path / 'd2', seed=2)
    tsv = tmp_path / 'results' / 'gaussianity.tsv'

    def run(front_end, data):
        out = run_script('gaussianity.py', '--front-end', front_end, '--vectors',
                         'scp:%s' % (data / 'xvector.scp'), '--utt2spk', data / 'utt2spk', '--out-tsv', tsv)
        assert out.returncode == 0, out.stderr
        return tsv.read_text()

    run('c-vector', tmp_path / 'd1')
    first = run('xvector', tmp_path / 'd1')
    lines = first.splitlines()
    assert lines[0] == 'front_end\tlevel\tskewness\tabs_skewness\tkurtosis'
    assert [l.split('\t')[:2] for l in lines[1:]] == [['xvector', 'utterance'], ['xvector', 'speaker'],
                                                      ['cvae', 'utterance'], ['cvae', 'speaker']]
    assert lines[1].split('\t')[2:] == lines[3].split('\t')[2:]      # same data, same numbers
    assert run('x-vector', tmp_path / 'd1') == first                 # idempotent
    second = run('x-vector', tmp_path / 'd2').splitlines()           # replaces, does not append
    assert len(second) == 5 and second[1] != lines[1] and second[3:] == lines[3:]
    md = (tmp_path / 'results' / 'gaussianity.md').read_text().splitlines()
    assert [row.split('|')[1].strip() for row in md[2:]] == ['x-vector'] * 2 + ['c-vector'] * 2
    assert 'Mean abs. skewness' in md[0]
    assert stat.S_IMODE(os.stat(tsv).st_mode) == 0o666 & ~_umask()      # not mkstemp's 0600
    assert sorted(os.listdir(tmp_path / 'results')) == ['.gaussianity.tsv.lock', 'gaussianity.md',
                                                        'gaussianity.tsv']


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_gaussianity_cli_refuses_vectors_without_speaker(tmp_path):
    utt2spk, _ = labelled_dir(tmp_path / 'd')
    with open(tmp_path / 'd' / 'utt2spk', 'w') as f:
        f.writelines('%s %s\n' % kv for kv in list(utt2spk.items())[1:])
    out = run_script('gaussianity.py', '--front-end', 'vae', '--vectors',
                     'scp:%s' % (tmp_path / 'd' / 'xvector.scp'), '--utt2spk', tmp_path / 'd' / 'utt2spk',
                     '--out-tsv', tmp_path / 'g.tsv')
    assert out.returncode == 1
    line = one_error_line(out.stderr)
    assert line.startswith('ERROR (gaussianity.py): ') and 'no speaker' in line and 'spk00-u0' in line
    assert not (tmp_path / 'g.tsv').exists()


# ----------------------------------------------------------------------------
# k-fold splits

def test_speaker_folds_are_disjoint_complete_balanced_and_seeded():
    speakers = ['s%03d' % i for i in range(47)]
    folds = kfold.split_speakers(reversed(speakers), 3, seed=7)
    assert sorted(s for fold in folds for s in fold) == speakers          # everyone, once
    assert sorted(len(f) for f in folds) == [15, 16, 16]
    assert kfold.split_speakers(speakers, 3, seed=7) == folds             # input order does not matter
    assert kfold.split_speakers(speakers, 3, seed=8) != folds
    with pytest.raises(UserError):
        kfold.split_speakers(speakers[:2], 3, seed=7)


@pytest.mark.parametrize('speakers, tests_per_speaker, ratio', [(4, 3, 2.0),      # listing the grid
                                                                (60, 4, 3.0)])    # rejection sampling
def test_generated_trials_have_every_target_and_enough_distinct_nontargets(speakers, tests_per_speaker, ratio):
    test2spk = {'s%d-t%d' % (s, t): 's%d' % s for s in range(speakers) for t in range(tests_per_speaker)}
    models = {'s%d' % s for s in range(speakers)}
    trials = kfold.make_trials(models, test2spk, ratio, seed=3)
    targets = [(m, t) for m, t, is_target in trials if is_target]
    nontargets = [(m, t) for m, t, is_target in trials if not is_target]
    assert sorted(targets) == sorted((spk, utt) for utt, spk in test2spk.items())
    assert all(test2spk[t] != m for m, t in nontargets)
    assert len(set(nontargets)) == len(nontargets) >= ratio * len(targets)
    assert trials == sorted(trials) == kfold.make_trials(models, test2spk, ratio, seed=3)
    assert trials != kfold.make_trials(models, test2spk, ratio, seed=4)


def read_table(path):
    with open(path) as f:
        return dict(line.split(None, 1) for line in f)


def test_kfold_cli_writes_kaldi_dirs_for_each_held_out_fold(tmp_path):
    utt2spk, vectors = labelled_dir(tmp_path / 'data', speakers=12, utts=5)
    out = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'folds', '--seed', 7)
    assert out.returncode == 0, out.stderr
    spk2fold = {k: int(v) for k, v in read_table(tmp_path / 'folds' / 'spk2fold').items()}
    assert set(spk2fold) == set(utt2spk.values()) and sorted(set(spk2fold.values())) == [1, 2, 3]
    source_scp = read_table(tmp_path / 'data' / 'xvector.scp')
    for i in (1, 2, 3):
        fold = tmp_path / 'folds' / ('fold%d' % i)
        held = {s for s, f in spk2fold.items() if f == i}
        train = {u: s.strip() for u, s in read_table(fold / 'train' / 'utt2spk').items()}
        assert train == {u: s for u, s in utt2spk.items() if s not in held}
        enroll = {u: s.strip() for u, s in read_table(fold / 'enroll' / 'utt2spk').items()}
        test = {u: s.strip() for u, s in read_table(fold / 'test' / 'utt2spk').items()}
        assert set(enroll) | set(test) == {u for u, s in utt2spk.items() if s in held}
        assert not set(enroll) & set(test)
        assert sorted(enroll) == sorted('%s-u0' % s for s in held)       # first utterance enrols
        for part in ('train', 'enroll', 'test'):
            scp = read_table(fold / part / 'xvector.scp')
            assert list(scp) == sorted(read_table(fold / part / 'utt2spk'))
            assert all(scp[u] == source_scp[u] for u in scp)              # references, not copies
        spk2utt = read_table(fold / 'enroll' / 'spk2utt')
        assert set(spk2utt) == held
        trials = [line.split() for line in (fold / 'trials').read_text().splitlines()]
        assert {t[0] for t in trials} <= held and {t[1] for t in trials} <= set(test)
        assert {t[2] for t in trials} == {'target', 'nontarget'}
        assert all((test[t] == m) == (kind == 'target') for m, t, kind in trials)
        # The recipes' own checks accept the fold as an evaluation set.
        for part in ('train', 'enroll', 'test'):
            load_data_dir(str(fold / part))
        read_trials(str(fold / 'trials'), set(spk2utt), set(test))
    again = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'again', '--seed', 7)
    other = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'other', '--seed', 8)
    assert again.returncode == other.returncode == 0
    for name in ('spk2fold', 'fold2/trials', 'fold3/train/xvector.scp'):
        assert (tmp_path / 'again' / name).read_text() == (tmp_path / 'folds' / name).read_text()
    assert (tmp_path / 'other' / 'spk2fold').read_text() != (tmp_path / 'folds' / 'spk2fold').read_text()
    assert sorted(os.listdir(tmp_path / 'folds')) == ['fold1', 'fold2', 'fold3', 'spk2fold']


def test_kfold_writes_subset_arks_when_the_source_has_no_scp(tmp_path):
    utt2spk, vectors = labelled_dir(tmp_path / 'data', speakers=6, utts=3, scp=False)
    kfold.run(str(tmp_path / 'data'), str(tmp_path / 'folds'), 2, 1, enroll_utts=1, nontarget_ratio=5)
    row = {u: v for u, v in zip(utt2spk, vectors)}
    for part in ('train', 'enroll', 'test'):
        keys, matrix = kt.read_vector_table('ark:%s' % (tmp_path / 'folds' / 'fold1' / part / 'xvector.ark'))
        assert keys == sorted(read_table(tmp_path / 'folds' / 'fold1' / part / 'utt2spk'))
        np.testing.assert_array_equal(matrix, [row[k] for k in keys])


def test_kfold_refuses_utterances_without_vectors_and_writes_nothing(tmp_path):
    labelled_dir(tmp_path / 'data', speakers=6, utts=3)
    with open(tmp_path / 'data' / 'utt2spk', 'a') as f:
        f.write('ghost-u0 ghost\n')
    out = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'folds')
    assert out.returncode == 1
    assert 'ghost-u0' in one_error_line(out.stderr) and 'utt2spk' in one_error_line(out.stderr)
    assert not (tmp_path / 'folds').exists() or not os.listdir(tmp_path / 'folds')


def test_kfold_uses_the_given_utterance_pair_trials(tmp_path):
    utt2spk, _ = labelled_dir(tmp_path / 'data', speakers=12, utts=4)
    utts = sorted(utt2spk)
    rng = np.random.default_rng(5)
    given = set()
    while len(given) < 300:
        e, t = rng.choice(utts, size=2, replace=False)
        given.add((e, t, 'target' if utt2spk[e] == utt2spk[t] else 'nontarget'))
    for e in utts[::4]:                       # make sure every speaker has target pairs
        given.add((e, e[:-1] + '3', 'target'))
    (tmp_path / 'trials').write_text(''.join('%s %s %s\n' % t for t in sorted(given)))
    out = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'folds',
                     '--trials', tmp_path / 'trials')
    assert out.returncode == 0, out.stderr
    spk2fold = {k: int(v) for k, v in read_table(tmp_path / 'folds' / 'spk2fold').items()}
    scored = []
    for i in (1, 2, 3):
        fold = tmp_path / 'folds' / ('fold%d' % i)
        trials = [tuple(line.split()) for line in (fold / 'trials').read_text().splitlines()]
        # Exactly the given trials whose two speakers are held out in this fold.
        assert sorted(trials) == sorted(t for t in given if spk2fold[utt2spk[t[0]]] == i
                                        and spk2fold[utt2spk[t[1]]] == i)
        enroll_spk2utt = {k: v.split() for k, v in read_table(fold / 'enroll' / 'spk2utt').items()}
        assert enroll_spk2utt == {e: [e] for e, _, _ in trials}           # one model per utterance
        test = {u: s.strip() for u, s in read_table(fold / 'test' / 'utt2spk').items()}
        assert test == {t: utt2spk[t] for _, t, _ in trials}
        train = {u: s.strip() for u, s in read_table(fold / 'train' / 'utt2spk').items()}
        assert not set(train.values()) & {utt2spk[u] for u in test}
        read_trials(str(fold / 'trials'), set(enroll_spk2utt), set(test))
        scored += trials
    crossing = len(given) - len(scored)
    assert crossing > 0 and len(set(scored)) == len(scored)
    assert '%d of the %d given trials pair speakers of different folds' % (crossing, len(given)) in out.stderr


@pytest.mark.parametrize('line, message', [('spk00-u0 nosuch-u9 nontarget', 'nosuch-u9 is not an utterance'),
                                           ('spk00-u0 spk01-u0 target', 'labelled target but utt2spk')])
def test_kfold_refuses_given_trials_that_do_not_fit_the_data(tmp_path, line, message):
    labelled_dir(tmp_path / 'data', speakers=6, utts=3)
    (tmp_path / 'trials').write_text('spk00-u0 spk00-u1 target\nspk00-u0 spk02-u1 nontarget\n%s\n' % line)
    out = run_script('kfold.py', '--data', tmp_path / 'data', '--out', tmp_path / 'folds',
                     '--trials', tmp_path / 'trials')
    assert out.returncode == 1
    error = one_error_line(out.stderr)
    assert str(tmp_path / 'trials') in error and message in error, error
    assert not (tmp_path / 'folds').exists() or not os.listdir(tmp_path / 'folds')


# ----------------------------------------------------------------------------
# DET plots

def test_det_points_and_eer_on_a_hand_made_case():
    target, nontarget = np.array([3., 4, 5, 6]), np.array([0., 1, 2, 3.5])
    p_miss, p_fa = plot_det.det_points(target, nontarget)
    assert p_miss[0] == 0 and p_fa[0] == 1 and p_miss[-1] == 1 and p_fa[-1] == 0
    assert np.all(np.diff(p_miss) >= 0) and np.all(np.diff(p_fa) <= 0)
    assert plot_det.table_eer(target, nontarget) == 25.0    # compute-eer's, as the table
    # Tied scores are accepted or rejected together.
    p_miss, p_fa = plot_det.det_points(np.array([1., 1]), np.array([1., 0]))
    assert list(zip(p_miss, p_fa)) == [(0, 1), (0, 0.5), (1, 0)]


def write_scores(tmp_path, seed=0, n_models=20, n_tests=60, shift=2.0):
    """trials + a score file where targets score higher on average."""
    rng = np.random.default_rng(seed)
    trials, scores = [], []
    for m in range(n_models):
        for t in range(n_tests):
            target = t % n_models == m
            trials.append('m%d t%d %s\n' % (m, t, 'target' if target else 'nontarget'))
            scores.append('m%d t%d %.4f\n' % (m, t, rng.normal() + (shift if target else 0)))
    (tmp_path / 'trials').write_text(''.join(trials))
    path = tmp_path / ('scores%d' % seed)
    path.write_text(''.join(reversed(scores)))          # order must not matter
    return path


def check_png(path, height, width):
    from matplotlib import image
    assert path.stat().st_size > 5000
    pixels = image.imread(str(path))
    assert pixels.shape[:2] == (height, width)
    # Not blank: many distinct colours, and the plot area is not all one shade.
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20
    assert pixels[..., :3].std() > 0.05


def test_det_and_histogram_pngs_are_written(tmp_path):
    a, b = write_scores(tmp_path, 0), write_scores(tmp_path, 1, shift=1.0)
    out = run_script('plot_det.py', '--trials', tmp_path / 'trials', '--title', 'PLDA',
                     '--out', tmp_path / 'det.png', 'x-vector=%s' % a, 'v-vector=%s' % b)
    assert out.returncode == 0, out.stderr
    assert 'x-vector: EER' in out.stderr and 'v-vector: EER' in out.stderr
    check_png(tmp_path / 'det.png', 600, 600)
    assert stat.S_IMODE(os.stat(tmp_path / 'det.png').st_mode) == 0o666 & ~_umask()
    out = run_script('plot_det.py', '--trials', tmp_path / 'trials', '--title', 'PLDA',
                     '--hist-out', tmp_path / 'hist.png', 'x-vector=%s' % a)
    assert out.returncode == 0, out.stderr
    check_png(tmp_path / 'hist.png', 450, 700)
    # One panel per front-end, stacked.
    out = run_script('plot_det.py', '--trials', tmp_path / 'trials', '--hist-out',
                     tmp_path / 'hist2.png', 'x-vector=%s' % a, 'v-vector=%s' % b)
    assert out.returncode == 0, out.stderr
    check_png(tmp_path / 'hist2.png', 900, 700)
    assert sorted(os.listdir(tmp_path)) == ['det.png', 'hist.png', 'hist2.png', 'scores0',
                                            'scores1', 'trials']


def test_plot_refuses_a_score_file_missing_trials(tmp_path):
    scores = write_scores(tmp_path)
    lines = scores.read_text().splitlines(True)
    scores.write_text(''.join(l for l in lines if not l.startswith('m3 t23 ')))
    out = run_script('plot_det.py', '--trials', tmp_path / 'trials', '--out', tmp_path / 'det.png',
                     'x=%s' % scores)
    assert out.returncode == 1
    line = one_error_line(out.stderr)
    assert line.startswith('ERROR (plot_det.py): %s: ' % scores) and 'm3 t23' in line
    assert not (tmp_path / 'det.png').exists()
    assert sorted(os.listdir(tmp_path)) == ['scores0', 'trials']


# ----------------------------------------------------------------------------
# The Kaldi x-vector extraction wrapper

def no_kaldi_env():
    e = env()
    e.pop('KALDI_ROOT', None)
    e['PATH'] = '/usr/bin:/bin'
    return e


def extract(*args, environ):
    return subprocess.run(['sh', os.path.join(ROOT, 'local', 'extract_xvectors.sh')] + [str(a) for a in args],
                          cwd=ROOT, env=environ, capture_output=True, text=True)


def nnet_and_data(tmp_path, missing=()):
    nnet, data = tmp_path / 'nnet', tmp_path / 'data'
    for d in (nnet, data):
        d.mkdir()
    for name, text in (('final.raw', 'raw'), ('extract.config', 'cfg'), ('min_chunk_size', '25'),
                       ('max_chunk_size', '10000')):
        if name not in missing:
            (nnet / name).write_text(text + '\n')
    for name, text in (('feats.scp', 'u1 f.ark:1\nu2 f.ark:9\n'), ('vad.scp', 'u1 v.ark:1\nu2 v.ark:9\n'),
                       ('utt2spk', 'u1 a\nu2 b\n'), ('spk2utt', 'a u1\nb u2\n')):
        (data / name).write_text(text)
    return nnet, data


def test_extraction_refuses_without_kaldi(tmp_path):
    nnet, data = nnet_and_data(tmp_path)
    out = extract(nnet, data, tmp_path / 'xv', environ=no_kaldi_env())
    assert out.returncode == 1
    assert one_error_line(out.stderr).startswith('ERROR (extract_xvectors.sh): KALDI_ROOT is not set')
    e = no_kaldi_env()
    e['KALDI_ROOT'] = str(tmp_path)                    # set, but not a Kaldi tree
    out = extract(nnet, data, tmp_path / 'xv', environ=e)
    assert out.returncode == 1
    assert 'sid/nnet3/xvector/extract_xvectors.sh: missing' in one_error_line(out.stderr)
    assert not (tmp_path / 'xv').exists()


def fake_kaldi(tmp_path):
    """A Kaldi tree with the layout the wrapper needs and a stand-in for Kaldi's script.

    The stand-in records where it ran, its arguments and the min_chunk_size it would
    read, and writes an xvector.scp as Kaldi's does.
    """
    root = tmp_path / 'kaldi'
    for d in ('egs/wsj/s5/steps', 'egs/wsj/s5/utils', 'egs/sre08/v1/sid/nnet3/xvector', 'src/nnet3bin'):
        (root / d).mkdir(parents=True)
    scripts = {
        'egs/sre08/v1/sid/nnet3/xvector/extract_xvectors.sh':
            '#!/bin/sh\n'
            'eval "out=\\${$#}"\n'
            'while [ $# -gt 3 ]; do echo "$1=$2" >> "$out/args"; shift 2; done\n'
            '[ -d steps ] && [ -d utils ] && [ -d sid ] && command -v run.pl > /dev/null || exit 1\n'
            'cat "$1/min_chunk_size" > "$3/min_chunk_size_used"\n'
            'echo "u1 $3/xvector.1.ark:4" > "$3/xvector.scp"\n',
        'egs/wsj/s5/utils/run.pl': '#!/bin/sh\nexit 0\n',
        'src/nnet3bin/nnet3-xvector-compute': '#!/bin/sh\nexit 0\n',
        'src/nnet3bin/nnet3-info': '#!/bin/sh\necho input-node name=input dim=30\n',
        'src/nnet3bin/feat-to-dim': '#!/bin/sh\necho 30\n'}
    for name, text in scripts.items():
        (root / name).write_text(text)
        (root / name).chmod(0o755)
    e = no_kaldi_env()
    e['KALDI_ROOT'] = str(root)
    e['PATH'] = '%s:%s' % (root / 'src' / 'nnet3bin', e['PATH'])
    return e


def test_extraction_refuses_an_incomplete_nnet_dir(tmp_path):
    environ = fake_kaldi(tmp_path)
    nnet, data = nnet_and_data(tmp_path, missing=('min_chunk_size',))
    out = extract(nnet, data, tmp_path / 'xv', environ=environ)
    assert out.returncode == 1
    line = one_error_line(out.stderr)
    assert line.startswith('ERROR (extract_xvectors.sh): ') and line.endswith(
        '%s/min_chunk_size: missing (not a trained x-vector nnet dir)' % nnet)
    assert not (tmp_path / 'xv').exists()


def test_extraction_runs_kaldis_script_with_the_options(tmp_path):
    # The same wrapper with a stand-in for Kaldi: checks the plumbing, not Kaldi.
    environ = fake_kaldi(tmp_path)
    nnet, data = nnet_and_data(tmp_path)
    xv = tmp_path / 'xv'
    out = extract('--nj', 8, '--chunk-size', 300, '--min-chunk-size=50', '--cmd', 'run.pl --mem 2G',
                  nnet, data, xv, environ=environ)
    assert out.returncode == 0, out.stderr
    assert (xv / 'xvector.scp').read_text().startswith('u1 ')
    # --nj is cut to the 2 speakers; --min-chunk-size reaches Kaldi through the nnet dir.
    assert (xv / 'args').read_text().splitlines() == ['--cmd=run.pl --mem 2G', '--nj=2', '--chunk-size=300']
    assert (xv / 'min_chunk_size_used').read_text().strip() == '50'
    assert (nnet / 'min_chunk_size').read_text().strip() == '25'       # the real nnet dir untouched
    out = extract('--chunk-size', 20000, nnet, data, xv, environ=environ)
    assert out.returncode == 1 and 'larger than' in one_error_line(out.stderr)


def test_prepare_from_audio_refuses_bad_options_and_no_kaldi_before_anything(tmp_path):
    # Its run on real Kaldi is in test_extraction_kaldi.py; these need no Kaldi.
    nnet, data = nnet_and_data(tmp_path)
    script = os.path.join(ROOT, 'local', 'prepare_from_audio.sh')

    def refused(*args):
        out = subprocess.run(['sh', script] + [str(a) for a in args], cwd=tmp_path, env=no_kaldi_env(),
                             capture_output=True, text=True)
        assert out.returncode == 1
        assert sorted(os.listdir(tmp_path)) == ['data', 'nnet']
        return one_error_line(out.stderr)

    assert refused(nnet, tmp_path, 'out') == 'ERROR (prepare_from_audio.sh): KALDI_ROOT is not set; ' \
        'extraction from audio needs a compiled Kaldi'
    assert refused('--stage', 2, '--stop-stage', 1, nnet, tmp_path, 'out') == \
        'ERROR (prepare_from_audio.sh): --stop-stage 1 is before --stage 2'
    assert refused('--nj', 'x', nnet, tmp_path, 'out') == \
        "ERROR (prepare_from_audio.sh): --nj must be a non-negative integer, got 'x'"
    assert refused('--sets', ' ', nnet, tmp_path, 'out').endswith('--sets is empty: name at least one evaluation set')
    assert refused(nnet, tmp_path) == 'ERROR (prepare_from_audio.sh): expected 3 arguments, got 2'


def test_check_trials_against_the_audio_enrolment_and_test_dirs(tmp_path):
    enroll, test = tmp_path / 'enroll', tmp_path / 'test'
    for d in (enroll, test):
        d.mkdir()
    (enroll / 'spk2utt').write_text('m1 e1\nm2 e2 e3\n')
    (test / 'utt2spk').write_text('t1 m1\nt2 m2\n')
    trials = tmp_path / 'trials'
    trials.write_text('m1 t1 target\nm1 t2 nontarget\nm2 t2 target\n')
    out = run_module('data_utils.check_trials', trials, enroll, test)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == 'check_trials: %s: 2 models, 2 test utterances, 3 trials (2 target)' % trials
    trials.write_text('m1 t1 target\nm3 t2 nontarget\n')
    out = run_module('data_utils.check_trials', trials, enroll, test)
    assert out.returncode == 1
    assert one_error_line(out.stderr) == ('ERROR (check_trials): %s: line 2: unknown model m3 (not in the '
                                          'enrolment spk2utt)' % trials)


# ----------------------------------------------------------------------------
# Importing other toolkits' embeddings

def test_npy_folder_round_trips_to_kaldi(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / 'emb'
    src.mkdir()
    expected = {}
    for utt in ('spk2-b', 'spk1-a', 'spk1-c'):
        vec = rng.standard_normal(16).astype(np.float32)
        expected[utt] = vec
        np.save(src / (utt + '.npy'), vec if utt != 'spk1-c' else vec.reshape(1, 1, 16))
    (src / 'README.txt').write_text('not an embedding')
    (tmp_path / 'utt2spk').write_text('spk1-a spk1\nspk1-c spk1\nspk2-b spk2\n')
    spec = 'ark,scp:%s,%s' % (tmp_path / 'o.ark', tmp_path / 'o.scp')
    out = run_module('data_utils.import_embeddings', src, spec, '--utt2spk', tmp_path / 'utt2spk')
    assert out.returncode == 0, out.stderr
    keys, matrix = kt.read_vector_table('scp:%s' % (tmp_path / 'o.scp'))
    assert keys == sorted(expected)
    np.testing.assert_array_equal(matrix, [expected[k] for k in keys])


def test_npz_round_trips_to_kaldi_with_either_array_names(tmp_path):
    rng = np.random.default_rng(1)
    ids = np.array(['u3', 'u1', 'u2'])
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    for id_name, vec_name in (('ids', 'vectors'), ('utt_ids', 'embeddings')):
        np.savez(tmp_path / 'e.npz', **{id_name: ids, vec_name: vectors})
        out = run_module('data_utils.import_embeddings', tmp_path / 'e.npz', 'ark:%s' % (tmp_path / 'o.ark'))
        assert out.returncode == 0, out.stderr
        keys, matrix = kt.read_vector_table('ark:%s' % (tmp_path / 'o.ark'))
        assert keys == ['u1', 'u2', 'u3']
        np.testing.assert_array_equal(matrix, vectors[[1, 2, 0]])


def assert_refused(out, tmp_path, *words):
    assert out.returncode == 1
    line = one_error_line(out.stderr)
    assert line.startswith('ERROR (import_embeddings): ')
    for word in words:
        assert word in line, line
    assert not [n for n in os.listdir(tmp_path / 'out')]


def test_import_refuses_mixed_dims_nan_and_uncovered_utterances(tmp_path):
    (tmp_path / 'out').mkdir()
    spec = 'ark,scp:%s,%s' % (tmp_path / 'out' / 'o.ark', tmp_path / 'out' / 'o.scp')
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    np.save(mixed / 'a.npy', np.zeros(4))
    np.save(mixed / 'b.npy', np.zeros(5))
    assert_refused(run_module('data_utils.import_embeddings', mixed, spec), tmp_path,
                   str(mixed / 'b.npy'), 'dimension 5')
    with_nan = np.ones((2, 3))
    with_nan[1, 2] = np.nan
    np.savez(tmp_path / 'nan.npz', ids=np.array(['x', 'y']), vectors=with_nan)
    assert_refused(run_module('data_utils.import_embeddings', tmp_path / 'nan.npz', spec), tmp_path,
                   'nan.npz', 'y', 'NaN')
    np.save(mixed / 'b.npy', np.full(4, np.inf))
    assert_refused(run_module('data_utils.import_embeddings', mixed, spec), tmp_path, 'b.npy', 'NaN or Inf')
    np.save(mixed / 'b.npy', np.zeros(4))
    (tmp_path / 'utt2spk').write_text('a s1\nb s1\nc s2\n')
    assert_refused(run_module('data_utils.import_embeddings', mixed, spec, '--utt2spk', tmp_path / 'utt2spk'),
                   tmp_path, str(tmp_path / 'utt2spk'), 'first: c')


def test_import_refuses_bad_ids_in_npz(tmp_path):
    np.savez(tmp_path / 'e.npz', ids=np.array(['a b', 'c']), vectors=np.zeros((2, 3)))
    with pytest.raises(UserError, match="'a b' is not a Kaldi key"):
        ie.load_embeddings(str(tmp_path / 'e.npz'))
    np.savez(tmp_path / 'e.npz', ids=np.array(['a', 'a']), vectors=np.zeros((2, 3)))
    with pytest.raises(UserError, match='id a appears twice'):
        ie.load_embeddings(str(tmp_path / 'e.npz'))
