"""A one-node Slurm on this machine, for the tests of the recipes on a real grid.

`SlurmCluster` starts munged, slurmctld and slurmd as child processes in the foreground,
with every file (munge key, slurm.conf, state, logs) in a fresh temp dir and the daemons
listening on 127.0.0.1 only; `stop()` cancels what is left in the queue and ends the three
daemons, so nothing is left running. Clients reach it through SLURM_CONF (`env()`).

Debian's slurm-wlm and munge are installed with apt-get where they are missing (as root;
once per machine). Where that cannot be done, or the daemons do not come up, `start()`
skips the calling test with one line saying why.

The only partition, `main`, is the default one: Kaldi's slurm.pl gets there through the
recipes' conf/slurm.conf (without it, slurm.pl asks for a partition `shared`). Every
finished job is written to jobcomp.log (one `JobId=... JobState=...` line per job or
array task), which tells which jobs Slurm really ran without an accounting database.
"""
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

PACKAGES = ['slurm-wlm', 'munge']
DAEMONS = ['munged', 'slurmctld', 'slurmd']
CLIENTS = ['sbatch', 'squeue', 'scancel', 'sinfo']
SEARCH_PATH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin'])
INSTALL_LOG = os.path.join(tempfile.gettempdir(), 'vv-slurm-apt.log')
START_TIMEOUT = 60      # s for the node to come up idle (seconds on an idle machine)


def _which(name):
    return shutil.which(name, path=SEARCH_PATH)


def ensure_installed():
    """Install slurm-wlm and munge with apt-get if a program is missing; skip if we cannot."""
    if all(_which(p) for p in DAEMONS + CLIENTS):
        return
    if os.geteuid() != 0 or not _which('apt-get'):
        pytest.skip('Slurm not available: %s missing and no root apt-get to install %s'
                    % (', '.join(p for p in DAEMONS + CLIENTS if not _which(p)), ' '.join(PACKAGES)))
    # One installer at a time on this machine (two pytest processes, or dpkg's own lock).
    with open(INSTALL_LOG + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(_which(p) for p in DAEMONS + CLIENTS):
            env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
            with open(INSTALL_LOG, 'w') as log:
                rc = subprocess.call(['apt-get', 'update', '-q'], stdout=log, stderr=subprocess.STDOUT,
                                     env=env)
                if rc == 0:
                    rc = subprocess.call(['apt-get', 'install', '-y', '-q', '--no-install-recommends']
                                         + PACKAGES, stdout=log, stderr=subprocess.STDOUT, env=env)
            if rc != 0:
                pytest.skip('Slurm not available: apt-get install %s failed (rc %d; see %s)'
                            % (' '.join(PACKAGES), rc, INSTALL_LOG))


def _die_with_parent():
    """In the daemon before exec: SIGTERM when the test process dies, however it dies
    (Linux's PR_SET_PDEATHSIG), so a killed test run leaves no daemon behind either."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=vvtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge.sock
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={dir}/jobcomp.log
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The node may have fewer cores than it offers: the test's jobs are small and run side by side.
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """One controller and one node on 127.0.0.1; use as `with SlurmCluster() as c:`."""

    def __init__(self, cpus=8):
        self.cpus = cpus
        self.dir = None
        self.procs = []

    def env(self, base=None):
        """An environment in which Slurm's clients talk to this cluster."""
        e = dict(os.environ if base is None else base)
        e['SLURM_CONF'] = os.path.join(self.dir, 'slurm.conf')
        e['PATH'] = e.get('PATH', '') + os.pathsep + '/usr/sbin'
        return e

    def start(self):
        ensure_installed()
        # The daemons check that the dirs on the way to the munge socket are not writable by
        # others and reachable by all: a dir of our own, 0755, in /tmp (short: socket paths).
        self.dir = tempfile.mkdtemp(prefix='vv-slurm-')
        os.chmod(self.dir, 0o755)
        for sub in ('state', 'spool'):
            os.mkdir(os.path.join(self.dir, sub))
        key = os.path.join(self.dir, 'munge.key')
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as f:
            f.write(os.urandom(128))
        host = socket.gethostname().split('.')[0]
        with open(os.path.join(self.dir, 'slurm.conf'), 'w') as f:
            f.write(SLURM_CONF.format(host=host, dir=self.dir, cpus=self.cpus,
                                      ctld_port=_free_port(), slurmd_port=_free_port()))
        d = self.dir
        try:
            self._daemon(['munged', '-F', '--key-file=%s' % key, '--socket=%s/munge.sock' % d,
                          '--pid-file=%s/munged.pid' % d, '--log-file=%s/munged.log' % d,
                          '--seed-file=%s/munged.seed' % d], 'munged.out')
            self._wait(lambda: os.path.exists(os.path.join(d, 'munge.sock')), 'munged', 'munged.out')
            self._daemon(['slurmctld', '-D', '-i'], 'slurmctld.out')
            self._daemon(['slurmd', '-D', '-N', host], 'slurmd.out')
            self._wait(self._node_idle, 'slurmd', 'slurmd.log')
        except Exception:
            self.stop()
            raise
        return self

    def _daemon(self, argv, out_name):
        out = open(os.path.join(self.dir, out_name), 'w')
        self.procs.append((argv[0], subprocess.Popen([_which(argv[0])] + argv[1:], stdout=out,
                                                     stderr=subprocess.STDOUT, env=self.env(),
                                                     preexec_fn=_die_with_parent)))
        out.close()

    def _node_idle(self):
        out = subprocess.run(['sinfo', '-h', '-o', '%t'], env=self.env(), capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.split() == ['idle']

    def _wait(self, ready, name, log):
        deadline = time.time() + START_TIMEOUT
        while not ready():
            dead = [n for n, p in self.procs if p.poll() is not None]
            if dead or time.time() > deadline:
                tail = self.log_tail(log) or self.log_tail(name + '.out')
                pytest.skip('Slurm could not be started: %s %s (%s): %s'
                            % (name, 'exited' if dead else 'not ready in %d s' % START_TIMEOUT,
                               os.path.join(self.dir, log), tail))
            time.sleep(0.2)

    def log_tail(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                lines = f.read().strip().splitlines()
            return lines[-1] if lines else ''
        except OSError:
            return ''

    def finished_jobs(self):
        """{job id: state} of every job or array task Slurm has finished (jobcomp.log)."""
        jobs = {}
        try:
            with open(os.path.join(self.dir, 'jobcomp.log')) as f:
                for line in f:
                    fields = dict(kv.split('=', 1) for kv in line.split() if '=' in kv)
                    jobs[fields['JobId']] = fields.get('JobState')
        except OSError:
            pass
        return jobs

    def stop(self):
        """Cancel what is still queued, then end slurmd, slurmctld and munged, in that order."""
        if any(n == 'slurmctld' and p.poll() is None for n, p in self.procs):
            subprocess.run(['scancel', '--full', '--quiet', '-p', 'main'], env=self.env(),
                           capture_output=True, timeout=30)
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
