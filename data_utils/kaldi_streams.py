"""Kaldi's rxfilenames and wxfilenames opened as binary streams.

An rxfilename is '-' (or '') for standard input, 'cmd |' for a command's output,
'file:offset' for a position in a file (what an scp points at), or a file. A
wxfilename is '-' for standard output, '| cmd' for a command's input, or a file.
A command's exit status is checked when its stream is done with; a file is written
atomically (data_utils.atomic), so a failed write leaves no half-written result.
"""
import contextlib
import fcntl
import io
import os
import re
import stat
import subprocess
import sys

from data_utils.atomic import AtomicFile
from data_utils.errors import UserError


# Largest piece handed to one write(). On this project's machines a 2.4 GB file
# written as 4 MB writes took a median 1.5 s of system time over 5 runs, as 512 kB
# writes 0.46 s (both vary from run to run: the cost of fresh page-cache pages).
WRITE_PIECE = 1 << 19


def write_in_pieces(write, data):
    """write(data) as writes of at most WRITE_PIECE bytes (data: bytes-like)."""
    view = memoryview(data).cast('B')
    if view.nbytes <= WRITE_PIECE:
        write(view)
        return
    for start in range(0, view.nbytes, WRITE_PIECE):
        write(view[start:start + WRITE_PIECE])


# Capacity asked for a pipe we read: Linux's default 64 kB makes a tool reading
# "ark:-" wake for every 64 kB its writer puts in (the VoxCeleb1-H "prepare vectors"
# chain read 300 MB in 0.33 s through 64 kB, 0.11 s through 1 MB).
PIPE_BYTES = 1 << 20


def widen_pipe(stream):
    """Ask for a PIPE_BYTES pipe buffer if the stream is a pipe (Linux; elsewhere, or
    above the system's limit, the pipe is left as it is)."""
    try:
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, 'F_SETPIPE_SZ', 1031), PIPE_BYTES)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def printable(text):
    """Text from a file as it goes into a message: as is when it is printable ASCII, else
    escaped as Python's ascii() does (quotes dropped), so a garbage key read from a binary
    file never sends raw bytes (escape codes, bells, line breaks) to the terminal."""
    return text if text.isascii() and text.isprintable() else ascii(text)[1:-1]


def describe(rxfilename):
    """How a file is named in messages."""
    return rxfilename if rxfilename not in ('', '-') else 'standard input'


# How a command we read from may start without a shell: a function of the command line that
# returns a running process (stdout, wait(), kill(), as subprocess.Popen has them) or None
# to leave it to the shell. Our Kaldi-named tools set kaldi_compat.pipes.start, which
# forks their own pipelines.
start_reader = None


class _Pipe:
    """A shell command's stdout (reading) or stdin (writing) as `stream`.

    commit() closes the stream and checks the command's exit status; abort() is for a
    reader or writer that failed: it stops a command we read from (it may be blocked
    writing what nobody will read) and lets one we wrote to see the end of its input.
    """

    def __init__(self, cmd, reading):
        self.cmd = cmd
        self.reading = reading
        if reading:
            self.proc = start_reader(cmd) if start_reader else None
            if self.proc is None:
                self.proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE)
            self.stream = self.proc.stdout
        else:
            self.proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE)
            self.stream = self.proc.stdin

    def commit(self):
        self.stream.close()
        status = self.proc.wait()
        if status != 0:
            raise UserError("command '%s' failed with exit status %d" % (self.cmd, status))

    def abort(self):
        if self.reading:
            self.proc.kill()
        self.stream.close()
        self.proc.wait()


class _StdOutput:
    def __init__(self):
        self.stream = sys.stdout.buffer

    def commit(self):
        self.stream.flush()

    abort = commit


@contextlib.contextmanager
def open_rx(rxfilename):
    """Yield a buffered binary stream for an rxfilename; check pipes on close."""
    name = rxfilename.strip()
    if name in ('', '-'):
        widen_pipe(sys.stdin.buffer)
        yield sys.stdin.buffer
        return
    if name.endswith('|'):
        with committed(_Pipe(name[:-1].strip(), reading=True)) as (stream,):
            widen_pipe(stream)
            yield stream
        return
    offset = None
    match = re.match(r'^(.*):(\d+)$', name)
    if match and not os.path.exists(name):
        name, offset = match.group(1), int(match.group(2))
    if '\0' in name:   # a corrupt scp's location: open() would raise ValueError
        raise UserError('%s: cannot open for reading: the name holds a NUL byte' % printable(name))
    try:
        stream = open(name, 'rb')
    except OSError as err:
        raise UserError('%s: cannot open for reading: %s' % (name, err.strerror))
    try:
        if offset is not None:
            size = os.fstat(stream.fileno()).st_size
            if offset >= size:   # else the reader finds nothing there and blames the format
                raise UserError('%s: offset %d past end of file (%d bytes)' % (name, offset, size))
            stream.seek(offset)
        yield stream
    finally:
        stream.close()


def open_wx(wxfilename):
    """An output for a wxfilename: `.stream` to write to, then commit() or abort()."""
    name = wxfilename.strip()
    if name in ('', '-'):
        return _StdOutput()
    if name.startswith('|'):
        return _Pipe(name[1:].strip(), reading=False)
    return AtomicFile(name)


@contextlib.contextmanager
def committed(*outputs):
    """Yield the outputs' streams; commit them all if the block succeeds, abort them
    (temp files deleted, commands stopped) if it raises."""
    try:
        yield [out.stream for out in outputs]
    except BaseException:
        for out in outputs:
            out.abort()
        raise
    for i, out in enumerate(outputs):
        try:
            out.commit()
        except BaseException:   # then the others are not committed either (ark and scp)
            for later in outputs[i + 1:]:
                later.abort()
            raise


@contextlib.contextmanager
def open_output(wxfilename, binary):
    """Yield a binary stream for one Kaldi object (or a text file, binary=False);
    a binary object starts with Kaldi's '\\0B' marker, written here."""
    with committed(open_wx(wxfilename)) as (stream,):
        if binary:
            stream.write(b'\0B')
        yield stream
