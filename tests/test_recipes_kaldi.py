"""The recipes on Kaldi's own binaries against the same recipes on our Python tools.

baseline.sh, eval.sh and local/run_ood.sh run twice on a small corpus: once with
KALDI_ROOT pointing at real Kaldi (tests/kaldi_oracle.py: yours, or built once per machine;
the module skips where there is none) and once without (our tools in local/bin). The
results tables must be equal to the printed digit and every score file must agree line
by line, keys in the same order and scores within 1e-3.

What the engine does not touch runs once: the model (a small VAE) is trained and its
vectors extracted on the Python run, then copied into the Kaldi run's exp dir, whose
eval.sh starts at its back-end stage. run_ood.sh runs with the x-vector front-end only
(its model training and extraction are engine-free; its back-ends, fold scoring,
PLDA adaptation and pooling are what differ), and with cosine and PLDA only (a tree of
its own, tests/helpers.recipe_tree): the projections' parity is the other recipes', and
on our engine most of run_ood.sh's time is the start of a Python process per tool.

Two corpora: the x-vector-like demo kind (baseline.sh, train.sh + eval.sh, run_ood.sh),
and the sparse ReLU kind (data_utils/demo_corpus.py --kind relu): unit-norm, about half
of the values zero and a few dimensions zero in every vector, so the within-class
scatter PLDA starts from is singular. Kaldi trains and scores on it; baseline.sh and
run_ood.sh must get through it on both engines with the same results. The ReLU runs go
on in a second thread while the x-vector runs go on in the first (two cores, and most
of the time is spent starting small processes).
"""
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import kaldi_oracle
from data_utils.demo_corpus import DemoConfig, make_corpus
from data_utils import kaldi_table as kt
from helpers import ROOT, recipe_tree
from test_recipes_e2e import TINY, recipe, table_rows

# 4 of 64 units dead. 16 utterances per training speaker: Kaldi's PLDA EM shrinks a dead
# dimension's within-class variance by about 1/(1 + 16) per iteration, so after its 10
# iterations it is about 1e-12 of the largest, as on the real encoder's data of issue 7.
RELU = DemoConfig(**dict(vars(TINY), kind='relu', relu_dim=64, train_speakers=100,
                         utts_per_train_speaker=16))
DIMS = ['--lda-dim', 20, '--pca-dim', 20]
ASNORM = ['--score-norm', 'asnorm']   # asked for: AS-norm's parity too (not the recipes' default)
TRAIN = ['--model', 'vae', '--epochs', 4, '--hidden-dim', 128, '--code-dim', 32, '--lr', 0.001,
         '--batch-size', 64, '--num-threads', 2]
SCORE_TOLERANCE = 1e-3
KALDI_LOG_LINE = re.compile(r'^LOG \(ivector-compute-plda\[[^\]]*\]:', re.M)


OOD_BACKENDS = ('cosine', 'plda')


def run_ood(data, exp, kaldi_root=None):
    tree = data.parent / ('tree_ood_' + data.name)   # one per corpus: they run in two threads
    if not tree.exists():
        recipe_tree(tree, backends=OOD_BACKENDS)
    return recipe('local/run_ood.sh', '--data', data, '--exp', exp, '--ood-data', data / 'shifted',
                  '--folds', 2, '--model', '', '--lda-dim', 10, '--pca-dim', 10, kaldi_root=kaldi_root,
                  tree=tree)


def copy_engine_free(src_exp, dst_exp, parts):
    """Copy what no back-end tool made (models, extracted vectors) from one exp dir to
    another, with the copies' scp files pointing at the copied arks."""
    for part in parts:
        dst = dst_exp / part
        shutil.copytree(src_exp / part, dst)
        for scp in dst.rglob('*.scp'):
            scp.write_text(scp.read_text().replace(str(src_exp), str(dst_exp)))


@pytest.fixture(scope='module')
def kaldi_root():
    return kaldi_oracle.kaldi_root()      # skips the module's tests where Kaldi cannot be built


@pytest.fixture(scope='module')
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp('kaldi_recipes')
    make_corpus(str(base / 'data'), TINY)
    make_corpus(str(base / 'data_relu'), RELU)
    return base


def both_engines_on_relu(data, kaldi_root):
    """The sparse ReLU corpus (dead dimensions): baseline.sh and run_ood.sh on the raw
    vectors (no model to train), on each engine. Returns {engine: (exp dir, stderr)}."""
    runs = {}
    for engine, root in (('kaldi', kaldi_root), ('python', None)):
        exp = data.parent / ('exp_relu_' + engine)
        err = recipe('baseline.sh', '--data', data, '--exp', exp, *DIMS, *ASNORM, kaldi_root=root).stderr
        err += run_ood(data, exp, kaldi_root=root).stderr
        runs[engine] = (exp, err)
    return runs


@pytest.fixture(scope='module')
def relu_started(corpora, kaldi_root):
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(both_engines_on_relu, corpora / 'data_relu', kaldi_root)


@pytest.fixture(scope='module')
def relu_runs(relu_started):
    return relu_started.result()


