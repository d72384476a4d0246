"""Fast sequential reading of binary vector arks, for tables of a million vectors.

Reading a record through the general reader (a word, a header, sizes, data, each
a call on a buffered stream) costs about 12 us; Kaldi's C++ reader about 1.6 us.
Here the ark is read in 4 MB blocks. A record "key \\0BFV \\4<int32 dim><data>"
(or DV, doubles) is cut out of the block with a few bytes operations, and when
the records that follow it have the same layout (keys of the same length, the same
header; the usual case: Kaldi's own utterance ids), numpy checks all of them at
once and takes them as one matrix, a view of the block.

Anything else (a text record, a truncated record, a bad header) hands the rest of
the stream, from that record on, to the general reader in kaldi_table, which
reads it or reports the error exactly as it would have. vector_chunks gives both
arks and scps (data_utils/scp_vectors.py) as chunks of a tool's size.
"""
import io

import numpy as np

from data_utils.errors import UserError
from data_utils.limits import MAX_DIM, MAX_KEY_BYTES
from data_utils.kaldi_codec import read_vector_obj
from data_utils.kaldi_records import ark_records_in
from data_utils.scp_fast import HEADERS as _HEADERS
from data_utils.scp_vectors import scp_batches
from data_utils.kaldi_streams import describe, open_rx, printable

_WHITESPACE = (32, 9, 10, 13)
BLOCK_BYTES = 1 << 22


class _Prepended(io.RawIOBase):
    """A raw stream that reads `head` first, then `stream`."""

    def __init__(self, head, stream):
        super().__init__()
        self.head = head
        self.stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


# Bytes that end a key (whitespace) or that a fixed-width key view would drop (NUL).
_NOT_IN_KEY = np.zeros(256, dtype=bool)
_NOT_IN_KEY[[0, 9, 10, 13, 32]] = True


def _same_layout_run(buf, pos, size, key_len, record_len, header):
    """How many records from pos (at least the first) share the first one's layout:
    each its key_len key bytes without whitespace or NUL, then the same 11 header
    bytes; exactly what the record-by-record parse would accept. size: the bytes of
    buf that hold data.

    The records are checked in windows growing 4-fold: a short run (keys of varying
    length) costs its own length, not the rest of the block's.
    """
    available = (size - pos) // record_len
    if available < 2:
        return 1
    window = 16
    while True:
        count = min(window, available)
        rows = np.frombuffer(buf, np.uint8, count * record_len, pos).reshape(count, record_len)
        ok = (rows[:, key_len:key_len + 11] == np.frombuffer(header, np.uint8)).all(axis=1)
        ok &= ~_NOT_IN_KEY[rows[:, :key_len]].any(axis=1)
        if not ok.all():
            return max(int(np.argmin(ok)), 1)
        if count == available:
            return count
        window *= 4


def _mixed_key_run(buf, pos, size, header, data_len, limit=4096):
    """(keys, their data joined, end) of the records from pos with this header (one
    dtype and dimension) whose keys differ in length: keys of varying length make
    _same_layout_run's runs short, and each run would cost a batch. A record with
    whitespace before it, a key with a control byte the record reader treats
    otherwise, or another header ends the run; the caller goes on from there."""
    keys, parts = [], []
    view = memoryview(buf)
    while len(keys) < limit:
        space = buf.find(b' ', pos, size)
        end = space + len(header)
        if space <= pos or end + data_len > size or buf[space:end] != header:
            break
        key = bytes(buf[pos:space])
        if b'\t' in key or b'\n' in key or b'\r' in key or b'\0' in key:
            break
        keys.append(key)
        parts.append(view[end:end + data_len])
        pos = end + data_len
    return keys, b''.join(parts), pos


