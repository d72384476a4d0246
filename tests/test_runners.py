"""Jobs through Kaldi-style runners: local/run_log.sh (run.pl's arguments and logs),
--nj splitting of extraction and scoring, and the one-run-per-dir lock of the recipes."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.demo_corpus import DemoConfig, make_corpus
from helpers import ROOT, env, write_data_dir

TINY = DemoConfig(dim=24, latent_dim=12, speaker_dim=6, session_dim=4, train_speakers=30,
                  utts_per_train_speaker=4, eval_speakers=10, test_utts_per_speaker=3,
                  nontarget_per_model=5, domain_speakers=6, seed=5)


def sh(*args, environ=None, **kw):
    return subprocess.run([str(a) for a in args], cwd=ROOT, env=environ or env(),
                          capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------- run_log.sh

def without_dates(text):
    text = re.sub(r'(time=)\d+', r'\1<s>', text)
    return re.sub(r'(Started at|\) at) .*', r'\1 <date>', text)


def test_run_log_job_array_substitutes_runs_and_logs(tmp_path):
    logs = tmp_path / 'log'
    out = sh('local/run_log.sh', '--mem', '2G', 'JOB=1:3', logs / 'job.JOB.log',
             'echo', 'part JOB of "3"', '|', 'tr', 'a-z', 'A-Z')
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(logs)) == ['job.1.log', 'job.2.log', 'job.3.log']
    lines = (logs / 'job.2.log').read_text().splitlines()
    # run.pl's layout: the command as run (quoted where it has spaces), start, '#',
    # the output, accounting, end with the exit code.
    assert lines[0] == "# echo 'part 2 of \"3\"' | tr a-z A-Z "
    assert lines[1].startswith('# Started at ') and lines[2] == '#'
    assert lines[3] == 'PART 2 OF "3"'
    assert re.fullmatch(r'# Accounting: time=\d+ threads=1', lines[4])
    assert re.fullmatch(r'# Ended \(code 0\) at .*, elapsed time \d+ seconds', lines[5])
    # Several jobs and one log name is refused, as run.pl refuses it.
    out = sh('local/run_log.sh', 'JOB=1:2', logs / 'one.log', 'true')
    assert out.returncode == 1 and 'one log file' in out.stderr


def test_run_log_reports_the_failing_job(tmp_path):
    logs = tmp_path / 'log'
    out = sh('local/run_log.sh', '--max-jobs-run', '2', 'JOB=1:3', logs / 'x.JOB.log', 'sh', '-c',
             'if [ JOB = 2 ]; then echo "ERROR (tool): part JOB: broken" >&2; exit 4; fi; echo fine JOB')
    assert out.returncode == 1
    assert 'ERROR (tool): part 2: broken' in out.stderr
    assert 'job 2 failed with status 4; see %s' % (logs / 'x.2.log') in out.stderr
    assert '1 / 3 failed' in out.stderr
    assert str(logs / 'x.1.log') not in out.stderr and str(logs / 'x.3.log') not in out.stderr
    assert '# Ended (code 4)' in (logs / 'x.2.log').read_text()
    for n in (1, 3):   # the other jobs ran to the end
        text = (logs / ('x.%d.log' % n)).read_text()
        assert 'fine %d' % n in text and '# Ended (code 0)' in text
    # A single job keeps its own exit status.
    out = sh('local/run_log.sh', logs / 'single.log', 'sh', '-c', 'exit 3')
    assert out.returncode == 3 and str(logs / 'single.log') in out.stderr


def test_run_log_writes_the_logs_of_kaldis_run_pl(tmp_path):
    """The same arguments through Kaldi's own run.pl: the same logs, dates aside."""
    import kaldi_oracle
    run_pl = os.path.join(kaldi_oracle.kaldi_root(), 'egs', 'wsj', 's5', 'utils', 'run.pl')
    if not os.path.isfile(run_pl):
        pytest.skip('%s not found' % run_pl)
    # (A word's own quotes are data to run_log.sh, which never re-parses a word; run.pl's
    # shell strips them. The words here hold none, so both runners print the same.)
    command = ['JOB=2:3', 'echo', 'job JOB', 'ark:x JOB |', '|', 'sed', 's/o/0/']
    for runner, name in ((run_pl, 'kaldi'), ('local/run_log.sh', 'ours')):
        out = sh(runner, '--gpu', '0', *command[:1], tmp_path / name / 'a.JOB.log', *command[1:])
        assert out.returncode == 0, out.stderr
    for n in (2, 3):
        ours = (tmp_path / 'ours' / ('a.%d.log' % n)).read_text()
        assert without_dates(ours) == without_dates((tmp_path / 'kaldi' / ('a.%d.log' % n)).read_text())
        assert 'j0b %d' % n in ours


