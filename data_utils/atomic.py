"""Atomic file writes: the one way this project writes a result file.

The data go to a temp file beside the target, which is renamed over it only once
everything was written, so a reader (or a rerun after a crash) never sees half a file
and a failed write leaves any previous file as it was.
"""
import contextlib
import os
import tempfile

from data_utils.errors import UserError


def make_temp_beside(path):
    """(fd, temp path) in the target's directory, with the permissions a plain open
    would give (mkstemp's are 0600, which would leave results unreadable to others)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(path, 'cannot open for writing: no such directory')
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


class AtomicFile:
    """A binary file written under a temp name: commit() renames it into place,
    abort() removes it."""

    def __init__(self, path):
        self.path = path
        fd, self.tmp = make_temp_beside(path)
        self.stream = os.fdopen(fd, 'wb')

    def commit(self):
        try:
            self.stream.close()    # flushes: a full disk may fail here
            os.replace(self.tmp, self.path)
        except BaseException:
            self._remove_temp()
            raise

    def abort(self):
        try:
            self.stream.close()
        except OSError:            # the flush fails again on a full disk; the data go anyway
            pass
        self._remove_temp()

    def _remove_temp(self):
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


@contextlib.contextmanager
def atomic_open(path, mode='wb', encoding=None):
    """`with atomic_open(path, 'w') as f:` -- the file appears at `path` only if the
    block completes; on any exception the temp file is removed and `path` is untouched."""
    fd, tmp = make_temp_beside(path)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as stream:
            yield stream
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path, write_fn, mode='wb'):
    """Write `path` through write_fn(stream), atomically (see atomic_open)."""
    with atomic_open(path, mode) as stream:
        write_fn(stream)
