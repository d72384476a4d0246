"""local/tasks.sh: steps run at the same time, reported as if run one after the other.

A fault that fails every task at once (a full disk) must still give one ERROR line, and
the output must come in the order the tasks were started, whatever order they end in.
"""
import os
import subprocess

from helpers import ROOT

# Two shell functions the tasks run: one that says something and succeeds after a delay,
# one that prints an ERROR line of its own and fails.
FUNCTIONS = r'''
ok() { sleep "$2"; echo "out $1"; echo "err $1" >&2; }
bad() { sleep "$2"; echo "progress $1" >&2; echo "ERROR (bad): $1 failed" >&2; return 3; }
silent() { return 4; }
'''


def run_tasks(body, tmpdir=None):
    env = dict(os.environ, recipe='test.sh')
    if tmpdir is not None:
        env['TMPDIR'] = str(tmpdir)
    script = '. local/tasks.sh\n' + FUNCTIONS + body
    return subprocess.run(['sh', '-c', script], cwd=ROOT, env=env, capture_output=True, text=True)


def errors(out):
    return [line for line in out.stderr.splitlines() if line.startswith('ERROR')]


def test_output_comes_in_start_order_whatever_order_the_tasks_end_in(tmp_path):
    out = run_tasks('task_start ok 1 0.6; task_start ok 2 0; tasks_wait; echo "rc $?"', tmp_path)
    assert out.stdout.splitlines() == ['out 1', 'out 2', 'rc 0']
    assert out.stderr.splitlines() == ['err 1', 'err 2']
    assert os.listdir(tmp_path) == []          # the temporary dir is gone


def test_tasks_run_at_the_same_time(tmp_path):
    # Three tasks of 0.5 s each: one after the other they would take 1.5 s.
    out = run_tasks('s=$(date +%s%N); task_start ok 1 0.5; task_start ok 2 0.5; task_start ok 3 0.5; '
                    'tasks_wait; echo $(( ($(date +%s%N) - s) / 1000000 ))', tmp_path)
    assert int(out.stdout.splitlines()[-1]) < 1200


def test_every_task_failing_gives_one_error_line_the_first_tasks(tmp_path):
    out = run_tasks('task_start bad 1 0.3; task_start bad 2 0; task_start ok 3 0; tasks_wait || exit 1',
                    tmp_path)
    assert out.returncode == 1
    assert errors(out) == ['ERROR (bad): 1 failed']
    # The first task's output up to its failure, nothing of the later ones.
    assert out.stderr.splitlines() == ['progress 1', 'ERROR (bad): 1 failed']
    assert out.stdout == ''


def test_a_later_failure_follows_the_earlier_tasks_output(tmp_path):
    out = run_tasks('task_start ok 1 0; task_start bad 2 0; tasks_wait || exit 1', tmp_path)
    assert out.returncode == 1
    assert out.stdout.splitlines() == ['out 1']
    assert out.stderr.splitlines() == ['err 1', 'progress 2', 'ERROR (bad): 2 failed']


def test_a_failure_without_an_error_line_gets_one(tmp_path):
    out = run_tasks('task_start silent "a b"; tasks_wait || exit 1', tmp_path)
    assert out.returncode == 1
    assert errors(out) == ['ERROR (test.sh): failed with status 4: silent a b']


def test_without_a_temporary_dir_the_tasks_run_in_turn_and_stop_at_the_first_failure(tmp_path):
    out = run_tasks('task_start ok 1 0; task_start bad 2 0; task_start ok 3 0; tasks_wait || exit 1',
                    tmp_path / 'missing')
    assert out.returncode == 1
    assert errors(out) == ['ERROR (bad): 2 failed']
    assert out.stdout.splitlines() == ['out 1']       # task 3 never ran
    # A second batch after a successful one starts afresh.
    out = run_tasks('task_start ok 1 0; tasks_wait; task_start ok 2 0; tasks_wait; echo "rc $?"',
                    tmp_path / 'missing')
    assert out.stdout.splitlines() == ['out 1', 'out 2', 'rc 0']


def test_a_task_may_run_tasks_of_its_own(tmp_path):
    out = run_tasks('pair() { task_start ok "$1a" 0.2; task_start ok "$1b" 0; tasks_wait; }\n'
                    'task_start pair 1; task_start pair 2; tasks_wait; echo "rc $?"', tmp_path)
    assert out.stdout.splitlines() == ['out 1a', 'out 1b', 'out 2a', 'out 2b', 'rc 0']
    assert os.listdir(tmp_path) == []