def kaldi_run_pl():
    import kaldi_oracle
    run_pl = os.path.join(kaldi_oracle.kaldi_root(), 'egs', 'wsj', 's5', 'utils', 'run.pl')
    if not os.path.isfile(run_pl):
        pytest.skip('%s not found' % run_pl)
    return run_pl


def error_lines(text):
    return [l for l in text.splitlines() if l.startswith('ERROR')]


def test_kaldi_runner_reports_a_failed_job_of_run_pl_in_an_error_line(tmp_path):
    """Kaldi's run.pl says only "run.pl: job failed, log is in ...": through
    local/kaldi_runner.sh (cmd.sh puts it in front of a Kaldi runner) each failed job's
    ERROR lines are repeated and its log named, or one ERROR line of ours names the log."""
    run_pl = kaldi_run_pl()
    wrap = ['local/kaldi_runner.sh', run_pl]
    # The job's own ERROR line, then its log.
    out = sh(*wrap, tmp_path / 'a.log', 'sh', '-c', 'echo "ERROR (tool): x: broken" >&2; exit 4')
    assert out.returncode == 1
    assert error_lines(out.stderr) == ['ERROR (tool): x: broken']
    assert 'run.pl: job failed with status 4; see %s' % (tmp_path / 'a.log') in out.stderr
    # No ERROR line of its own: one of ours, with its status.
    out = sh(*wrap, tmp_path / 'b.log', 'sh', '-c', 'exit 3')
    assert out.returncode == 1
    assert error_lines(out.stderr) == ['ERROR (run.pl): job failed with status 3; see %s' % (tmp_path / 'b.log')]
    # A job of an array killed: only it is named.
    out = sh(*wrap, '--max-jobs-run', 1, 'JOB=1:3', tmp_path / 'c.JOB.log', 'sh', '-c',
             'if [ JOB = 2 ]; then kill -9 $$; fi; echo fine')
    assert out.returncode == 1
    assert error_lines(out.stderr) == [
        'ERROR (run.pl): job failed with status 137 (killed) (job 2); see %s' % (tmp_path / 'c.2.log')]
    # Success says nothing more than run.pl does.
    out = sh(*wrap, 'JOB=1:2', tmp_path / 'd.JOB.log', 'true')
    assert out.returncode == 0 and out.stderr == ''


