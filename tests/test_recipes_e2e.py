"""The shell recipes end to end on a tiny corpus: baseline.sh, train.sh, eval.sh.

The corpus is the demo generator at a small size (and 128-dim vectors, so the models and
the back-ends stay quick); the models are small. What is checked is what a user reads:
the results table has every cell, cosine on v-vectors beats cosine on raw x-vectors on
this corpus (the paper's point), and eval.sh's Gaussianity table and plots are there.
Where real Kaldi is at hand, the back-end stages run again on Kaldi's binaries and must
give the same table and scores (tests/engine_parity.py).
"""
import os
import subprocess

import pytest

from data_utils.demo_corpus import make_corpus
from engine_parity import assert_engines_ran, assert_same_scores, assert_same_tables, copy_engine_free
from helpers import ROOT, TINY, TINY_DIMS, recipe, recipe_tree, table_rows
import kaldi_oracle
import names

FRONT_ENDS = ['x-vector', 'a-vector', 'v-vector', 'c-vector']
BACKENDS = ['Cosine', 'PCA+Cosine', 'PLDA', 'LDA+PLDA', 'PCA+PLDA']


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp('e2e')
    data, exp = base / 'data', base / 'exp'
    make_corpus(str(data), TINY)
    paths = ['--data', data, '--exp', exp]
    # The paper's table (AS-norm through the recipes: test_recipes_kaldi, on both engines).
    baseline = recipe('baseline.sh', *paths, *TINY_DIMS)
    # train.sh's default models (the n-vector, an option, trains in test_failed_models and
    # test_dnf*; its vectors are written by the same extractor).
    recipe('train.sh', *paths, '--epochs', 15, '--hidden-dim', 256, '--code-dim', 32,
           '--lr', 0.001, '--batch-size', 64, '--num-threads', 2)
    evaluation = recipe('eval.sh', *paths, *TINY_DIMS)
    return exp, baseline, evaluation


def test_results_table_has_every_cell(demo_run):
    exp, baseline, evaluation = demo_run
    header, rows = table_rows(exp)
    assert header[2:] == ['%s %s' % (s, m) for s in ('sitw_dev', 'sitw_eval')
                          for m in ('EER(%)', 'minDCF(0.01)', 'minDCF(0.001)')]
    assert set(rows) == {(b, f) for b in BACKENDS for f in FRONT_ENDS}
    for key, cells in rows.items():
        for name, value in cells.items():
            number = float(value)                     # '-' (a missing cell) fails here
            assert 0 <= number <= (100 if 'EER' in name else 1.0 + 1e-9), (key, name, value)
    # Both recipes print the table they leave behind.
    assert '| Cosine | x-vector |' in baseline.stdout and '| Cosine | c-vector |' in evaluation.stdout


def test_vae_codes_beat_raw_xvectors_under_cosine(demo_run):
    exp, _, _ = demo_run
    _, rows = table_rows(exp)
    for s in ('sitw_dev', 'sitw_eval'):
        raw = float(rows[('Cosine', 'x-vector')]['%s EER(%%)' % s])
        vvec = float(rows[('Cosine', 'v-vector')]['%s EER(%%)' % s])
        assert vvec < raw, (s, vvec, raw)
    # And the back-end ordering the paper starts from: PLDA far ahead of cosine on x-vectors.
    assert float(rows[('LDA+PLDA', 'x-vector')]['sitw_dev EER(%)']) < \
        float(rows[('Cosine', 'x-vector')]['sitw_dev EER(%)'])


def test_gaussianity_table_and_plots(demo_run):
    exp, _, evaluation = demo_run
    tsv = (exp / 'results' / 'gaussianity.tsv').read_text().splitlines()
    front_ends = {line.split('\t')[0] for line in tsv[1:]}
    assert front_ends == {'xvector', 'ae', 'vae', 'cvae'}
    assert 'Gaussianity of the training set' in evaluation.stdout
    plots = exp / 'results' / 'plots'
    for s in ('sitw_dev', 'sitw_eval'):
        for b, _ in names.backends():      # every back-end of conf/backends.tsv
            for kind in ('det', 'hist'):
                assert (plots / ('%s_%s_%s.png' % (kind, s, b))).stat().st_size > 5000


def test_vectors_are_kaldi_tables_with_labels(demo_run):
    from data_utils import kaldi_table as kt
    exp, _, _ = demo_run
    for part in ('train', 'sitw_dev/enroll', 'sitw_eval/test'):
        d = exp / 'vectors' / 'vae' / part
        keys, vectors = kt.read_vector_table('scp:%s' % (d / 'xvector.scp'))
        assert vectors.shape[1] == 32
        # Kaldi tables are sorted by key, and extraction keeps its input's order: the
        # vectors come out one per utterance, in utt2spk's (sorted) order.
        utts = [l.split()[0] for l in open(d / 'utt2spk')]
        assert utts == sorted(utts)
        assert keys == utts


def test_rerun_of_train_resumes_and_leaves_finished_models(demo_run):
    exp, _, _ = demo_run
    before = (exp / 'vae' / 'checkpoint').read_text()
    out = recipe('train.sh', '--data', exp.parent / 'data', '--exp', exp, '--stage', 1,
                 '--model', 'vae', '--epochs', 15, '--hidden-dim', 256, '--code-dim', 32)
    assert 'already trained for 15 epochs' in out.stdout + out.stderr
    assert (exp / 'vae' / 'checkpoint').read_text() == before