class _Block:
    """The ark's bytes in one buffer that is refilled, not reallocated: a fresh 4 MB
    block per read (and the copy that joins it to the previous block's tail) was a
    third of a streaming tool's time. data[:size] holds bytes not yet parsed from 0."""

    def __init__(self, stream, block_bytes):
        self.stream = stream
        self.block_bytes = block_bytes
        self.data = bytearray(2 * block_bytes)
        self.size = 0
        self.eof = False
        self.offset = 0   # of data[0] in the stream

    def refill(self, pos):
        """Drop the bytes before pos and read up to block_bytes more after the rest."""
        self.offset += pos
        rest = self.size - pos
        if rest + self.block_bytes > len(self.data):
            # A record longer than the buffer: a bigger one (views of the old one, held
            # by the caller, stay valid; the old buffer is freed when they go).
            grown = bytearray(2 * (rest + self.block_bytes))
            grown[:rest] = self.data[pos:self.size]
            self.data = grown
        elif rest:
            self.data[:rest] = self.data[pos:self.size]
        target = memoryview(self.data)[rest:rest + self.block_bytes]
        readinto = getattr(self.stream, 'readinto', None)
        if readinto is not None:
            got = readinto(target) or 0
        else:
            more = self.stream.read(self.block_bytes)
            got = len(more)
            target[:got] = more
        target.release()
        self.size = rest + got
        self.eof = got == 0


def _binary_batches(stream, block_bytes):
    """Yield (keys as bytes, dtype, dim, rows) for runs of binary vector records, rows
    an n x dim matrix of the records' dtype.

    rows may be a view of the read buffer, valid only until the next batch is asked
    for (the buffer is then refilled): a caller copies what it keeps.
    Returns (as the generator's value) the unread bytes from the first record it
    does not handle, or None at a clean end of the stream.
    """
    block = _Block(stream, block_bytes)
    pos = 0
    while True:
        buf, size = block.data, block.size
        while pos < size and buf[pos] in _WHITESPACE:
            pos += 1
        space = buf.find(b' ', pos, size)
        end = space + 11
        if space >= 0 and end <= size:
            dtype = _HEADERS.get(bytes(buf[space + 1:space + 7]))
            key = bytes(buf[pos:space])
            if dtype is None or b'\t' in key or b'\n' in key or b'\r' in key:
                return bytes(buf[pos:size])
            dim = int.from_bytes(buf[space + 7:end], 'little', signed=True)
            if dim < 0:
                return bytes(buf[pos:size])
            data_end = end + dim * dtype.itemsize
            if data_end <= size:
                key_len, record_len = space - pos, data_end - pos
                header = bytes(buf[space:end])
                count = (_same_layout_run(buf, pos, size, key_len, record_len, header)
                         if b'\0' not in key else 1)
                if count < 4 and b'\0' not in key:
                    keys, data, after = _mixed_key_run(buf, pos, size, header, data_end - end)
                    if len(keys) > count:
                        yield keys, dtype, dim, np.frombuffer(data, dtype).reshape(len(keys), dim)
                        pos = after
                        continue
                rows = np.frombuffer(buf, np.uint8, count * record_len, pos)
                rows = rows.reshape(count, record_len)
                keys = (rows[:, :key_len].copy().view('S%d' % key_len).ravel().tolist()
                        if count > 1 else [key])
                # A strided, possibly unaligned view: the caller's copy is the only one.
                yield keys, dtype, dim, rows[:, key_len + 11:].view(dtype)
                pos += count * record_len
                continue
        if block.eof:
            return bytes(buf[pos:size]) if pos < size else None
        # Once a block: a key runs past its limit (endless input such as /dev/zero),
        # or a header asks for more than any real vector has.
        key_end = space if space >= 0 else size
        if key_end - pos > MAX_KEY_BYTES:
            raise UserError('byte %d: a key longer than %d bytes (the limit); not a Kaldi table?'
                            % (block.offset + pos, MAX_KEY_BYTES))
        if space >= 0 and end <= size and dtype is not None and dim > MAX_DIM:
            raise UserError('byte %d: key %s: dimension %d in its header is over the limit of %d; corrupt data?'
                            % (block.offset + pos, printable(key.decode('latin1')), dim, MAX_DIM))
        block.refill(pos)
        pos = 0


