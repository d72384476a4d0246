"""Pipelines of our own tools, run in processes forked from the tool that reads them.

A recipe hands a tool an rspecifier such as

    "ark:ivector-subtract-global-mean mean.vec scp:test.scp ark:- | transform-vec lda.mat ark:- ark:- | ivector-normalize-length ark:- ark:- |"

With Kaldi's binaries each command starts in milliseconds. Ours are Python: each would start
an interpreter and import numpy, about 0.2 s, and one eval.sh back-end stage on the demo
starts some 200 of them (70 CPU-seconds of 87). When every command of such a line is one
of our tools, as local/bin names them, each runs instead in a child forked from this
process, where numpy is loaded already. The children are still separate processes joined
by pipes, as the shell would join them: they stream, and memory stays as it was.
A line with anything else in it (another program, quotes, redirections, variables) goes to
the shell as before. VV_PIPES=shell sends every line to the shell.

One difference from the shell, on purpose: a command that fails fails the read, whichever
command of the line it is (the shell reports the last one's status only, so a failed first
command would hand on a truncated table).
"""
import io
import os
import re
import shutil
import signal
import sys
import traceback

BIN = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bin'))
# Words the shell takes as they are: no quotes, no $, no globs, no redirections.
PLAIN_WORD = re.compile(r'^[A-Za-z0-9_./:,=+@%-]+$')
# The module a wrapper in local/bin runs: "... exec python3 -m kaldi_compat.<module> "$@"".
WRAPPED_MODULE = re.compile(r'python3 -m (kaldi_compat\.\w+) "\$@"\s*$')


def our_tool(word):
    """The kaldi_compat module that the command `word` runs, if PATH finds it in local/bin
    (not Kaldi's binary of the same name); else None."""
    path = shutil.which(word)
    if path is None or os.path.dirname(os.path.realpath(path)) != BIN:
        return None
    try:
        with open(path) as wrapper:
            match = WRAPPED_MODULE.search(wrapper.read())
    except OSError:
        return None
    return match.group(1) if match else None


def parse(cmd):
    """[(module, args), ...] for a line of our tools joined by '|', in plain words; else None."""
    if os.environ.get('VV_PIPES') == 'shell':
        return None
    stages = []
    for part in cmd.split('|'):
        words = part.split()
        if not words or not all(PLAIN_WORD.match(word) for word in words):
            return None
        module = our_tool(words[0])
        if module is None:
            return None
        stages.append((module, words[1:]))
    return stages


def exit_status(wait_status):
    """A child's status as the shell gives it: its exit code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class ForkedPipeline:
    """The running line: `stdout` to read, wait() and kill() as subprocess.Popen has them."""

    def __init__(self, pids, stdout):
        self.pids = pids
        self.stdout = stdout

    def wait(self):
        """The first non-zero status among the commands, else 0 (each is waited for)."""
        statuses = [exit_status(os.waitpid(pid, 0)[1]) for pid in self.pids]
        return next((status for status in statuses if status), 0)

    def kill(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start(cmd):
    """Start `cmd` as forked children if it is a line of our tools: a ForkedPipeline whose
    stdout is the last command's output; None when the shell must run it."""
    stages = parse(cmd)
    if stages is None:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    input_fd = None          # the first command reads our standard input, as in the shell
    for module, args in stages:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            run_child(module, args, input_fd, write_fd)
        os.close(write_fd)
        if input_fd is not None:
            os.close(input_fd)
        input_fd = read_fd
        pids.append(pid)
    return ForkedPipeline(pids, os.fdopen(input_fd, 'rb'))


def run_child(module, args, input_fd, output_fd):
    """In the forked child: the tool's main with `input_fd` (or our stdin) and `output_fd` as
    its standard streams; never returns."""
    status = 1
    try:
        if input_fd is not None:
            os.dup2(input_fd, 0)
        os.dup2(output_fd, 1)
        # Every other descriptor goes, as an exec'd command would have them closed: a
        # child holding the write end of another pipe would keep its reader from the end.
        os.closerange(3, os.sysconf('SC_OPEN_MAX') if hasattr(os, 'sysconf') else 1024)
        # Fresh streams: the parent's may hold buffered data of its own.
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, 'rb', closefd=False)))
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, 'wb', closefd=False)))
        import importlib
        from kaldi_compat.cli import run_tool
        tool = importlib.import_module(module)
        run_tool(tool.NAME, tool.main, args)
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:   # a bug: its traceback, as the interpreter would print it
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:   # noqa: BLE001  (nothing more can be said from here)
            pass
        os._exit(status)
