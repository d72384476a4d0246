"""The one error type of the project, and the one way an entry point reports it.

Every command-line entry point (data_utils, model, local and the Kaldi-named tools)
raises UserError for a problem with the user's input, and runs its main() through
run_main(), which prints it as ONE line on stderr,

    ERROR (<prog>): <file>: <problem>

and exits with status 1: never a traceback, so the shell recipes driving us (and the
run.pl-style logs) show the reason directly.
"""
import contextlib
import errno
import os
import sys


class UserError(Exception):
    """A problem with the user's input (a file, an option, a model dir).

    UserError(message) or UserError(path, problem): the parts are joined with ': ',
    so that the file comes first, as in Kaldi's messages.
    """

    def __init__(self, *parts):
        text = ': '.join(str(part) for part in parts if part is not None)
        super().__init__(text)


@contextlib.contextmanager
def file_errors(path):
    """Inside the block, an OSError (no such file, no permission, a full disk) becomes
    a UserError naming the file: the error's own file name when it has one, else path.
    Wrap the file operations themselves, so that only their failures are reported so."""
    try:
        yield
    except OSError as err:
        raise UserError(err.filename or path, err.strerror or str(err)) from None


def error_line(prog, err):
    """The one-line message for an error; embedded line breaks are folded."""
    return ' '.join(('ERROR (%s): %s' % (prog, err)).split('\n'))


def run_main(prog, main, argv=None, echo=False):
    """Run main(argv) and exit with its status; a UserError becomes one ERROR line
    and status 1. echo=True prints the command line first, as Kaldi's binaries do
    (it makes logs self-describing)."""
    argv = sys.argv[1:] if argv is None else argv
    if echo:
        print(' '.join([prog] + list(argv)), file=sys.stderr, flush=True)
    try:
        status = main(argv)
    except UserError as err:
        _report(prog, err)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): as with Kaldi, not our error to report.
        _silence_stdout()
        sys.exit(1)
    except OSError as err:
        # A system fault no tool wrapped (a full disk, no permission, a read-only file
        # system, an I/O error): one line naming the file too. Outputs are written through
        # data_utils.atomic, so nothing half-written is left behind.
        _report(prog, os_error(err, '(output)'))
    except Exception as err:  # noqa: BLE001  (only TensorFlow's own errors are handled)
        if not type(err).__module__.startswith('tensorflow'):
            raise
        _report(prog, tf_error(err))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as err:   # stdout redirected to a file on a full disk
        _silence_stdout()
        _report(prog, os_error(err, '(standard output)'))
    sys.exit(status or 0)


def os_error(err, path):
    """UserError for an OSError: '<its file, else path>: <strerror>'."""
    return UserError(err.filename or path, err.strerror or str(err))


# The system errors a write can meet, as TensorFlow words them after '<file>; '.
_WRITE_FAULTS = [os.strerror(code) for code in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO,
                                                errno.EDQUOT, errno.EFBIG)]


def tf_error(err):
    """UserError for one of TensorFlow's errors (an OpError such as ResourceExhaustedError
    from a Saver on a full disk, or the summary writer's RuntimeError). TensorFlow writes
    '<file>; <reason>' somewhere in a message of several lines (after 'Graph execution
    error:' and before the op's context); that part is kept, else the first line."""
    text = getattr(err, 'message', None) or str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(err).__name__]
    for line in lines:
        for fault in _WRITE_FAULTS:
            if line.endswith('; ' + fault) or ('; ' + fault + ' ') in line + ' ':
                path = line.split('; ' + fault)[0].split()[-1]
                return UserError(path, fault)
    return UserError(lines[0])


def _report(prog, err):
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()
    print(error_line(prog, err), file=sys.stderr, flush=True)
    sys.exit(1)


def _silence_stdout():
    """Point stdout at /dev/null so that Python's own flush at exit cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