@pytest.fixture(scope='module')
def xvector_runs(corpora, kaldi_root, relu_started):
    """The x-vector-like corpus: every recipe on the Python engine, the back-end stages again
    on Kaldi's (while the ReLU runs go on beside). Returns {engine: (exp dir, stderr)}."""
    data = corpora / 'data'
    py, kd = corpora / 'exp_python', corpora / 'exp_kaldi'
    paths = ['--data', data, '--exp', py]
    err = recipe('baseline.sh', *paths, *DIMS, *ASNORM).stderr
    recipe('train.sh', *paths, *TRAIN)
    err += recipe('eval.sh', *paths, *DIMS, *ASNORM, '--model', 'vae', '--analysis', 'false').stderr
    err += run_ood(data, py).stderr
    copy_engine_free(py, kd, ['vae', 'vectors', 'identity'])   # identity: eval.sh's stage 0
    paths = ['--data', data, '--exp', kd]
    kerr = recipe('baseline.sh', *paths, *DIMS, *ASNORM, kaldi_root=kaldi_root).stderr
    kerr += recipe('eval.sh', *paths, *DIMS, *ASNORM, '--model', 'vae', '--analysis', 'false', '--stage', 2,
                   kaldi_root=kaldi_root).stderr
    kerr += run_ood(data, kd, kaldi_root=kaldi_root).stderr
    return {'python': (py, err), 'kaldi': (kd, kerr)}


def assert_same_tables(runs, table):
    """Every cell of the two engines' tables, as printed, is the same."""
    (py, _), (kd, _) = runs['python'], runs['kaldi']
    assert (py / table / 'results.md').read_text() == (kd / table / 'results.md').read_text()
    return table_rows(py, table)[1]


def assert_same_scores(runs):
    (py, _), (kd, _) = runs['python'], runs['kaldi']
    files = sorted(p.relative_to(py) for p in py.rglob('scores_*'))
    assert files and files == sorted(p.relative_to(kd) for p in kd.rglob('scores_*'))
    for name in files:
        ours, theirs = (py / name).read_text().splitlines(), (kd / name).read_text().splitlines()
        assert len(ours) == len(theirs) > 0, name
        for n, (a, b) in enumerate(zip(ours, theirs), 1):
            a, b = a.split(), b.split()
            assert a[:2] == b[:2] and len(a) == len(b) == 3, (name, n, a, b)
            assert abs(float(a[2]) - float(b[2])) <= SCORE_TOLERANCE, (name, n, a, b)
    return files


def assert_engines_ran(runs, recipes):
    """Each run says which engine it used, and Kaldi's binaries left their own log lines."""
    for engine, (exp, err) in runs.items():
        for script in recipes:
            assert '%s: engine for back-end tools: %s' % (script, engine) in err
        plda_log = (exp / 'backend' / 'xvector' / 'log' / 'plda.log').read_text()
        assert bool(KALDI_LOG_LINE.search(plda_log)) == (engine == 'kaldi'), (engine, plda_log[:2000])


def test_path_sh_picks_kaldi_under_kaldi_root(kaldi_root):
    env = dict(os.environ, KALDI_ROOT=str(kaldi_root))
    out = subprocess.run(['sh', '-c', '. ./path.sh && echo $VV_ENGINE && for t in ivector-compute-plda '
                          'ivector-plda-scoring compute-eer compute_min_dcf.py; do command -v $t; done'],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    engine, *tools = out.stdout.split()
    assert engine == 'kaldi'
    assert len(tools) == 4 and all(t.startswith(str(kaldi_root) + '/') for t in tools), tools


def test_xvector_corpus_tables_equal_on_both_engines(xvector_runs):
    assert_engines_ran(xvector_runs, ['baseline.sh', 'eval.sh'])
    rows = assert_same_tables(xvector_runs, 'results')
    # 2 front-ends x 5 back-ends, each plain and with AS-norm (--score-norm asnorm).
    assert {f for _, f in rows} == {'x-vector', 'v-vector'} and len(rows) == 20
    assert sum(b.endswith('+AS-norm') for b, _ in rows) == 10
    ood = assert_same_tables(xvector_runs, 'results_ood')
    assert len(ood) == len(OOD_BACKENDS) and ood[('PLDA', 'x-vector')]['scheme3 EER(%)'] != '-'


def test_xvector_corpus_scores_agree_line_by_line(xvector_runs):
    files = assert_same_scores(xvector_runs)
    # Table 1 (2 front-ends x 2 sets x 5 back-ends, plain and AS-norm) and every scheme's
    # fold and pooled scores.
    assert len([f for f in files if f.parts[0] == 'backend']) == 40
    assert {f.parts[1] for f in files if f.parts[0] == 'ood'} >= {'scheme1', 'scheme2', 'scheme3'}


def test_relu_corpus_with_dead_dimensions_runs_on_both_engines_alike(corpora, relu_runs):
    _, train = kt.read_vector_table('scp:%s' % (corpora / 'data_relu' / 'train' / 'xvector.scp'))
    assert (train == 0).all(axis=0).sum() == 4          # the case this test is about
    assert_engines_ran(relu_runs, ['baseline.sh'])
    rows = assert_same_tables(relu_runs, 'results')
    # 5 back-ends, plain and with AS-norm, on the dead-dimension x-vectors.
    assert len(rows) == 10 and all(float(c['sitw_dev EER(%)']) < 50 for c in rows.values())
    assert len(assert_same_tables(relu_runs, 'results_ood')) == len(OOD_BACKENDS)
    assert_same_scores(relu_runs)
