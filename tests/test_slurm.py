"""The recipes on a real grid: Kaldi's own slurm.pl on a one-node Slurm started here.

baseline.sh, train.sh (an AE, one epoch) and eval.sh run twice on a tiny corpus, with
Kaldi's back-end binaries and two of the back-ends (cosine and PLDA: fewer jobs, each one
waited for through the grid): once with run.pl (cmd.sh's default where Kaldi is found) and
once with train_cmd and cuda_cmd set to Kaldi's slurm.pl in the environment, --nj 3.
Slurm's jobs start in a fresh shell on the node, with only what conf/slurm.conf hands
them, so whatever a job needs of the caller's environment shows here. The two results
tables must be equal, and so must every score file; every job log must name the Slurm
job that wrote it, and Slurm must have finished each of those jobs (its job-completion
log); the logs of Kaldi's binaries must be Kaldi's (KALDI_ROOT reached the jobs).

The Slurm daemons run in a temp dir and are stopped at the end (tests/slurm_cluster.py);
where Slurm cannot be installed or started, the test is skipped with the reason.
Deselect with  -m 'not slurm'.
"""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import kaldi_oracle
from data_utils.demo_corpus import DemoConfig, make_corpus
from helpers import ROOT, recipe_tree
from slurm_cluster import SlurmCluster

# 24-dim vectors, 30 training speakers: the jobs are short, what is timed is the grid.
TINY = DemoConfig(dim=24, latent_dim=12, speaker_dim=6, session_dim=4, train_speakers=30,
                  utts_per_train_speaker=4, eval_speakers=10, test_utts_per_speaker=3,
                  nontarget_per_model=5, domain_speakers=6, seed=5)

DIMS = ['--lda-dim', 10, '--pca-dim', 10, '--score-norm', 'none']
TRAIN = ['--model', 'ae', '--epochs', 1, '--hidden-dim', 32, '--code-dim', 16,
         '--batch-size', 64, '--num-threads', 1]
SLURM_JOB_LINE = re.compile(r'^# SLURM_JOB_ID=(\d+)$', re.M)
KALDI_LOG_LINE = re.compile(r'^LOG \(ivector-compute-plda\[[^\]]*\]:', re.M)