def test_a_grid_job_that_never_ran_stops_the_recipe_with_an_error_line(tmp_path):
    """A grid runner whose job never starts (sbatch refused it) leaves no log: the recipe
    stops with one ERROR line naming the job's log, not with the runner's own words alone.
    The stand-in slurm.pl fails as Kaldi's does when sbatch refuses a job."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'slurm.pl'
    fake.write_text('#!/bin/sh\necho "sbatch: error: invalid partition specified: gpu" >&2\n'
                    'echo "slurm.pl: error submitting jobs to queue" >&2\nexit 1\n')
    fake.chmod(0o755)
    make_corpus(str(tmp_path / 'data'), TINY)
    environ = env()
    environ.pop('KALDI_ROOT', None)
    environ['PATH'] = str(bin_dir) + os.pathsep + environ['PATH']
    environ['train_cmd'] = 'slurm.pl --mem 2G'
    environ.pop('cuda_cmd', None)
    out = sh('sh', 'baseline.sh', '--data', tmp_path / 'data', '--exp', tmp_path / 'exp',
             '--lda-dim', 5, '--pca-dim', 5, environ=environ)
    assert out.returncode != 0
    errors = error_lines(out.stderr)
    assert len(errors) == 1, out.stderr
    assert errors[0].startswith('ERROR (slurm.pl): job failed with status 1 (no end in its log')
    assert str(tmp_path / 'exp') in errors[0] and errors[0].endswith('.log')


# --------------------------------------------------------------------------- --nj

@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp('runners')
    make_corpus(str(base / 'data'), TINY)
    return base


@pytest.fixture(scope='module')
def tiny_model(corpus):
    model = corpus / 'vae'
    out = sh(sys.executable, '-m', 'model.train', '--train-npz', npz_of(corpus), '--model-dir', model,
             '--epochs', 2, '--hidden-dim', 16, '--code-dim', 5, '--num-threads', 1)
    assert out.returncode == 0, out.stderr
    return model


def npz_of(corpus):
    path = corpus / 'train.npz'
    if not path.exists():
        out = sh(sys.executable, '-m', 'data_utils.ark2npz', '--data-dir', corpus / 'data' / 'train', path)
        assert out.returncode == 0, out.stderr
    return path


def test_extraction_with_three_jobs_equals_one_job(corpus, tiny_model, tmp_path):
    # Two inputs: the training set (xvector.scp) and a set with only an ark.
    keys, vectors = kt.read_vector_table('scp:%s' % (corpus / 'data' / 'sitw_dev' / 'test' / 'xvector.scp'))
    with open(corpus / 'data' / 'sitw_dev' / 'test' / 'utt2spk') as f:
        utt2spk = dict(line.split() for line in f)
    ark_only = tmp_path / 'ark_only'
    write_data_dir(str(ark_only), {k: utt2spk[k] for k in keys}, vectors, scp=False)
    inputs = [corpus / 'data' / 'train', ark_only]
    results = {}
    for nj in (1, 3):
        pairs = []
        for i, source in enumerate(inputs):
            pairs += [source, tmp_path / ('nj%d' % nj) / str(i)]
        out = sh('local/extract_embeddings.sh', '--nj', nj, '--cmd', 'local/run_log.sh', tiny_model,
                 tmp_path / 'log' / ('extract%d.log' % nj), *pairs)
        assert out.returncode == 0, out.stderr
        results[nj] = [kt.read_vector_table('scp:%s' % (pairs[j] / 'xvector.scp'))
                       for j in range(1, len(pairs), 2)]
    logs = sorted(os.listdir(tmp_path / 'log'))
    assert logs == ['extract1.log', 'extract3.1.log', 'extract3.2.log', 'extract3.3.log']
    # Kaldi's split layout in the input dir: consecutive parts, sizes within one of each other.
    sizes = [len(open(inputs[1] / 'split3' / str(n) / 'xvector.scp').readlines()) for n in (1, 2, 3)]
    assert sum(sizes) == len(keys) and max(sizes) - min(sizes) <= 1
    assert '--input scp:%s/split3/1/xvector.scp' % inputs[0] in (tmp_path / 'log' / 'extract3.1.log').read_text()
    for (keys1, vec1), (keys3, vec3), source in zip(results[1], results[3], inputs):
        source_keys = kt.read_vector_table('ark:%s' % (source / 'xvector.ark'))[0]
        assert keys1 == keys3 == source_keys              # the input's order
        assert vec1.shape == (len(source_keys), 5)
        np.testing.assert_array_equal(vec1, vec3)
    for n in (1, 2, 3):
        assert (tmp_path / 'nj3' / '1' / ('xvector.%d.ark' % n)).is_file()
    assert (tmp_path / 'nj3' / '1' / 'utt2spk').read_text() == (ark_only / 'utt2spk').read_text()


def test_scoring_with_three_jobs_equals_one_job(corpus, tmp_path):
    data = corpus / 'data'
    models, trials_file = tmp_path / 'backend', data / 'sitw_dev' / 'trials'
    runner = ['--cmd', 'local/run_log.sh']
    out = sh('local/train_backends.sh', *runner, '--lda-dim', 4, '--pca-dim', 4, data / 'train', models)
    assert out.returncode == 0, out.stderr
    for nj in (1, 3):
        out = sh('local/score_backends.sh', *runner, '--nj', nj, '--backends', 'cosine plda', models,
                 data / 'sitw_dev' / 'enroll', data / 'sitw_dev' / 'test', trials_file, tmp_path / ('nj%d' % nj))
        assert out.returncode == 0, out.stderr
        out = sh('local/compute_metrics.sh', *runner, '--backends', 'cosine plda', 'xvector', 'sitw_dev',
                 trials_file, tmp_path / ('nj%d' % nj), tmp_path / ('nj%d' % nj) / 'results.tsv')
        assert out.returncode == 0, out.stderr
    trials = trials_file.read_text().splitlines()
    for backend in ('cosine', 'plda'):
        scores = (tmp_path / 'nj3' / ('scores_' + backend)).read_text()
        assert scores == (tmp_path / 'nj1' / ('scores_' + backend)).read_text()
        assert [l.split()[:2] for l in scores.splitlines()] == [t.split()[:2] for t in trials]
        for n in (1, 2, 3):
            assert (tmp_path / 'nj3' / 'log' / ('%s.%d.log' % (backend, n))).is_file()
        # Each metric is a job with its own log.
        for metric in ('eer', 'mindcf_0.01', 'mindcf_0.001'):
            assert '# Ended (code 0)' in (tmp_path / 'nj3' / 'log' / ('%s.%s.log' % (backend, metric))).read_text()
    assert (tmp_path / 'nj3' / 'results.tsv').read_text() == (tmp_path / 'nj1' / 'results.tsv').read_text()
    parts = [(tmp_path / 'nj3' / 'split3' / str(n) / 'trials').read_text() for n in (1, 2, 3)]
    assert ''.join(parts).splitlines() == trials
    # Progress of the long steps is in the logs: PLDA per EM iteration.
    plda_log = (models / 'log' / 'plda.log').read_text()
    assert [int(n) for n in re.findall(r'Plda estimation iteration (\d+) of 10', plda_log)] == list(range(10))


def test_scoring_progress_lines_per_million_trials(capsys):
    from kaldi_compat.cli import log_progress
    done = 0
    for piece in (400000, 400000, 400000, 1900000, 100000):   # pieces as a scorer writes them
        log_progress('ivector-plda-scoring', done, done + piece, 'scored trials')
        done += piece
    assert capsys.readouterr().err.splitlines() == [
        'LOG (ivector-plda-scoring) Scored trials 1000000 so far',
        'LOG (ivector-plda-scoring) Scored trials 3000000 so far']


def test_split_refuses_more_jobs_than_items(tmp_path):
    (tmp_path / 'trials').write_text('a b target\nc d nontarget\n')
    out = sh(sys.executable, '-m', 'data_utils.split_data', '--lines', tmp_path / 'trials', 3, tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == 'ERROR (split_data): %s: 2 items cannot be split into 3 jobs' % (tmp_path / 'trials')
    assert not (tmp_path / 'split3').exists()


# --------------------------------------------------------------------------- lock

def lock_holder(directory, seconds, python=False):
    script = '. local/lock.sh; take_lock "$1" holder || exit 1; echo locked; sleep %d' % seconds
    e = env()
    if python:
        e['VV_LOCK_WITH_PYTHON'] = '1'
    proc = subprocess.Popen(['sh', '-c', script, 'holder', str(directory)], cwd=ROOT, env=e,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


@pytest.mark.parametrize('python', [False, True], ids=['flock', 'python-fcntl'])
def test_lock_refuses_a_second_holder_and_ends_with_its_holder(tmp_path, python):
    first = lock_holder(tmp_path / 'exp', 30, python)
    e = dict(env(), VV_LOCK_WITH_PYTHON='1') if python else env()
    second = sh('sh', '-c', '. local/lock.sh; take_lock "$1" second && echo got', 'x', tmp_path / 'exp',
                environ=e)
    assert second.returncode == 1 and 'got' not in second.stdout
    assert second.stderr.count('\n') == 1
    assert second.stderr.startswith('ERROR (second): %s is in use by another run (pid %d, started '
                                    % (tmp_path / 'exp', first.pid))
    # However the run ends (here killed, with its jobs, as Ctrl-C kills them), the kernel
    # releases the lock: no stale lock to clean up. A job still running keeps it.
    os.killpg(first.pid, 9)
    first.wait()
    third = sh('sh', '-c', '. local/lock.sh; take_lock "$1" third && echo got', 'x', tmp_path / 'exp',
               environ=e)
    assert third.returncode == 0 and third.stdout.strip() == 'got'


def test_two_concurrent_train_runs_on_one_exp(corpus, tmp_path):
    """The second train.sh (and an eval.sh) on the same --exp refuses at once, naming the
    first; the first finishes undisturbed."""
    exp = tmp_path / 'exp'
    args = ['--data', corpus / 'data', '--exp', exp, '--model', 'vae']
    train = ['--hidden-dim', 16, '--code-dim', 4, '--num-threads', 1]
    first = subprocess.Popen(['sh', 'train.sh'] + [str(a) for a in args + train + ['--epochs', 40]], cwd=ROOT,
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ((exp / '.lock').exists() and 'pid' in (exp / '.lock').read_text()):
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.1)
    for script, options in (('train.sh', train), ('eval.sh', [])):
        started = time.time()
        second = sh('sh', script, *args, *options)
        assert second.returncode == 1
        errors = [line for line in second.stderr.splitlines() if line.startswith('ERROR')]
        assert errors == [line for line in second.stderr.splitlines() if line.strip()], second.stderr
        assert len(errors) == 1
        assert re.match(r'ERROR \(%s\): %s is in use by another run \(pid %d, started \S+ \S+, '
                        r'command: sh train\.sh --data ' % (script, re.escape(str(exp)), first.pid),
                        errors[0]), errors[0]
        assert time.time() - started < 15 and first.poll() is None
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert 'epoch 40/40' in (exp / 'vae' / 'log' / 'train.log').read_text()
