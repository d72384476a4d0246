"""Kaldi tables and objects: rspecifiers, wspecifiers, binary and text formats.

Reading is strict: a truncated record, a text vector without its closing ']', a
non-number, NaN/Inf or a record of a different kind raises UserError with one line
naming the key and the file. kaldi_io (which we use for writing binary float
vectors) asserts without saying where, and silently returns a short vector for a
truncated record, so the reader here is our own.

Writing is atomic for plain files: the data go to a temp file beside the target,
which is renamed over it only once everything was written.
"""
import contextlib
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

from data_utils.atomic import AtomicFile
from data_utils.errors import UserError


def _import_kaldi_io():
    """kaldi_io, imported without its side effects.

    At import kaldi_io sets KALDI_ROOT to a path of its author's when unset, prints a
    banner when that path is missing and prepends Kaldi dirs to PATH. Our tools run
    inside pipes and path.sh decides which engine is on PATH, so we import it with
    KALDI_ROOT pointing somewhere that exists and put the environment back after.
    """
    saved = {k: os.environ.get(k) for k in ('KALDI_ROOT', 'PATH')}
    os.environ.setdefault('KALDI_ROOT', os.path.sep)
    try:
        import kaldi_io as module
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module


kaldi_io = _import_kaldi_io()


_SPEC_RE = re.compile(r'^(ark|scp)((?:,[a-z]+)*):(.*)$', re.S)
_WHITESPACE = b' \t\n\r'
_FLOAT_FORMAT = '%.7g'   # Kaldi prints floats with 7 significant digits


# ----------------------------------------------------------------------------
# rxfilenames / wxfilenames: '-', 'cmd |', '| cmd', 'file', 'file:offset'