def run_recipes(base, kaldi_root, env):
    """baseline.sh, train.sh, eval.sh in the tree base on base/data into base/<exp>;
    returns (exp, stderr)."""
    exp = base / ('exp_slurm' if 'train_cmd' in env else 'exp_run_pl')
    env = dict(env, KALDI_ROOT=str(kaldi_root), PYTHONPATH='%s:%s' % (base, base / 'local'),
               VV_VENV=os.path.dirname(os.path.dirname(sys.executable)))
    paths = ['--data', base / 'data', '--exp', exp]
    err = ''
    for script, options in (('baseline.sh', paths + ['--eval-sets', 'sitw_dev', '--nj', 3] + DIMS),
                            ('train.sh', paths + TRAIN),
                            ('eval.sh', paths + ['--eval-sets', 'sitw_dev', '--nj', 3, '--model', 'ae',
                                                 '--analysis', 'false'] + DIMS)):
        out = subprocess.run(['sh', script] + [str(o) for o in options], cwd=base, env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, '%s failed:\n%s' % (script, out.stderr[-3000:])
        err += out.stderr
    return exp, err


def job_logs(exp):
    """{path relative to exp: text} of every job log (slurm.pl's q/ dirs aside)."""
    return {str(p.relative_to(exp)): p.read_text() for p in exp.rglob('*.log') if p.parent.name != 'q'}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    kaldi_root = kaldi_oracle.kaldi_root()     # skips where Kaldi cannot be built
    slurm_pl = os.path.join(kaldi_root, 'egs', 'wsj', 's5', 'utils', 'slurm.pl')
    base = recipe_tree(tmp_path_factory.mktemp('slurm'), backends=('cosine', 'plda'))
    make_corpus(str(base / 'data'), TINY)
    env = dict(os.environ)
    for name in ('train_cmd', 'cuda_cmd'):
        env.pop(name, None)
    with SlurmCluster() as cluster:
        grid_env = cluster.env(env)
        grid_env['train_cmd'] = grid_env['cuda_cmd'] = slurm_pl
        # run.pl's run goes on beside: the grid's run is mostly waiting.
        with ThreadPoolExecutor(1) as pool:
            local = pool.submit(run_recipes, base, kaldi_root, env)
            grid = run_recipes(base, kaldi_root, grid_env)
            local = local.result()
        finished = cluster.finished_jobs()
        daemons = list(cluster.procs)
    left = [name for name, proc in daemons if proc.poll() is None]
    return {'run.pl': local, 'slurm.pl': grid, 'finished': finished, 'daemons left': left}


@pytest.mark.slurm
def test_slurm_tables_and_scores_equal_run_pl(runs):
    (local, _), (grid, err) = runs['run.pl'], runs['slurm.pl']
    table = (grid / 'results' / 'results.md').read_text()
    assert table == (local / 'results' / 'results.md').read_text()
    # 2 back-ends on x-vectors and on a-vectors, one set.
    assert len([l for l in table.splitlines() if l.startswith('| ')]) == 1 + 4
    scores = sorted(str(p.relative_to(local)) for p in local.rglob('scores_*'))
    # Each back-end's scores and the 3 parts they were put together from (--nj 3).
    assert len([s for s in scores if '/split3/' not in s]) == 4 and len(scores) == 16
    assert scores == sorted(str(p.relative_to(grid)) for p in grid.rglob('scores_*'))
    for name in scores:
        assert (grid / name).read_text() == (local / name).read_text(), name
    assert 'engine for back-end tools: kaldi' in err


@pytest.mark.slurm
def test_every_job_was_run_by_slurm(runs):
    (local, _), (grid, _) = runs['run.pl'], runs['slurm.pl']
    logs = job_logs(grid)
    assert sorted(logs) == sorted(job_logs(local))     # the same jobs, under either runner
    # --nj 3: the extraction and the scoring were split into 3 jobs each.
    for n in (1, 2, 3):
        assert 'vectors/ae/log/extract.%d.log' % n in logs
        assert 'backend/xvector/sitw_dev/log/plda.%d.log' % n in logs
    ids = {}
    for name, text in logs.items():
        found = SLURM_JOB_LINE.findall(text)
        assert len(found) == 1, (name, text[:1500])
        assert re.search(r'^# Finished at .* with status 0$', text, re.M), (name, text[-1500:])
        ids[name] = found[0]
    assert len(set(ids.values())) == len(ids)          # one Slurm job (array task) per log
    finished = runs['finished']
    assert runs['daemons left'] == []                   # munged, slurmctld, slurmd all ended
    assert {name: finished.get(i) for name, i in ids.items()} == {name: 'COMPLETED' for name in ids}
    # Kaldi's binaries ran in the jobs: KALDI_ROOT reached the node.
    assert KALDI_LOG_LINE.search(logs['backend/xvector/log/plda.log'])
    assert 'model.train' in logs['ae/log/train.log'] or 'epoch' in logs['ae/log/train.log']


def test_cmd_sh_keeps_runners_set_in_the_environment():
    script = '. ./path.sh && . ./cmd.sh && echo "$train_cmd|$cuda_cmd"'
    env = dict(os.environ, train_cmd='slurm.pl --mem 2G', cuda_cmd='slurm.pl --gpu 1')
    out = subprocess.run(['sh', '-c', script], cwd=ROOT, env=env, capture_output=True, text=True)
    # A Kaldi runner goes through local/kaldi_runner.sh (its failed jobs get an ERROR line).
    wrap = os.path.join(ROOT, 'local', 'kaldi_runner.sh') + ' '
    assert out.stdout.strip() == wrap + 'slurm.pl --mem 2G|' + wrap + 'slurm.pl --gpu 1', out.stderr
    # Only train_cmd set: training's runner follows it.
    env.pop('cuda_cmd')
    env['PATH'] = os.pathsep.join(p for p in env['PATH'].split(os.pathsep)
                                  if not os.path.exists(os.path.join(p, 'nvidia-smi')))
    out = subprocess.run(['sh', '-c', script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == wrap + 'slurm.pl --mem 2G|' + wrap + 'slurm.pl --mem 2G', out.stderr
    # Neither set: cmd.sh's own choice.
    env.pop('train_cmd')
    env.pop('KALDI_ROOT', None)
    out = subprocess.run(['sh', '-c', script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == 'local/run_log.sh|local/run_log.sh', out.stderr



def test_missing_slurm_without_root_skips_with_one_line(monkeypatch):
    import slurm_cluster
    monkeypatch.setattr(slurm_cluster, '_which', lambda name: None if name == 'slurmd' else '/bin/' + name)
    monkeypatch.setattr(slurm_cluster.os, 'geteuid', lambda: 1000)
    with pytest.raises(pytest.skip.Exception) as skipped:
        slurm_cluster.ensure_installed()
    assert str(skipped.value) == ('Slurm not available: slurmd missing and no root apt-get to install '
                                  'slurm-wlm munge')


def test_path_sh_in_a_grid_job_leaves_the_environment_as_it_is(tmp_path):
    """A job's path.sh must not reinstall the Python environment the other jobs are using."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    # A stand-in that fails: an install attempt would show as path.sh's ERROR.
    (venv / 'bin' / 'python').write_text('#!/bin/sh\nexit 1\n')
    (venv / 'bin' / 'python').chmod(0o755)
    (venv / '.requirements.sha256').write_text('made for other requirements\n')
    script = '. ./path.sh && command -v python'
    env = dict(os.environ, VV_VENV=str(venv), SLURM_JOB_ID='7')
    out = subprocess.run(['sh', '-c', script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(venv / 'bin' / 'python')
    assert out.stderr.splitlines() == ['path.sh: grid job: using %s as it is (installed for other '
                                       'requirements; source path.sh on the submit host to update it)'
                                       % venv]
    assert (venv / '.requirements.sha256').read_text() == 'made for other requirements\n'
