"""Shared test helpers: the repository root, running our CLIs, small Kaldi data dirs."""
import os
import shutil
import subprocess
import sys

import numpy as np

from data_utils import kaldi_table as kt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, '..', 'shared'))


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