class _PipeInput:
    """stdout of a shell command, checked for its exit status at close."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE)
        self.stream = self.proc.stdout

    def close(self):
        self.stream.close()
        status = self.proc.wait()
        if status != 0:
            raise UserError("command '%s' failed with exit status %d" % (self.cmd, status))


def printable(text):
    """Text from a file as it goes into a message: as is when it is printable ASCII, else
    escaped as Python's ascii() does (quotes dropped), so a garbage key read from a binary
    file never sends raw bytes (escape codes, bells, line breaks) to the terminal."""
    return text if text.isascii() and text.isprintable() else ascii(text)[1:-1]


def describe(rxfilename):
    """How a file is named in messages."""
    return rxfilename if rxfilename not in ('', '-') else 'standard input'


@contextlib.contextmanager
def open_rx(rxfilename):
    """Yield a buffered binary stream for an rxfilename; check pipes on close."""
    name = rxfilename.strip()
    if name in ('', '-'):
        yield sys.stdin.buffer
        return
    if name.endswith('|'):
        pipe = _PipeInput(name[:-1].strip())
        try:
            yield pipe.stream
        except BaseException:
            pipe.proc.kill()
            pipe.stream.close()
            pipe.proc.wait()
            raise
        pipe.close()
        return
    offset = None
    match = re.match(r'^(.*):(\d+)$', name)
    if match and not os.path.exists(name):
        name, offset = match.group(1), int(match.group(2))
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


class _PipeOutput:
    def __init__(self, cmd):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE)
        self.stream = self.proc.stdin

    def commit(self):
        self.stream.close()
        status = self.proc.wait()
        if status != 0:
            raise UserError("command '%s' failed with exit status %d" % (self.cmd, status))

    def abort(self):
        self.stream.close()
        self.proc.wait()


class _StdOutput:
    def __init__(self):
        self.stream = sys.stdout.buffer

    def commit(self):
        self.stream.flush()

    abort = commit


def _open_wx(wxfilename):
    name = wxfilename.strip()
    if name in ('', '-'):
        return _StdOutput()
    if name.startswith('|'):
        return _PipeOutput(name[1:].strip())
    return AtomicFile(name)


@contextlib.contextmanager
def _committed(*outputs):
    """Commit all outputs if the block succeeds, abort (delete temps) if not."""
    try:
        yield [out.stream for out in outputs]
    except BaseException:
        for out in outputs:
            out.abort()
        raise
    for out in outputs:
        out.commit()


@contextlib.contextmanager
def open_output(wxfilename, binary):
    """Yield a binary stream for one Kaldi object; writes the binary header."""
    with _committed(_open_wx(wxfilename)) as (stream,):
        if binary:
            stream.write(b'\0B')
        yield stream


@contextlib.contextmanager
def open_input(rxfilename):
    """Yield (stream, is_binary) for one Kaldi object, header consumed."""
    with open_rx(rxfilename) as stream:
        _skip_whitespace(stream)
        try:
            binary = _consume_binary_header(stream)
        except UserError as err:
            raise UserError('%s: %s' % (describe(rxfilename), err))
        yield stream, binary


def _consume_binary_header(stream):
    """True (and the marker consumed) if a binary object starts here.

    Only peek(1) is sure to see a byte: at the edge of a pipe's buffer peek(2) may return
    one. A text object never starts with NUL, so that byte decides; then '\\0B' must follow.
    """
    if stream.peek(1)[:1] != b'\0':
        return False
    marker = stream.read(2)
    if marker != b'\0B':
        raise UserError('bad binary marker %r' % marker)
    return True


# ----------------------------------------------------------------------------
# Low-level readers on a buffered binary stream

def _skip_whitespace(stream):
    while True:
        head = stream.peek(1)[:64]
        if not head:
            return
        stripped = head.lstrip(_WHITESPACE)
        skip = len(head) - len(stripped)
        if skip == 0:
            return
        stream.read(skip)


def _read_word(stream):
    """Read up to (and consume) the next single whitespace char; b'' at EOF."""
    _skip_whitespace(stream)
    parts = []
    while True:
        head = stream.peek(1)[:4096]
        if not head:
            break
        cut = min((i for i in (head.find(c) for c in (b' ', b'\n', b'\t', b'\r')) if i >= 0),
                  default=-1)
        if cut >= 0:
            parts.append(stream.read(cut))
            stream.read(1)
            break
        parts.append(stream.read(len(head)))
    return b''.join(parts)


def _exact(stream, size, what):
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(what)
    return data


def read_token(stream, binary):
    """Read a token such as '<Plda>' (Kaldi ends tokens with one space)."""
    word = _read_word(stream)
    if not word:
        raise UserError('unexpected end of file while reading a token')
    return word.decode('latin1')


def expect_token(stream, binary, token):
    got = read_token(stream, binary)
    if got != token:
        raise UserError("expected token '%s', got '%s'" % (token, got))


def write_token(stream, binary, token):
    stream.write((token + ' ').encode('latin1'))


def _read_binary_array(stream, kind):
    """Binary Kaldi vector ('V') or matrix ('M') after its '\\0B' marker."""
    header = _exact(stream, 3, 'header')
    if header not in (b'F' + kind + b' ', b'D' + kind + b' '):
        raise UserError("expected a binary %s, found header %r"
                         % ('vector' if kind == b'V' else 'matrix', header.decode('latin1')))
    dtype = np.dtype('<f4') if header[0:1] == b'F' else np.dtype('<f8')
    shape = []
    for _ in range(1 if kind == b'V' else 2):
        if _exact(stream, 1, 'size') != b'\x04':
            raise UserError('bad integer size marker')
        shape.append(struct.unpack('<i', _exact(stream, 4, 'size'))[0])
    if any(n < 0 for n in shape):
        raise UserError('negative dimension %s' % (shape,))
    count = int(np.prod(shape))
    data = _exact(stream, count * dtype.itemsize, 'data')
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder('='))


def _parse_floats(words, what):
    try:
        return np.array([float(w) for w in words], dtype=np.float64)
    except ValueError:
        bad = next(w for w in words if not _is_float(w))
        raise UserError("%s: expected a number or ']', found '%s'"
                         % (what, printable(bad.decode('latin1'))))


def _is_float(word):
    try:
        float(word)
        return True
    except ValueError:
        return False


def _read_text_vector(stream):
    _skip_whitespace(stream)
    opening = stream.read(1)
    if opening != b'[':
        raise UserError("text vector does not start with '['")
    values = []
    while True:
        line = stream.readline()
        if not line:
            raise UserError("text vector has no closing ']'")
        tokens = line.split()
        for i, token in enumerate(tokens):
            if token == b']':
                if tokens[i + 1:]:
                    raise UserError("unexpected text after ']'")
                return np.array(values, dtype=np.float64)
            try:
                values.append(float(token))
            except ValueError:
                # Anything else means the ']' is missing and we ran into the next record.
                raise UserError("text vector has no closing ']' (found '%s')"
                                 % printable(token.decode('latin1')))


def _read_text_matrix(stream):
    _skip_whitespace(stream)
    if stream.read(1) != b'[':
        raise UserError("text matrix does not start with '['")
    rows = []
    while True:
        line = stream.readline()
        if not line:
            raise UserError("text matrix has no closing ']'")
        tokens = line.split()
        closed = bool(tokens) and tokens[-1] == b']'
        if closed:
            tokens = tokens[:-1]
        if tokens:
            rows.append(_parse_floats(tokens, 'text matrix'))
        if closed:
            break
    if not rows:
        return np.zeros((0, 0))
    if len({len(r) for r in rows}) != 1:
        raise UserError('text matrix has rows of different lengths')
    return np.vstack(rows)


def read_vector_obj(stream, binary):
    """One vector (float or double) inside an object or ark record."""
    try:
        if binary:
            return _read_binary_array(stream, b'V')
        return _read_text_vector(stream)
    except EOFError as err:
        raise UserError('truncated binary vector (%s)' % err)


def read_matrix_obj(stream, binary):
    try:
        if binary:
            return _read_binary_array(stream, b'M')
        return _read_text_matrix(stream)
    except EOFError as err:
        raise UserError('truncated binary matrix (%s)' % err)


def _format_floats(values):
    return ' '.join(_FLOAT_FORMAT % v for v in values)


def write_vector_obj(stream, binary, vec, double=False):
    vec = np.asarray(vec).reshape(-1)
    if binary:
        # Inside an object no '\0B' marker: only a stream or ark record starts with one.
        stream.write(b'DV ' if double else b'FV ')
        stream.write(struct.pack('<bi', 4, vec.shape[0]))
        stream.write(np.ascontiguousarray(vec, dtype='<f8' if double else '<f4').tobytes())
    else:
        stream.write((' [ %s ]\n' % _format_floats(vec)).encode() if vec.size
                     else b' [ ]\n')


def write_matrix_obj(stream, binary, mat, double=False):
    mat = np.atleast_2d(np.asarray(mat))
    if binary:
        stream.write(b'DM ' if double else b'FM ')
        stream.write(struct.pack('<bibi', 4, mat.shape[0], 4, mat.shape[1]))
        stream.write(np.ascontiguousarray(mat, dtype='<f8' if double else '<f4').tobytes())
    else:
        # Kaldi's layout: ' [', then per row a newline, two spaces and 'value ' each; ']'.
        lines = [' [']
        for row in mat:
            lines.append('\n  ' + ''.join(_FLOAT_FORMAT % v + ' ' for v in row))
        lines.append(']\n')
        stream.write(''.join(lines).encode())


def _check_finite(array, where):
    if not np.all(np.isfinite(array)):
        raise UserError('%s: contains NaN or Inf' % where)


# ----------------------------------------------------------------------------
# Whole objects by rx/wxfilename

def read_vector(rxfilename):
    """A single Kaldi vector (e.g. mean.vec), float64."""
    with open_input(rxfilename) as (stream, binary):
        try:
            vec = read_vector_obj(stream, binary)
        except UserError as err:
            raise UserError('%s: %s' % (describe(rxfilename), err))
    _check_finite(vec, describe(rxfilename))
    return vec.astype(np.float64)


def read_matrix(rxfilename):
    """A single Kaldi matrix (e.g. an LDA transform), float64."""
    with open_input(rxfilename) as (stream, binary):
        try:
            mat = read_matrix_obj(stream, binary)
        except UserError as err:
            raise UserError('%s: %s' % (describe(rxfilename), err))
    _check_finite(mat, describe(rxfilename))
    return mat.astype(np.float64)


def write_vector(wxfilename, vec, binary=True, double=False):
    with open_output(wxfilename, binary) as stream:
        write_vector_obj(stream, binary, vec, double)


def write_matrix(wxfilename, mat, binary=True, double=False):
    with open_output(wxfilename, binary) as stream:
        write_matrix_obj(stream, binary, mat, double)


# ----------------------------------------------------------------------------
# Tables

def parse_rspecifier(rspecifier):
    """'ark,s,cs:foo' -> ('ark', {'s', 'cs'}, 'foo')."""
    match = _SPEC_RE.match(rspecifier.strip())
    if not match:
        raise UserError("'%s': not an rspecifier (expected ark:... or scp:...)" % rspecifier)
    kind, opts, name = match.groups()
    opts = set(o for o in opts.split(',') if o)
    if 'scp' in opts:
        raise UserError("'%s': an rspecifier names one table" % rspecifier)
    return kind, opts, name


def parse_wspecifier(wspecifier):
    """-> (ark_wxfilename or None, scp_wxfilename or None, binary)."""
    match = _SPEC_RE.match(wspecifier.strip())
    if not match:
        raise UserError("'%s': not a wspecifier (expected ark:..., scp:... or ark,scp:...)"
                         % wspecifier)
    first, opts, names = match.groups()
    opts = [o for o in opts.split(',') if o]
    kinds = [first] + [o for o in opts if o in ('ark', 'scp')]
    binary = 't' not in opts
    if kinds == ['ark']:
        return names, None, binary
    if sorted(kinds) == ['ark', 'scp']:
        parts = names.split(',', 1)
        if len(parts) != 2:
            raise UserError("'%s': ark,scp needs two file names" % wspecifier)
        ark, scp = parts if kinds[0] == 'ark' else parts[::-1]
        return ark, scp, binary
    raise UserError("'%s': writing scp alone is not supported; use ark,scp:" % wspecifier)


def _ark_records(rxfilename, read_value):
    """Iterate (key, value) over an ark stream; read_value(stream, binary)."""
    with open_rx(rxfilename) as stream:
        yield from ark_records_in(stream, describe(rxfilename), read_value)


def ark_records_in(stream, where, read_value):
    """Iterate (key, value) over the records of an open ark stream."""
    while True:
        key = _read_word(stream)
        if not key:
            return
        key = key.decode('latin1')
        try:
            binary = _consume_binary_header(stream)
            value = read_value(stream, binary)
        except UserError as err:
            raise UserError('%s: key %s: %s' % (where, printable(key), err))
        yield key, value


def scp_entries(rxfilename):
    where = describe(rxfilename)
    with open_rx(rxfilename) as stream:
        for lineno, line in enumerate(stream, 1):
            parts = line.decode('latin1').strip().split(None, 1)
            if not parts:
                continue
            if len(parts) != 2:
                raise UserError('%s: line %d: expected "key rxfilename"' % (where, lineno))
            yield parts[0], parts[1]


def _read_scp_objects(rxfilename, read_value):
    for key, location in scp_entries(rxfilename):
        yield key, read_scp_entry(describe(rxfilename), key, location, read_value)


def read_scp_entry(where, key, location, read_value):
    """The object an scp entry points at; errors name the scp, key and location."""
    try:
        with open_input(location) as (stream, binary):
            return read_value(stream, binary)
    except UserError as err:
        raise UserError('%s: key %s (%s): %s' % (where, printable(key), printable(location), err))


def _read_table(rspecifier, read_value):
    """Iterate (key, array) over an ark or scp table; every value finite."""
    kind, _, name = parse_rspecifier(rspecifier)
    records = (_ark_records(name, read_value) if kind == 'ark'
               else _read_scp_objects(name, read_value))
    for key, value in records:
        _check_finite(value, '%s: key %s' % (describe(name), printable(key)))
        yield key, value


def table_index(rspecifier):
    """Iterate (key, location) over a table without keeping its values: an scp's own
    lines, or an ark file's records as 'file:offset' (an scp of the ark, as Kaldi's
    ark,scp: writes it). A pipe has no offsets to give."""
    kind, _, name = parse_rspecifier(rspecifier)
    if kind == 'scp':
        yield from scp_entries(name)
        return
    name = name.strip()
    if name in ('', '-') or name.endswith('|'):
        raise UserError("'%s': cannot index an ark read from a pipe" % rspecifier)
    with open_rx(name) as stream:
        while True:
            key = _read_word(stream)
            if not key:
                return
            key = key.decode('latin1')
            offset = stream.tell()
            try:
                read_vector_obj(stream, _consume_binary_header(stream))
            except UserError as err:
                raise UserError('%s: key %s: %s' % (name, printable(key), err))
            yield key, '%s:%d' % (name, offset)


def read_vectors(rspecifier):
    """Iterate (key, vector) from an rspecifier; vectors keep their stored dtype."""
    return _read_table(rspecifier, read_vector_obj)


def read_vector_table(rspecifier, dtype=np.float64, convert=None):
    """All vectors of a table as (keys, N x D matrix); dims must agree, keys be unique.

    The rows go into one growing matrix (row_buffer), never a list of chunks and
    their concatenation. convert(keys, chunk) -> (keys, rows), if given, maps each
    chunk of up to 10k rows (read as `dtype`) before it is kept: a tool can
    transform or drop rows without holding the untransformed table.
    """
    from data_utils.row_buffer import RowBuffer
    keys, rows = [], None
    seen = set()
    name = parse_rspecifier(rspecifier)[2]
    for chunk_keys, chunk in read_vector_chunks(rspecifier, dtype=dtype):
        for key in chunk_keys:
            if key in seen:
                raise UserError('%s: key %s appears twice' % (describe(name), printable(key)))
            seen.add(key)
        if convert is not None:
            chunk_keys, chunk = convert(chunk_keys, chunk)
        if rows is None:
            rows = RowBuffer(chunk.dtype)
        keys.extend(chunk_keys)
        rows.append(chunk)
    return keys, rows.matrix() if rows is not None else np.zeros((0, 0), dtype)


def read_vector_chunks(rspecifier, chunk_rows=10000, dtype=np.float64):
    """Iterate (keys, rows x D matrix) over a table, at most chunk_rows rows at a time.

    The streaming form of read_vector_table: memory stays bounded by one chunk
    whatever the table's size. Dimensions must agree and values be finite (keys
    are not checked for repeats: that would need every key in memory). Binary
    arks take a fast path (see ark_fast).
    """
    from data_utils import ark_fast     # it builds on this module
    kind, _, name = parse_rspecifier(rspecifier)
    yield from ark_fast.vector_chunks(kind, name, chunk_rows, dtype)


class VectorWriter:
    """A table of vectors written chunk by chunk (ark or ark,scp; atomic for files).

        with VectorWriter('ark:out.ark') as writer:
            writer.write(keys, matrix)

    `binary` overrides the wspecifier's ',t' option when given. Nothing is left
    behind if the block raises.
    """

    def __init__(self, wspecifier, binary=None, double=False):
        self.ark_name, scp_name, spec_binary = parse_wspecifier(wspecifier)
        self.binary = spec_binary if binary is None else binary
        self.double = double
        self.num_written = 0
        self._outputs = [_open_wx(self.ark_name)] + ([_open_wx(scp_name)] if scp_name else [])
        self._scp = self._outputs[1].stream if scp_name else None
        if scp_name and not isinstance(self._outputs[0], AtomicFile):
            self.abort()
            raise UserError("'%s': ark,scp needs a real ark file for the offsets" % wspecifier)
        self._ark = self._outputs[0].stream

    def write(self, keys, matrix):
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or len(keys) != matrix.shape[0]:
            raise UserError('%s: %d keys for a matrix of shape %s'
                             % (self.ark_name, len(keys), matrix.shape))
        _check_finite(matrix, '%s: vectors to write' % self.ark_name)
        ark = self._ark
        scp_lines = []
        if self.binary:
            # Kaldi's record: "key \0BFV \4<int32 dim><floats>" (DV for doubles).
            header = (b' \0B' + (b'DV ' if self.double else b'FV ')
                      + struct.pack('<bi', 4, matrix.shape[1]))
            rows = np.ascontiguousarray(matrix, dtype='<f8' if self.double else '<f4')
        for key, row in zip(keys, rows if self.binary else matrix):
            if not key or any(c in key for c in ' \t\n'):
                raise UserError("%s: invalid key %s" % (self.ark_name, printable(key)))
            encoded = key.encode('latin1')
            if self._scp:
                # The offset points just past "key ", where Kaldi's scp offsets point.
                scp_lines.append('%s %s:%d\n' % (key, self.ark_name, ark.tell() + len(encoded) + 1))
            if self.binary:
                ark.write(encoded + header + row.tobytes())
            else:
                ark.write(encoded + b' ')
                write_vector_obj(ark, False, row, self.double)
        if self._scp:
            self._scp.write(''.join(scp_lines).encode('latin1'))
        self.num_written += len(keys)

    def commit(self):
        for out in self._outputs:
            out.commit()

    def abort(self):
        for out in self._outputs:
            out.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.abort()
        return False


def write_vectors(wspecifier, keys, matrix, binary=None, double=False):
    """Write rows of `matrix` under `keys`; ark or ark,scp; atomic for files.

    `binary` overrides the wspecifier's ',t' option when given.
    """
    with VectorWriter(wspecifier, binary, double) as writer:
        writer.write(keys, matrix)


def read_matrices(rspecifier):
    """Iterate (key, matrix) from an rspecifier (e.g. feature matrices for est-pca)."""
    return _read_table(rspecifier, read_matrix_obj)


def read_token_table(rspecifier):
    """Text tables like utt2spk / spk2utt: iterate (key, [tokens])."""
    kind, _, name = parse_rspecifier(rspecifier)
    if kind != 'ark':
        raise UserError("'%s': token tables are read as ark:" % rspecifier)
    with open_rx(name) as stream:
        for lineno, line in enumerate(stream, 1):
            parts = line.decode('latin1').split()
            if not parts:
                continue
            yield parts[0], parts[1:]


def read_int_table(rspecifier):
    """Integer tables such as num_utts (text or binary ark)."""
    kind, _, name = parse_rspecifier(rspecifier)

    def read_int(stream, binary):
        if binary:
            try:
                if _exact(stream, 1, 'size') != b'\x04':
                    raise UserError('bad integer size marker')
                return struct.unpack('<i', _exact(stream, 4, 'int'))[0]
            except EOFError:
                raise UserError('truncated binary integer')
        word = _read_word(stream)
        try:
            return int(word)
        except ValueError:
            raise UserError("expected an integer, found '%s'" % printable(word.decode('latin1')))

    records = (_ark_records(name, read_int) if kind == 'ark'
               else _read_scp_objects(name, read_int))
    yield from records


def write_int_table(wspecifier, keys, values):
    ark_name, scp_name, binary = parse_wspecifier(wspecifier)
    if scp_name:
        raise UserError("'%s': integer tables are written as ark only" % wspecifier)
    with _committed(_open_wx(ark_name)) as (ark,):
        for key, value in zip(keys, values):
            if binary:
                ark.write((key + ' ').encode('latin1') + b'\0B' + struct.pack('<bi', 4, int(value)))
            else:
                ark.write(('%s %d \n' % (key, int(value))).encode('latin1'))