def vector_batches(rxfilename, block_bytes=None):
    """Iterate (keys, dtype, dim, rows) over an ark of vectors: rows is an n x dim
    matrix of the records' own dtype (several binary records with the same layout,
    or one record the general reader returned), valid until the next batch is asked
    for (see _binary_batches)."""
    where = describe(rxfilename)
    with open_rx(rxfilename) as stream:
        batches = _binary_batches(stream, block_bytes or BLOCK_BYTES)
        while True:
            try:
                keys, dtype, dim, rows = next(batches)
            except StopIteration as stop:
                rest = stop.value
                break
            except UserError as err:
                raise UserError(where, err) from None
            yield [k.decode('latin1') for k in keys], dtype, dim, rows
        if rest is None:
            return
        rest_stream = io.BufferedReader(_Prepended(rest, stream), 1 << 16)
        for key, value in ark_records_in(rest_stream, where, read_vector_obj):
            yield [key], value.dtype, value.shape[0], value[None, :]


def vector_chunks(kind, name, chunk_rows, dtype, chunk_bytes=None):
    """Iterate (keys, rows x D matrix of dtype) over an ark or scp table, at most
    chunk_rows rows at a time; dimensions must agree and values be finite.

    dtype None keeps the stored precision: float32 for float vectors, float64 once a
    double vector is met (exact either way). chunk_bytes, if given, also bounds a
    chunk's size in bytes, so that a tool's temporaries stay small and are reused.
    """
    where = describe(name)
    batches = vector_batches(name) if kind == 'ark' else scp_batches(name)
    keys, chunk, dim, stored = [], None, None, dtype is None
    for batch_keys, batch_dtype, batch_dim, rows in batches:
        if dim is None:
            dim = batch_dim
            dtype = np.dtype(batch_dtype if stored else dtype).newbyteorder('=')
            if chunk_bytes:
                chunk_rows = min(chunk_rows, max(1, chunk_bytes // max(1, dim * dtype.itemsize)))
            chunk = np.empty((chunk_rows, dim), dtype)
        elif batch_dim != dim:
            raise UserError('%s: key %s has dimension %d, earlier vectors have %d'
                             % (where, printable(batch_keys[0]), batch_dim, dim))
        if stored and np.dtype(batch_dtype).itemsize > dtype.itemsize:    # then a double
            dtype = np.dtype(np.float64)
            chunk = chunk.astype(dtype)
        start = 0
        while start < len(batch_keys):
            take = min(chunk_rows - len(keys), len(batch_keys) - start)
            chunk[len(keys):len(keys) + take] = rows[start:start + take]
            keys.extend(batch_keys[start:start + take])
            start += take
            if len(keys) == chunk_rows:
                yield keys, finite_rows(chunk, keys, where)
                keys, chunk = [], np.empty((chunk_rows, dim), dtype)
    if keys:
        yield keys, finite_rows(chunk[:len(keys)], keys, where)


def finite_rows(matrix, keys, where):
    """matrix, once checked to hold no NaN or Inf (else an error naming the first key)."""
    # A NaN or an infinity makes the sum NaN or infinite, so a finite sum clears the
    # chunk in one pass with no n x D boolean temporary; only a chunk whose sum is
    # not finite (a bad value, or a sum that overflowed) is checked element by element.
    if np.isfinite(matrix.sum()):
        return matrix
    finite = np.isfinite(matrix).all(axis=1) if matrix.shape[1] else np.ones(len(keys), bool)
    if not finite.all():
        raise UserError('%s: key %s: contains NaN or Inf'
                        % (where, keys[int(np.flatnonzero(~finite)[0])]))
    return matrix
