"""Models and results tables know their data: a user's set after the demo never meets the
demo's models, a model of other data is never resumed, and a results table never mixes
corpora. Also --stop-stage and the paper's default table (no AS-norm rows).

The recipes run in a tree of their own (links to this repository's code, its own conf/ with
only the cosine back-end, its own data/ and exp/), so the default exp dir (exp/<name of the
data dir>) is tested where a user would meet it, without writing into the repository.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data_utils import set_identity as sid
from data_utils.demo_corpus import DemoConfig, make_corpus
from data_utils.errors import UserError
from helpers import ROOT, env, one_error_line, recipe_tree, run_module, write_data_dir

SMALL = dict(dim=16, latent_dim=8, speaker_dim=4, session_dim=4, train_speakers=20,
             utts_per_train_speaker=4, eval_speakers=6, test_utts_per_speaker=2,
             nontarget_per_model=3, domain_speakers=6)
BACKEND = ['--eval-sets', 'sitw_dev', '--lda-dim', 4, '--pca-dim', 4]
MODEL = ['--model', 'vae', '--epochs', 1, '--hidden-dim', 16, '--code-dim', 4, '--batch-size', 16,
         '--num-threads', 1]


# ----------------------------------------------------------------------------
# The identity of a set

def small_dir(path, shift=0.0):
    rng = np.random.default_rng(3)
    utt2spk = {'s%d-u%d' % (s, u): 's%d' % s for s in range(3) for u in range(2)}
    write_data_dir(str(path), utt2spk, rng.standard_normal((6, 5)) + shift)
    return str(path)


def test_identity_is_the_same_streamed_by_ark2npz_and_differs_with_any_vector(tmp_path):
    data = small_dir(tmp_path / 'a')
    out = run_module('data_utils.ark2npz', '--data-dir', data, '--identity-out', tmp_path / 'id.json',
                     tmp_path / 'train.npz')
    assert out.returncode == 0, out.stderr
    streamed = json.loads((tmp_path / 'id.json').read_text())
    assert sid.same(streamed, sid.of_data_dir(data))
    assert (streamed['vectors'], streamed['dim'], streamed['data']) == (6, 5, data)
    # The same keys with other vectors: another set; the same set copied elsewhere: the same.
    other = sid.of_data_dir(small_dir(tmp_path / 'b', shift=1e-3))
    assert other['keys_sha256'] == streamed['keys_sha256']
    assert other['vectors_sha256'] != streamed['vectors_sha256'] and not sid.same(other, streamed)
    shutil.copytree(data, tmp_path / 'copy')
    assert sid.same(sid.of_data_dir(str(tmp_path / 'copy')), streamed)


def test_model_dir_records_its_training_set_and_refuses_others(tmp_path):
    a = sid.of_data_dir(small_dir(tmp_path / 'a'))
    b = sid.of_data_dir(small_dir(tmp_path / 'b', shift=1.0))
    model = str(tmp_path / 'exp' / 'vae')
    sid.check_model(model, a)                        # a new model dir: the record is written
    assert sid.same(sid.recorded(model), a)
    sid.check_model(model, b)                        # nothing trained yet: this run's set
    assert sid.same(sid.recorded(model), b)
    open(os.path.join(model, 'checkpoint'), 'w').close()
    sid.check_model(model, b)                        # a model of this data: resumed
    with pytest.raises(UserError) as err:
        sid.check_model(model, a)                    # a model of other data: never
    message = str(err.value)
    assert sid.describe(a) in message and sid.describe(b) in message and '--exp' in message
    sid.check_init(model, b)
    with pytest.raises(UserError, match='--init-from'):
        sid.check_init(model, a)
    with pytest.raises(UserError, match='no trained model'):
        sid.check_init(str(tmp_path / 'exp' / 'none'), b)
    os.remove(os.path.join(model, sid.RECORD))       # a model that records nothing: refused
    with pytest.raises(UserError, match='records no training set'):
        sid.check_model(model, b)


# ----------------------------------------------------------------------------
# The results table keeps one run's data and models

def run_identity(train, sets, models=None):
    return {'data': 'data', 'train_set': 'train',
            'train': {'data': 'data/train', 'vectors': 10, 'dim': 5, 'id': train},
            'sets': {s: {'data': 'data/' + s, 'id': i, 'enroll': {'vectors': 2}, 'test': {'vectors': 3}}
                     for s, i in sets.items()},
            'models': {fe: {'dir': 'exp/' + fe, 'checkpoint': c} for fe, c in (models or {}).items()}}


def table_run(tmp_path, identity, rows):
    (tmp_path / 'run.json').write_text(json.dumps(identity))
    (tmp_path / 'rows.tsv').write_text('front_end\tbackend\tset\teer\n'
                                       + ''.join('\t'.join(r) + '\n' for r in rows))
    out = subprocess.run([sys.executable, 'local/analysis/results_table.py', '--table-dir',
                          str(tmp_path / 'results'), '--identity', str(tmp_path / 'run.json'),
                          str(tmp_path / 'rows.tsv')], cwd=ROOT, env=env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cells = {tuple(l.split('\t')[:3]): l.split('\t')[3] for l in
             (tmp_path / 'results' / 'results.tsv').read_text().splitlines()[1:]}
    return cells, out


def test_results_table_never_mixes_corpora_or_models(tmp_path):
    a = run_identity('trainA', {'dev': 'devA', 'eval': 'evalA'}, {'vae': 'ckpt-5:aa'})
    rows = [('xvector', 'cosine', 'dev', '10'), ('xvector', 'cosine', 'eval', '11'),
            ('vae', 'cosine', 'dev', '8'), ('vae', 'cosine', 'eval', '9')]
    cells, _ = table_run(tmp_path, a, rows)
    assert len(cells) == 4
    # Same training set, dev rescored with a retrained vae: A's eval x-vector row stays, the
    # old vae's eval row goes (another checkpoint), the new dev rows replace the old.
    retrained = run_identity('trainA', {'dev': 'devA'}, {'vae': 'ckpt-9:bb'})
    cells, out = table_run(tmp_path, retrained, [('vae', 'cosine', 'dev', '7')])
    assert cells == {('xvector', 'cosine', 'dev'): '10', ('xvector', 'cosine', 'eval'): '11',
                     ('vae', 'cosine', 'dev'): '7'}
    assert 'dropped 1 rows of another vae model' in out.stderr
    # Corpus B, dev only (the partial rerun of the issue): nothing of A is left (two rows
    # dropped, the third replaced), and the
    # table's header names B's training set.
    b = run_identity('trainB', {'dev': 'devB'})
    cells, out = table_run(tmp_path, b, [('xvector', 'cosine', 'dev', '20')])
    assert cells == {('xvector', 'cosine', 'dev'): '20'}
    assert 'dropped 2 rows of training set trainA (this run: trainB)' in out.stderr
    md = (tmp_path / 'results' / 'results.md').read_text()
    assert 'id trainB' in md and 'trainA' not in md and 'eval' not in md
    # Other trials under the same set name: the old rows of that set go.
    b2 = run_identity('trainB', {'dev': 'devB2'})
    cells, out = table_run(tmp_path, b2, [('xvector', 'plda', 'dev', '5')])
    assert cells == {('xvector', 'plda', 'dev'): '5'} and 'of other dev data' in out.stderr
    # An identity of another training dir (a stage 0 run on other data) is refused.
    refused = subprocess.run([sys.executable, 'local/analysis/results_table.py', '--table-dir',
                              str(tmp_path / 'results'), '--identity', str(tmp_path / 'run.json'),
                              '--train-dir', 'data/other/train', str(tmp_path / 'rows.tsv')],
                             cwd=ROOT, env=env(), capture_output=True, text=True)
    assert refused.returncode == 1
    assert 'describes a run on data/train, not on data/other/train' in one_error_line(refused.stderr)


# ----------------------------------------------------------------------------
# The recipes: the demo, then "your own data"

@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """A user's checkout in miniature: the code linked, conf/ with one back-end, data a and b
    (two small corpora of one dimension, different seeds)."""
    root = recipe_tree(tmp_path_factory.mktemp('tree'))
    for name, seed in (('a', 1), ('b', 2)):
        make_corpus(str(root / 'data' / name), DemoConfig(seed=seed, **SMALL))
    return root


def recipe(tree, script, *options):
    e = env()
    e.pop('KALDI_ROOT', None)
    e['VV_VENV'] = os.path.dirname(os.path.dirname(sys.executable))
    e['PYTHONPATH'] = '%s:%s' % (tree, tree / 'local')
    return subprocess.run(['sh', script] + [str(o) for o in options], cwd=tree, env=e,
                          capture_output=True, text=True, timeout=300)


def ok(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_your_own_data_after_the_demo_gets_models_of_its_own(tree):
    exp_a, exp_b = tree / 'exp' / 'a', tree / 'exp' / 'b'
    # The quick start on corpus a, eval.sh in two halves (--stop-stage, then --stage).
    ok(recipe(tree, 'baseline.sh', '--data', 'data/a', *BACKEND))
    ok(recipe(tree, 'train.sh', '--data', 'data/a', *MODEL))
    ok(recipe(tree, 'eval.sh', '--data', 'data/a', '--model', 'vae', '--analysis', 'false',
              '--stop-stage', 1, *BACKEND))
    assert (exp_a / 'vectors' / 'vae' / 'sitw_dev' / 'test' / 'xvector.scp').is_file()
    assert not (exp_a / 'backend' / 'vae').exists()
    assert 'v-vector' not in (exp_a / 'results' / 'results.md').read_text()
    ok(recipe(tree, 'eval.sh', '--data', 'data/a', '--model', 'vae', '--analysis', 'false',
              '--stage', 2, *BACKEND))
    table_a = (exp_a / 'results' / 'results.md').read_text()
    assert '| Cosine | v-vector |' in table_a and 'AS-norm' not in table_a   # the paper's table
    assert 'data/a/train (%d vectors x 16' % (20 * 4) in table_a          # its training set
    checkpoint_a = (exp_a / 'vae' / 'checkpoint').read_text()
    # run_ood.sh's default exp is the in-domain run's; --stop-stage 0 makes the folds only.
    ok(recipe(tree, 'local/run_ood.sh', '--data', 'data/a', '--ood-data', 'data/a/shifted', '--folds', 2,
              '--schemes', 2, '--model', 'vae', '--stop-stage', 0))
    assert (exp_a / 'ood' / 'folds' / 'fold2' / 'trials').is_file()
    assert not (exp_a / 'ood' / 'vectors').exists()

    # "Your own data": the README's three commands, on corpus b.
    ok(recipe(tree, 'baseline.sh', '--data', 'data/b', *BACKEND))
    trained = ok(recipe(tree, 'train.sh', '--data', 'data/b', *MODEL))
    assert 'fresh start' in trained.stdout + trained.stderr
    assert 'already trained' not in trained.stdout + trained.stderr
    evaluated = ok(recipe(tree, 'eval.sh', '--data', 'data/b', '--model', 'vae', '--analysis', 'false',
                          *BACKEND))
    identity_b = sid.of_data_dir(str(tree / 'data' / 'b' / 'train'))
    assert sid.same(sid.recorded(str(exp_b / 'vae')), identity_b)
    assert sid.describe(sid.recorded(str(exp_b / 'vae'))) in evaluated.stderr     # in its log
    table_b = (exp_b / 'results' / 'results.md').read_text()
    assert 'id %s' % identity_b['id'] in table_b and 'data/a' not in table_b
    assert (exp_a / 'vae' / 'checkpoint').read_text() == checkpoint_a
    assert (exp_a / 'results' / 'results.md').read_text() == table_a

    # The same --exp for both: train.sh stops, one line naming both sets and the fix.
    refused = recipe(tree, 'train.sh', '--data', 'data/b', '--exp', 'exp/a', *MODEL)
    assert refused.returncode != 0
    line = one_error_line(refused.stderr)
    assert line.startswith('ERROR (train.sh): exp/a/vae: trained on data/a/train')
    assert 'data/b/train' in line and '--exp' in line and 'remove exp/a/vae' in line
    assert (exp_a / 'vae' / 'checkpoint').read_text() == checkpoint_a
