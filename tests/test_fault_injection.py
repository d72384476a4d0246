"""Fault injection: what a hostile or unlucky user meets must end in a non-zero exit with one
ERROR line, or in the results of an undisturbed run, byte for byte.

- a job that fails, is killed or cannot write its log or status (local/run_log.sh);
- shell code in paths and options (refused before anything runs; never run by our runner);
- endless or corrupt input (/dev/zero, NUL-filled and random files): bounded reads;
- a full disk (a small tmpfs, where this machine lets us mount one) and kill -9 of a
  recipe stage's process group at seeded random moments, then a rerun.

The recipe cases run on a tiny corpus (16-dim vectors, 20 training speakers, an ae and a vae
of 16 hidden units trained for one epoch, side by side as train.sh trains them) to stay within
the test budget; VV_FAULTS=full
runs every stage x fault (the table in the project notes).
"""
import os
import random
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.demo_corpus import DemoConfig, make_corpus
from helpers import ROOT, env, write_data_dir

FULL = os.environ.get('VV_FAULTS') == 'full'
RUN_LOG = os.path.join(ROOT, 'local', 'run_log.sh')


def errors_of(text):
    return [line for line in text.splitlines() if line.startswith('ERROR')]


def run(args, cwd=ROOT, timeout=60, **kw):
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env(), capture_output=True,
                          text=True, errors='replace', timeout=timeout, **kw)


# --------------------------------------------------------------------------- tmpfs

