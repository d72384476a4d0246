"""train.sh trains the models that need no other model of the run at the same time (ae and
vae), then cvae from this run's vae; the same numbers as one after the other; an interrupt
stops every training job, the background ones included.  Tiny data root and models
(test_failure_cases's)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, env
from test_failure_cases import TINY_MODEL, make_data_root, recipe


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data_root(tmp_path_factory.mktemp('data') / 'data')


def run_span(log):
    """(start, end) in seconds since the epoch, from the runner's lines of a job's log."""
    text = open(log).read()
    started = re.search(r'^# Started at (.*)$', text, re.M).group(1)
    ended = re.search(r'^# Ended \(code 0\) at (.*?), elapsed', text, re.M).group(1)
    seconds = [time.mktime(time.strptime(stamp, '%a %b %d %H:%M:%S %Z %Y'))
               for stamp in (started, ended)]
    return tuple(seconds)


def epoch_lines(log):
    return [re.sub(r' samples/s .*', '', line) for line in open(log).read().splitlines()
            if line.startswith('epoch ') and '/' in line.split()[1]]


def test_ae_and_vae_train_together_then_cvae_with_the_same_numbers(tmp_path, data_root):
    together, apart = tmp_path / 'together', tmp_path / 'apart'
    for exp, parallel in ((together, 'true'), (apart, 'false')):
        proc = recipe('train.sh', '--data', data_root, '--exp', exp, '--eval-sets', 'dev',
                      '--model', 'ae vae cvae', '--epochs', 2, '--parallel', parallel,
                      *TINY_MODEL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for m in ('ae', 'vae', 'cvae'):
            assert (exp / m / 'train_status').read_text() == 'trained\n'
    spans = {m: run_span(together / m / 'log' / 'train.log') for m in ('ae', 'vae', 'cvae')}
    # ae and vae overlap (the runner's clock has seconds: each job takes several, TensorFlow's
    # start alone); cvae starts once vae has ended, as it starts from vae's weights.
    assert spans['ae'][0] <= spans['vae'][1] and spans['vae'][0] <= spans['ae'][1], spans
    assert spans['cvae'][0] >= spans['vae'][1], spans
    apart_spans = {m: run_span(apart / m / 'log' / 'train.log') for m in ('ae', 'vae')}
    assert apart_spans['vae'][0] >= apart_spans['ae'][1], apart_spans
    # Each job is its own seeded process: the same losses, epoch by epoch, either way.
    for m in ('ae', 'vae', 'cvae'):
        lines = epoch_lines(together / m / 'log' / 'train.log')
        assert len(lines) == 2 and lines == epoch_lines(apart / m / 'log' / 'train.log'), m


@pytest.mark.skipif(shutil.which('pgrep') is None,
                    reason='no pgrep (procps): local/tasks.sh finds the processes a task started with it')
def test_an_interrupt_stops_the_training_jobs_in_the_background_too(tmp_path, data_root):
    """Ctrl-C reaches the foreground job; a shell's background jobs ignore it, so train.sh
    must stop them itself, or they would go on writing into the exp dir."""
    exp = tmp_path / 'exp'
    e = env()
    e.pop('KALDI_ROOT', None)
    e['VV_VENV'] = os.path.dirname(os.path.dirname(sys.executable))
    proc = subprocess.Popen(['sh', 'train.sh', '--data', str(data_root), '--exp', str(exp),
                             '--eval-sets', 'dev', '--model', 'ae vae', '--epochs', '100000',
                             *[str(o) for o in TINY_MODEL]],
                            cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        logs = [exp / m / 'log' / 'train.log' for m in ('ae', 'vae')]
        while not all(log.exists() and 'epoch 1/' in log.read_text() for log in logs):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[0]
            time.sleep(0.5)
        assert training_processes(exp)
        os.killpg(proc.pid, signal.SIGINT)      # as the terminal sends Ctrl-C: to the group
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == 130, out
        deadline = time.time() + 20
        while training_processes(exp) and time.time() < deadline:
            time.sleep(0.5)
        assert not training_processes(exp)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in training_processes(exp):
            os.kill(pid, signal.SIGKILL)


def training_processes(exp):
    """Pids of the model.train processes writing into exp (from /proc: no pgrep needed)."""
    pids = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                words = f.read().decode(errors='replace').split('\0')
        except (OSError, ValueError):
            continue
        if 'model.train' in words and any(word.startswith(str(exp)) for word in words):
            pids.append(int(entry))
    return pids


def test_train_sh_knows_the_system_faults_our_tools_report():
    """train.sh stops the run on a model's system fault, read from its ERROR line: its list
    must be the faults data_utils/errors.py words (a fault missing there would let the other
    models go on, each with an ERROR line of its own)."""
    from data_utils import errors
    text = open(os.path.join(ROOT, 'train.sh')).read()
    listed = re.search(r"^  system_faults='([^']*)'$", text, re.M).group(1).split('|')
    assert sorted(listed) == sorted(errors._WRITE_FAULTS)