def test_bad_input_stops_eval_before_writing(demo_run, tmp_path):
    exp, _, _ = demo_run
    data = exp.parent / 'data'
    bad = tmp_path / 'bad'
    subprocess.run(['cp', '-r', str(data), str(bad)], check=True)
    with open(bad / 'sitw_dev' / 'trials', 'a') as f:
        f.write('nosuchmodel %s target\n' % open(bad / 'sitw_dev' / 'test' / 'utt2spk').readline().split()[0])
    env = dict(os.environ)
    env.pop('KALDI_ROOT', None)
    out = subprocess.run(['sh', 'eval.sh', '--data', bad, '--exp', tmp_path / 'exp2'], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    assert out.returncode != 0
    errors = [l for l in out.stderr.splitlines() if l.startswith('ERROR')]
    assert errors and 'trials' in errors[0] and 'unknown model nosuchmodel' in errors[0]
    assert not (tmp_path / 'exp2' / 'results').exists()


def test_out_of_domain_protocol_prints_table_3(demo_run, tmp_path):
    """local/run_ood.sh on the tiny corpus's domain-shifted set: speaker folds, the three
    schemes, scores pooled over folds into one table (the paper's Table 3). Two folds, one
    model and two back-ends (a tree of its own, whose conf/ has cosine and PLDA) keep it
    quick: scheme 2 runs the recipes once per fold and model."""
    exp, _, _ = demo_run
    data = exp.parent / 'data'
    tree = recipe_tree(tmp_path / 'tree', backends=('cosine', 'plda'))
    out = recipe('local/run_ood.sh', '--data', data, '--exp', exp, '--ood-data', data / 'shifted',
                 '--folds', 2, '--model', 'vae', '--lda-dim', 10, '--pca-dim', 10,
                 '--train-opts', '--epochs 3 --hidden-dim 64 --code-dim 32 --batch-size 32 --num-threads 2',
                 tree=tree)
    header, rows = table_rows(exp, 'results_ood')
    assert header[2:] == ['%s %s' % (s, m) for s in ('scheme1', 'scheme2', 'scheme3')
                          for m in ('EER(%)', 'minDCF(0.01)', 'minDCF(0.001)')]
    assert set(rows) == {(b, f) for b in ('Cosine', 'PLDA') for f in ('x-vector', 'v-vector')}
    for (backend, front_end), cells in rows.items():
        for name, value in cells.items():
            if name.startswith('scheme3') and 'PLDA' not in backend:
                assert value == '-', (backend, front_end, name)    # adaptation is a PLDA matter
            else:
                assert 0 <= float(value) <= (100 if 'EER' in name else 1.0 + 1e-9), (backend, name, value)
    assert '| PLDA | v-vector |' in out.stdout
    # Pooling: every fold's trials once, and a score for each of them.
    ood = exp / 'ood'
    folds = [(ood / 'folds' / ('fold%d' % i) / 'trials').read_text() for i in (1, 2)]
    pooled = (ood / 'pooled' / 'trials').read_text()
    assert pooled == ''.join(folds)
    scores = (ood / 'scheme2' / 'vae' / 'scores_plda').read_text().splitlines()
    assert [s.split()[:2] for s in scores] == [t.split()[:2] for t in pooled.splitlines()]
    # Scheme 3 adapts the in-domain PLDA: same vectors as scheme 1, other scores.
    s1 = (ood / 'scheme1' / 'xvector' / 'scores_plda').read_text()
    s3 = (ood / 'scheme3' / 'xvector' / 'scores_plda').read_text()
    assert [l.split()[:2] for l in s1.splitlines()] == [l.split()[:2] for l in s3.splitlines()]
    assert s1 != s3


# ----------------------------------------------------------------------------
# The same tables on Kaldi's binaries (tests/kaldi_oracle.py: yours, or built once per
# machine; these tests skip where there is none). AS-norm's parity and run_ood.sh's are
# test_recipes_kaldi's, on the sparse ReLU corpus.

@pytest.fixture(scope='module')
def kaldi_root():
    return kaldi_oracle.kaldi_root()      # skips the tests that need it where Kaldi cannot be built


@pytest.fixture(scope='module')
def engine_runs(demo_run, kaldi_root, tmp_path_factory):
    """The recipes' back-end stages again on Kaldi's binaries, beside demo_run on our tools.
    What the engine does not touch (the models, their vectors) is copied into the Kaldi
    run's exp dir, whose baseline.sh runs in full and whose eval.sh starts at its back-end
    stage. Returns {engine: (exp dir, stderr)}."""
    py, baseline, evaluation = demo_run
    data = py.parent / 'data'
    kd = tmp_path_factory.mktemp('kaldi_tiny') / 'exp'
    models = ['ae', 'vae', 'cvae']
    copy_engine_free(py, kd, models + ['vectors', 'identity'])   # identity: eval.sh's stage 0
    paths = ['--data', data, '--exp', kd]
    kerr = recipe('baseline.sh', *paths, *TINY_DIMS, kaldi_root=kaldi_root).stderr
    kerr += recipe('eval.sh', *paths, *TINY_DIMS, '--analysis', 'false', '--stage', 2,
                   kaldi_root=kaldi_root).stderr
    return {'python': (py, baseline.stderr + evaluation.stderr), 'kaldi': (kd, kerr)}


def test_tables_equal_on_kaldis_binaries(engine_runs):
    assert_engines_ran(engine_runs, ['baseline.sh', 'eval.sh'])
    rows = assert_same_tables(engine_runs, 'results')
    # The paper's table: 4 front-ends x 5 back-ends.
    assert {f for _, f in rows} == {'x-vector', 'a-vector', 'v-vector', 'c-vector'} and len(rows) == 20


def test_scores_agree_with_kaldis_binaries_line_by_line(engine_runs):
    # Table 1: 4 front-ends x 2 sets x 5 back-ends (the out-of-domain test adds scores of
    # its own to demo_run's exp; they are not the Kaldi run's to match).
    files = assert_same_scores(engine_runs, under='backend')
    assert len(files) == 40
