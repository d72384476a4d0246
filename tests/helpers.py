"""Shared test helpers: the repository root, running our CLIs, small Kaldi data dirs."""
import os
import shutil
import subprocess
import sys

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.demo_corpus import DemoConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, '..', 'shared'))

# The recipes' tiny corpus (tests/conftest.py's tiny_recipe_run; test_recipes_e2e,
# test_recipes_kaldi): the demo generator at a small size, with 128-dim vectors.
TINY = DemoConfig(dim=128, latent_dim=48, speaker_dim=24, session_dim=16, train_speakers=200,
                  utts_per_train_speaker=8, eval_speakers=40, test_utts_per_speaker=4,
                  nontarget_per_model=12, domain_speakers=40, seed=11)
TINY_DIMS = ['--lda-dim', 20, '--pca-dim', 20]   # its back-ends' LDA and PCA


def env():
    """The environment path.sh gives: our packages importable, our tools on PATH."""
    e = dict(os.environ)
    e['PYTHONPATH'] = ROOT + os.pathsep + os.path.join(ROOT, 'local')
    e['PATH'] = os.pathsep.join([os.path.join(ROOT, 'local', 'bin'),
                                 os.path.dirname(sys.executable), e.get('PATH', '')])
    e['TF_CPP_MIN_LOG_LEVEL'] = '2'
    e['LC_ALL'] = 'C'
    return e


def add_class_samples(stats, samples):
    """Add one class's samples (n x D) to a PldaStats, as the streaming reader adds
    a speaker: its count, mean and scatter around the mean."""
    samples = np.asarray(samples, dtype=np.float64)
    mean = samples.mean(axis=0)
    centred = samples - mean
    stats.add_class_stats([len(samples)], [mean], centred.T @ centred)


def run_module(module, *args, cwd=ROOT):
    return subprocess.run([sys.executable, '-m', module] + [str(a) for a in args], cwd=cwd,
                          env=env(), capture_output=True, text=True)


def write_data_dir(path, utt2spk, vectors, scp=True):
    """A Kaldi data dir: xvector.ark(+scp), utt2spk, spk2utt, keys in the given order."""
    os.makedirs(path, exist_ok=True)
    keys = list(utt2spk)
    spec = ('ark,scp:%s/xvector.ark,%s/xvector.scp' % (path, path) if scp
            else 'ark:%s/xvector.ark' % path)
    kt.write_vectors(spec, keys, np.asarray(vectors))
    with open(os.path.join(path, 'utt2spk'), 'w') as f:
        f.writelines('%s %s\n' % kv for kv in utt2spk.items())
    spk2utt = {}
    for utt, spk in utt2spk.items():
        spk2utt.setdefault(spk, []).append(utt)
    with open(os.path.join(path, 'spk2utt'), 'w') as f:
        f.writelines('%s %s\n' % (s, ' '.join(u)) for s, u in sorted(spk2utt.items()))


def one_error_line(stderr):
    """The ERROR line of a failed command; asserts there is exactly one."""
    lines = [l for l in stderr.splitlines() if l.startswith('ERROR')]
    assert len(lines) == 1, stderr
    return lines[0]


def read_scores(path):
    """Keys and scores of a "key1 key2 score" file: ([(key1, key2)], array of scores)."""
    keys, values = [], []
    with open(path) as f:
        for line in f:
            a, b, s = line.split()
            keys.append((a, b))
            values.append(float(s))
    return keys, np.array(values)


def recipe_tree(root, backends=('cosine',)):
    """A user's checkout in miniature at root: the code linked, conf/ copied with only the
    given back-ends in conf/backends.tsv (fewer jobs where the test is not about them).
    The recipes run in it with cwd=root, writing their data/ and exp/ there."""
    os.makedirs(root, exist_ok=True)
    for name in ('baseline.sh', 'train.sh', 'eval.sh', 'path.sh', 'cmd.sh', 'requirements.txt',
                 'model', 'data_utils'):
        os.symlink(os.path.join(ROOT, name), os.path.join(root, name))
    os.mkdir(os.path.join(root, 'local'))   # a real dir: local/names.sh finds ../conf in this tree
    for name in os.listdir(os.path.join(ROOT, 'local')):
        os.symlink(os.path.join(ROOT, 'local', name), os.path.join(root, 'local', name))
    shutil.copytree(os.path.join(ROOT, 'conf'), os.path.join(root, 'conf'))
    with open(os.path.join(ROOT, 'conf', 'backends.tsv')) as f:
        kept = [l for l in f if l.startswith('#') or l.split('\t')[0] in backends]
    with open(os.path.join(root, 'conf', 'backends.tsv'), 'w') as f:
        f.writelines(kept)
    return root


def recipe(script, *options, kaldi_root=None, tree=None):
    """Run a recipe on our Python tools, or on Kaldi's binaries when kaldi_root is given;
    in this checkout, or in a tree of helpers.recipe_tree."""
    env = dict(os.environ)
    env.pop('KALDI_ROOT', None)          # the Python tools, whatever this machine has
    if kaldi_root:
        env['KALDI_ROOT'] = str(kaldi_root)
    if tree:
        env['PYTHONPATH'] = '%s:%s' % (tree, tree / 'local')
        env['VV_VENV'] = os.path.dirname(os.path.dirname(sys.executable))
    out = subprocess.run(['sh', script] + [str(o) for o in options], cwd=tree or ROOT, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, '%s failed:\n%s\n%s' % (script, out.stdout[-3000:], out.stderr[-3000:])
    return out


def table_rows(exp, table='results'):
    rows = {}
    with open(exp / table / 'results.md') as f:
        lines = [l for l in f if l.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|\n').split('|')]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|\n').split('|')]
        rows[(cells[0], cells[1])] = dict(zip(header[2:], cells[2:]))
    return header, rows
