"""Kaldi's binary and text formats of one object: tokens, vectors, matrices, integers.

A binary object starts with '\\0B'; a vector is then 'FV ' (float) or 'DV ' (double),
'\\4' and its int32 size, and the values (little-endian); a matrix is 'FM '/'DM ' with
two sizes. In text a vector is '[ v1 v2 ... ]' and a matrix '[' rows ']'. Tokens such
as '<Plda>' end with one space in both.

Reading is strict: a truncated record, a text vector without its closing ']', a
non-number or a record of a different kind raises UserError with one line, to which
the table readers add the key and the file. (kaldi_io asserts without saying where,
and returns a short vector for a truncated record, so the reader here is our own.)
"""
import contextlib
import struct

import numpy as np

from data_utils.errors import UserError
from data_utils.kaldi_streams import describe, open_output, open_rx, printable
from data_utils.limits import MAX_KEY_BYTES, MAX_LINE_BYTES, check_dims, tell

_WHITESPACE = b' \t\n\r'
_FLOAT_FORMAT = '%.7g'   # Kaldi prints floats with 7 significant digits


# ----------------------------------------------------------------------------
# The binary header of an object

@contextlib.contextmanager
def open_input(rxfilename):
    """Yield (stream, is_binary) for one Kaldi object, header consumed."""
    with open_rx(rxfilename) as stream:
        _skip_whitespace(stream)
        try:
            binary = consume_binary_header(stream)
        except UserError as err:
            raise UserError('%s: %s' % (describe(rxfilename), err))
        yield stream, binary


def consume_binary_header(stream):
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


def read_word(stream):
    """Read up to (and consume) the next single whitespace char; b'' at EOF."""
    _skip_whitespace(stream)
    parts, length = [], 0
    while True:
        if length > MAX_KEY_BYTES:   # endless input (/dev/zero): stop in bounded memory
            offset = tell(stream)
            raise UserError('byte %s: a key or token longer than %d bytes (the limit); not a Kaldi table?'
                            % ('?' if offset is None else offset - length, MAX_KEY_BYTES))
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
        length += len(head)
    return b''.join(parts)


def _exact(stream, size, what):
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(what)
    return data


def read_token(stream):
    """Read a token such as '<Plda>' (Kaldi ends tokens with one space)."""
    word = read_word(stream)
    if not word:
        raise UserError('unexpected end of file while reading a token')
    return word.decode('latin1')


def expect_token(stream, token):
    got = read_token(stream)
    if got != token:
        raise UserError("expected token '%s', got '%s'" % (token, got))


def write_token(stream, token):
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
    count = check_dims(shape)
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


def _text_line(stream):
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise UserError('a line of a text object longer than %d bytes (the limit)' % MAX_LINE_BYTES)
    return line


def _read_text_vector(stream):
    _skip_whitespace(stream)
    opening = stream.read(1)
    if opening != b'[':
        raise UserError("text vector does not start with '['")
    values = []
    while True:
        line = _text_line(stream)
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
        line = _text_line(stream)
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
    """One matrix (float or double) inside an object or ark record."""
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


def read_int_obj(stream, binary):
    """One int32 inside an ark record (e.g. num_utts): binary '\\4<int32>' or a word."""
    if binary:
        try:
            if _exact(stream, 1, 'size') != b'\x04':
                raise UserError('bad integer size marker')
            return struct.unpack('<i', _exact(stream, 4, 'int'))[0]
        except EOFError:
            raise UserError('truncated binary integer')
    word = read_word(stream)
    try:
        return int(word)
    except ValueError:
        raise UserError("expected an integer, found '%s'" % printable(word.decode('latin1')))


def check_finite(array, where):
    if not np.all(np.isfinite(array)):
        raise UserError('%s: contains NaN or Inf' % where)


# ----------------------------------------------------------------------------
# Whole objects by rx/wxfilename

def _read_whole(rxfilename, read_obj):
    """The one object of a file, float64; errors name the file."""
    with open_input(rxfilename) as (stream, binary):
        try:
            value = read_obj(stream, binary)
        except UserError as err:
            raise UserError('%s: %s' % (describe(rxfilename), err))
    check_finite(value, describe(rxfilename))
    return value.astype(np.float64)


def read_vector(rxfilename):
    """A single Kaldi vector (e.g. mean.vec), float64."""
    return _read_whole(rxfilename, read_vector_obj)


def read_matrix(rxfilename):
    """A single Kaldi matrix (e.g. an LDA transform), float64."""
    return _read_whole(rxfilename, read_matrix_obj)


def write_vector(wxfilename, vec, binary=True, double=False):
    with open_output(wxfilename, binary) as stream:
        write_vector_obj(stream, binary, vec, double)


def write_matrix(wxfilename, mat, binary=True, double=False):
    with open_output(wxfilename, binary) as stream:
        write_matrix_obj(stream, binary, mat, double)

