"""Binary vector records of a whole chunk, built by numpy at once.

A binary ark record is "key \\0BFV \\4<int32 dim><dim floats>" ("DV " for doubles).
Writing 10,000 of them one by one (a key check, an encode, a tobytes and a write
each) costs several microseconds a record, more than the rest of a streaming
tool; here the records of keys of one length are laid out as the rows of one
uint8 matrix (key bytes | header | data), and the chunk is written with one call.
The bytes are those of the record-by-record writer (tests/test_ark_records.py).
"""
import struct

import numpy as np

_BAD_KEY_BYTES = (b' ', b'\t', b'\n')


def encoded_keys(keys):
    """(all keys' latin1 bytes joined, their lengths) or None where a key is empty,
    holds whitespace or is not latin1: the general writer then reports it."""
    try:
        joined = ''.join(keys).encode('latin1')
    except UnicodeEncodeError:
        return None
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    if (lengths.size and lengths.min() == 0) or any(c in joined for c in _BAD_KEY_BYTES):
        return None
    return joined, lengths


def binary_vector_records(joined, lengths, rows, double):
    """(one buffer of the records in order, each record's length in bytes).

    rows: n x dim, C-contiguous, little-endian float32 ('<f4') or float64 ('<f8').
    """
    n, dim = rows.shape
    header = np.frombuffer(b' \0B' + (b'DV ' if double else b'FV ') + struct.pack('<bi', 4, dim),
                           dtype=np.uint8)
    data = rows.view(np.uint8).reshape(n, dim * rows.dtype.itemsize)
    key_bytes = np.frombuffer(joined, dtype=np.uint8)
    record_lengths = lengths + header.size + data.shape[1]
    key_lengths = np.unique(lengths)
    if key_lengths.size == 1:
        return _layout(key_bytes.reshape(n, int(key_lengths[0])), header, data), record_lengths
    # Keys of several lengths: one matrix per length, then the records joined in order.
    key_starts = np.cumsum(lengths) - lengths
    views = [None] * n
    for width in key_lengths.tolist():
        which = np.flatnonzero(lengths == width)
        keys = key_bytes[key_starts[which, None] + np.arange(width)]
        block = memoryview(_layout(keys, header, data[which]))
        size = width + header.size + data.shape[1]
        for j, i in enumerate(which.tolist()):
            views[i] = block[j * size:(j + 1) * size]
    return b''.join(views), record_lengths


def _layout(keys, header, data):
    """Rows key | header | data as one flat uint8 buffer."""
    width = keys.shape[1]
    out = np.empty((keys.shape[0], width + header.size + data.shape[1]), dtype=np.uint8)
    out[:, :width] = keys
    out[:, width:width + header.size] = header
    out[:, width + header.size:] = data
    return out.reshape(-1)