class Tmpfs:
    """A tmpfs of a given size at a path, or a skip where mounting is not allowed."""

    def __init__(self, path, size):
        os.makedirs(path, exist_ok=True)
        out = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s' % size, 'tmpfs', str(path)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            pytest.skip('cannot mount a tmpfs here (%s): the full-disk cases need one'
                        % out.stderr.strip())
        self.path = path

    def resize(self, size):
        subprocess.run(['mount', '-o', 'remount,size=%s' % size, str(self.path)], check=True)

    def unmount(self):
        subprocess.run(['umount', '-l', str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def make(size, name='disk'):
        fs = Tmpfs(tmp_path / name, size)
        mounted.append(fs)
        return fs.path
    yield make
    for fs in mounted:
        fs.unmount()


def fill(directory, leave=0):
    """Fill a file system up to `leave` bytes from full."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize - leave
    with open(os.path.join(directory, 'filler'), 'wb') as f:
        try:
            f.write(b'\0' * max(free, 0))
        except OSError:
            pass


# --------------------------------------------------------------------------- the runner

def test_run_log_job_whose_status_cannot_be_written_is_a_failure(tmpfs):
    """The issue's case: with --tee, a status file on a full disk read back empty and
    counted as success."""
    disk = tmpfs('8k')
    with open(disk / 'filler', 'wb') as f:
        f.write(b'\0' * 4096)
    log = disk / 'job.log'
    out = run(['sh', RUN_LOG, '--tee', log, sys.executable, '-c', 'print("x" * 6000)'])
    assert out.returncode != 0
    [line] = errors_of(out.stderr)
    assert str(log) in line


@pytest.mark.parametrize('signal_name', ['KILL', 'TERM'])
def test_run_log_killed_job_is_one_error_line_naming_the_log(tmp_path, signal_name):
    log = tmp_path / 'job.log'
    out = run(['sh', RUN_LOG, log, 'sh', '-c', 'echo started; kill -%s $$' % signal_name])
    assert out.returncode != 0
    [line] = errors_of(out.stderr)
    assert str(log) in line and 'killed' in line
    assert '# Ended (code %d)' % (128 + getattr(signal, 'SIG' + signal_name)) in log.read_text()


def test_run_log_runs_words_as_data_not_as_shell(tmp_path):
    """A job's words reach the command as they are: '$(...)', backquotes, ';', quotes and
    globs are not interpreted (Kaldi's run.pl would)."""
    words = ['$(touch PWNED)', '`touch PWNED`', 'a;touch PWNED', "it's", '*', '${IFS}&', 'a b']
    log = tmp_path / 'job.log'
    out = run(['sh', RUN_LOG, log, sys.executable, '-c', 'import sys; print(repr(sys.argv[1:]))']
              + words, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert repr(words) in log.read_text()
    # And with an operator word (then a shell runs the line), still only the operator acts.
    out = run(['sh', RUN_LOG, log, 'echo'] + words + ['>', 'out.txt'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / 'out.txt').read_text() == ' '.join(words) + '\n'
    assert not (tmp_path / 'PWNED').exists()


def test_table_keys_stay_data(tmp_path):
    """Keys with shell characters go through our runner and tools untouched."""
    keys = ['a$(touch${IFS}PWNED)', 'b`touch${IFS}PWNED`;*', "c'&|<>"]
    kt.write_vectors('ark:%s' % (tmp_path / 'in.ark'), keys, np.eye(3))
    out = run(['sh', RUN_LOG, tmp_path / 'copy.log', 'copy-vector', 'ark:%s' % (tmp_path / 'in.ark'),
               'ark,t:%s' % (tmp_path / 'out.txt')], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in (tmp_path / 'out.txt').read_text().splitlines()] == keys
    assert not (tmp_path / 'PWNED').exists()


# --------------------------------------------------------------------------- hostile paths

HOSTILE = {'$': '$(touch${IFS}%s/PWNED)', '`': '`touch %s/PWNED`', ';': 'd;touch %s/PWNED',
           "'": "it's%s", '&': 'd&touch %s/PWNED', '*': 'd*%s', ' ': 'd %s'}


@pytest.mark.parametrize('char', sorted(HOSTILE))
@pytest.mark.parametrize('script', ['baseline.sh', 'train.sh', 'eval.sh'])
def test_hostile_path_is_refused_before_anything_runs(tmp_path, script, char):
    data = str(tmp_path / 'x') + '/' + HOSTILE[char] % tmp_path
    out = run(['sh', script, '--data', data, '--exp', tmp_path / 'e', '--eval-sets', 'dev'])
    assert out.returncode != 0
    [line] = errors_of(out.stderr)
    assert ("'%s'" % char) in line or (char == ' ' and "space" in line), line
    assert data in line
    assert not (tmp_path / 'PWNED').exists() and not (tmp_path / 'e').exists()


def test_check_paths_names_the_character():
    for path, named in (('/tmp/a$b', "'$'"), ('/tmp/a b', 'a space'), ('/tmp/a\tb', 'a tab'),
                        ('/tmp/a~b', "'~'"), ('/tmp/a(b', "'('")):
        out = run(['sh', 'local/check_paths.sh', 'tool', path])
        assert out.returncode == 1
        [line] = errors_of(out.stderr)
        assert named in line and path in line
    assert run(['sh', 'local/check_paths.sh', 'tool', 'exp/a-b_c.d/e+f,g=h@i:j%k']).returncode == 0


def test_recipe_from_another_directory_says_where_to_run_it(tmp_path):
    for script in ('baseline.sh', 'train.sh', 'eval.sh'):
        out = run(['sh', os.path.join(ROOT, script)], cwd=tmp_path)
        assert out.returncode != 0
        [line] = errors_of(out.stderr)
        assert 'repository root' in line and script in line


# --------------------------------------------------------------------------- endless input

def limited_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def nul_file(path, size=20 << 20):
    with open(path, 'wb') as f:
        f.truncate(size)
    return path


def random_file(path, size=1 << 20):
    with open(path, 'wb') as f:
        f.write(np.random.RandomState(5).bytes(size))
    return path


def huge_dim_ark(path):
    with open(path, 'wb') as f:
        f.write(b'key1 \0BFV \x04' + (2 ** 31 - 1).to_bytes(4, 'little') + b'\0' * 64)
    return path


ENDLESS = {
    'ark-dev-zero': lambda d: ['ivector-mean', 'ark:/dev/zero', d / 'out.vec'],
    'scp-dev-zero': lambda d: ['ivector-mean', 'scp:/dev/zero', d / 'out.vec'],
    'ark-nul-file': lambda d: ['ivector-mean', 'ark:%s' % nul_file(d / 'nul'), d / 'out.vec'],
    'scp-nul-file': lambda d: ['ivector-mean', 'scp:%s' % nul_file(d / 'nul'), d / 'out.vec'],
    'ark-random': lambda d: ['ivector-mean', 'ark:%s' % random_file(d / 'rnd'), d / 'out.vec'],
    'scp-random': lambda d: ['ivector-mean', 'scp:%s' % random_file(d / 'rnd'), d / 'out.vec'],
    'text-ark-dev-zero': lambda d: ['copy-vector', 'ark,t:/dev/zero', 'ark,t:%s' % (d / 'o')],
    'spk2utt-dev-zero': lambda d: ['ivector-mean', 'ark:/dev/zero', 'ark:/dev/zero', 'ark:%s' % (d / 'o')],
    'trials-dev-zero': lambda d: ['ivector-compute-dot-products', '/dev/zero', 'ark:/dev/null',
                                  'ark:/dev/null', d / 'scores'],
    'huge-dim-header': lambda d: ['ivector-mean', 'ark:%s' % huge_dim_ark(d / 'big.ark'), d / 'out.vec'],
}


def run_measured(args, tmp_path, timeout=30):
    """(exit status, stderr, peak resident memory in MB) of one command, killed after
    `timeout` s; the address space is capped at 2 GB, so that an endless read fails fast.
    The peak is GNU time's: a child forked straight from pytest would count pytest's own
    pages (TensorFlow, after the in-process training tests) in its peak, as Linux keeps the
    peak of the forked image across exec."""
    rss = tmp_path / 'rss'
    with open(tmp_path / 'stderr', 'w+') as err:
        proc = subprocess.run(['/usr/bin/time', '-f', '%M', '-o', str(rss)] + [str(a) for a in args],
                              cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=err,
                              preexec_fn=limited_memory, timeout=timeout)
        err.seek(0)
        peak_kb = int(rss.read_text().split()[-1])
        os.unlink(rss)
        return proc.returncode, err.read(), peak_kb / 1024


# Our tools' own footprint (Python, numpy, scipy) is under 100 MB; reading a 20 MB file of
# NULs as one key took 354 MB.
MEMORY_BOUND_MB = 160


@pytest.mark.parametrize('case', sorted(ENDLESS))
def test_endless_or_corrupt_input_is_one_error_in_bounded_memory(tmp_path, case):
    args = ENDLESS[case](tmp_path)
    status, stderr, peak_mb = run_measured(args, tmp_path)
    assert status == 1, stderr[-2000:]
    [line] = errors_of(stderr)
    assert 'Traceback' not in stderr
    assert peak_mb < MEMORY_BOUND_MB, '%s: %.0f MB' % (line, peak_mb)
    source = args[1].split(':', 1)[-1]
    assert source in line, line
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.') or p.startswith('out')]
    os.unlink(tmp_path / 'stderr')


# --------------------------------------------------------------------------- system faults

def test_full_stdout_is_one_error_line(tmp_path):
    kt.write_vectors('ark:%s' % (tmp_path / 'in.ark'), ['a', 'b'], np.eye(2))
    with open('/dev/full', 'w') as full:
        out = subprocess.run(['copy-vector', 'ark:%s' % (tmp_path / 'in.ark'), 'ark,t:-'],
                             stdout=full, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    assert out.returncode != 0
    [line] = errors_of(out.stderr)
    assert 'No space left on device' in line and 'Traceback' not in out.stderr


@pytest.mark.parametrize('tool', ['ivector-mean', 'ivector-compute-lda', 'results_table'])
def test_full_disk_while_writing_is_one_error_line_and_nothing_half_written(tmp_path, tmpfs, tool):
    rng = np.random.RandomState(3)
    utt2spk = {'u%02d' % i: 's%d' % (i % 4) for i in range(24)}
    write_data_dir(tmp_path / 'd', utt2spk, rng.randn(24, 8))
    disk = tmpfs('64k')
    fill(disk, leave=0)
    if tool == 'results_table':
        rows = tmp_path / 'r.tsv'
        rows.write_text('front_end\tbackend\tset\teer\tmindcf_0.01\tmindcf_0.001\n'
                        'xvector\tcosine\tdev\t37.5\t0.8125\t0.8125\n')
        args = [sys.executable, 'local/analysis/results_table.py', '--table-dir', disk / 't', rows]
    elif tool == 'ivector-mean':
        args = [tool, 'scp:%s' % (tmp_path / 'd' / 'xvector.scp'), disk / 'mean.vec']
    else:
        args = [tool, '--dim=2', 'scp:%s' % (tmp_path / 'd' / 'xvector.scp'),
                'ark:%s' % (tmp_path / 'd' / 'utt2spk'), disk / 'lda.mat']
    out = run(args)
    assert out.returncode != 0
    [line] = errors_of(out.stderr)
    assert 'No space left on device' in line and 'Traceback' not in out.stderr, out.stderr
    assert sorted(p for p in os.listdir(disk) if p != 'filler' and p != 't') == []


# --------------------------------------------------------------------------- the recipes

SMALL = DemoConfig(dim=16, latent_dim=8, speaker_dim=6, session_dim=4, train_speakers=20,
                   utts_per_train_speaker=4, eval_speakers=8, test_utts_per_speaker=2,
                   nontarget_per_model=4, domain_speakers=4, seed=3)
SETS = ['--eval-sets', 'sitw_dev']
BACKEND = SETS + ['--lda-dim', 4, '--pca-dim', 4, '--score-norm', 'none']
OPTIONS = {
    'baseline.sh': BACKEND,
    'train.sh': SETS + ['--model', 'ae vae', '--epochs', 1, '--hidden-dim', 16, '--code-dim', 4,
                        '--batch-size', 32, '--num-threads', 1],
    'eval.sh': BACKEND + ['--model', 'ae', '--analysis', 'false'],
}
# What a stage's rerun must rebuild: removed from a copy of the undisturbed exp dir first.
STAGE_OUTPUTS = {
    ('baseline.sh', 0): ['*'], ('baseline.sh', 1): ['backend', 'results'], ('baseline.sh', 2): ['results'],
    ('train.sh', 0): ['*'], ('train.sh', 1): ['ae'],
    # eval.sh's table also holds baseline.sh's rows: only its rendering is removed.
    ('eval.sh', 1): ['vectors', 'backend/ae', 'results/results.md'],
    ('eval.sh', 2): ['backend/ae', 'results/results.md'], ('eval.sh', 3): ['results/results.md'],
}
SCRIPTS = ['baseline.sh', 'train.sh', 'eval.sh']


def recipe_command(script, data, exp, stage):
    return ['sh', script, '--stage', stage, '--data', data, '--exp', exp] + OPTIONS[script]


def start_recipe(script, data, exp, stage):
    return subprocess.Popen([str(a) for a in recipe_command(script, data, exp, stage)], cwd=ROOT,
                            env=recipe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors='replace', start_new_session=True)


def recipe_env():
    e = dict(os.environ)
    e.pop('KALDI_ROOT', None)   # our tools, whatever this machine has
    return e


def run_recipe(script, data, exp, stage=0):
    proc = start_recipe(script, data, exp, stage)
    output, _ = proc.communicate(timeout=600)
    return proc.returncode, output


def result_of(script, exp):
    """What an undisturbed run leaves to compare, as bytes: the results table, or for
    train.sh the trained model's checkpoint (the table comes from eval.sh)."""
    if script == 'train.sh':
        if not os.path.isdir(exp / 'ae'):
            return None
        names = sorted(n for n in os.listdir(exp / 'ae') if n.startswith('model.ckpt-'))
        return {n: (exp / 'ae' / n).read_bytes() for n in names
                if n.endswith('.index') or '.data-' in n}
    table = exp / 'results' / 'results.md'
    return table.read_bytes() if table.exists() else None


class Reference(dict):
    """The tiny corpus and one undisturbed run of each recipe (in order, each when first
    asked for), with their durations and results."""

    def __init__(self, base):
        super().__init__(data=base / 'data', exp=base / 'ref', durations={}, results={})
        make_corpus(str(self['data']), SMALL)

    def run_up_to(self, script):
        for name in (SCRIPTS if script == 'eval.sh' else [script]):   # eval.sh needs both
            if name not in self['durations']:
                start = time.time()
                status, output = run_recipe(name, self['data'], self['exp'])
                assert status == 0, output[-3000:]
                self['durations'][name] = time.time() - start
                self['results'][name] = result_of(name, self['exp'])
        return self


@pytest.fixture(scope='module')
def references(tmp_path_factory):
    return Reference(tmp_path_factory.mktemp('faults'))


def exp_before(reference, script, stage, exp):
    """A copy of the undisturbed exp dir without what `stage` of `script` makes."""
    import shutil
    if STAGE_OUTPUTS[(script, stage)] == ['*']:
        os.makedirs(exp, exist_ok=True)
        if script == 'eval.sh':
            shutil.copytree(reference['exp'] / 'ae', exp / 'ae')
        return exp
    shutil.copytree(reference['exp'], exp, ignore=shutil.ignore_patterns('.lock', 'filler'))
    for part in STAGE_OUTPUTS[(script, stage)]:
        if (exp / part).is_dir():
            shutil.rmtree(exp / part)
        elif (exp / part).exists():
            os.unlink(exp / part)
    return exp


def rerun_matches(reference, script, stage, exp):
    status, output = run_recipe(script, reference['data'], exp, stage)
    assert status == 0, 'rerun failed:\n' + output[-3000:]
    result_matches(reference, script, exp)


def result_matches(reference, script, exp):
    if script == 'eval.sh':   # its table holds the x-vector rows too, when baseline.sh ran
        eval_table_matches(reference, exp)
    else:
        assert result_of(script, exp) == reference['results'][script]


def eval_table_matches(reference, exp):
    """eval.sh's table on this exp: the x-vector rows come from baseline.sh's back-ends."""
    assert (exp / 'results' / 'results.md').read_bytes() == \
        (reference['exp'] / 'results' / 'results.md').read_bytes()


def wait_for_group_end(pgid, timeout=30):
    """Until every process of the group is gone (and the exp dir's lock with them)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


KILL_CASES = ([(s, st, seed) for (s, st) in STAGE_OUTPUTS for seed in (1, 2, 3)] if FULL
              else [('baseline.sh', 1, 1), ('train.sh', 1, 1)])


@pytest.mark.parametrize('script,stage,seed', KILL_CASES)
def test_kill_9_of_a_stage_then_rerun_gives_the_undisturbed_result(references, tmp_path, script,
                                                                    stage, seed):
    reference = references.run_up_to(script)
    exp = exp_before(reference, script, stage, tmp_path / 'exp')
    moment = random.Random(seed).uniform(0.1, 0.9) * reference['durations'][script]
    proc = start_recipe(script, reference['data'], exp, stage)
    try:
        proc.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the recipe and every job it started
        proc.wait()
        wait_for_group_end(proc.pid)
    proc.stdout.close()
    rerun_matches(reference, script, stage, exp)


DISK_CASES = ([(s, st, f) for (s, st) in STAGE_OUTPUTS for f in (0.05, 0.5, 0.95)] if FULL
              # the checkpoint's save fails: the case; half-way, with ae and vae training
              # side by side, both fail and the run must stop on one ERROR line, no job left
              else [('train.sh', 1, 0.97), ('train.sh', 1, 0.5)])


def tree_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


@pytest.mark.parametrize('script,stage,fraction', DISK_CASES)
def test_full_disk_in_a_stage_is_one_error_then_rerun_gives_the_undisturbed_result(
        references, tmpfs, script, stage, fraction):
    """The exp dir on a tmpfs that fills after `fraction` of what the stage writes; then
    space is freed and the stage rerun."""
    reference = references.run_up_to(script)
    disk = tmpfs('64m')
    exp = exp_before(reference, script, stage, disk / 'exp')
    written = tree_bytes(reference['exp']) - tree_bytes(exp)
    fill(disk, leave=int(fraction * max(written, 0)))
    status, output = run_recipe(script, reference['data'], exp, stage)
    if status == 0:   # then it did fit: its results must be whole already
        assert 'ERROR' not in output and 'Traceback' not in output, output[-3000:]
        result_matches(reference, script, exp)
    else:
        lines = errors_of(output)
        assert len(lines) == 1, output[-3000:]
        assert 'Traceback' not in output, output[-3000:]
        left = [os.path.join(d, n) for d, _, files in os.walk(exp) for n in files
                if n.endswith('.tmp') or '.tmp' in n or '_temp' in n]
        assert not left, ('temp files left', left, output[-3000:])
    os.unlink(disk / 'filler')
    rerun_matches(reference, script, stage, exp)
