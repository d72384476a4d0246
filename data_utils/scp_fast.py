"""Blocks of scp entries read with one read of the ark they point into.

An scp written beside its ark (ark,scp:) lists "key file:offset" entries whose
records follow each other in one file. Serving them one by one (a regular
expression, a window lookup and a header check per entry) costs about 3 us an
entry; here up to 1,024 entries that point into one file are read with one read of
the span they cover, their headers checked at once, and their data cut out. A
block that does not fit (other files, sparse offsets, records of another size or
kind, a short file) returns None, and the caller reads it entry by entry, which
gives the same vectors or reports the error (scp_vectors.scp_vector_records).
"""
import os

import numpy as np

# The header of a binary float or double vector record, and the data type it gives.
HEADERS = {b'\0BFV \x04': np.dtype('<f4'), b'\0BDV \x04': np.dtype('<f8')}
_MAX_SPAN_SLACK = 1 << 20      # bytes a block's read may take beyond its records'


class BlockReader:
    """Reads blocks of (key, location) entries; keeps the last file open."""

    def __init__(self):
        self.path, self.handle = None, None

    def close(self):
        if self.handle:
            self.handle.close()
        self.path, self.handle = None, None

    def _open(self, path, first_location):
        if path != self.path:
            self.close()
            # As the entry-by-entry reader: a file named like the location itself wins.
            if os.path.exists(first_location) or not os.path.isfile(path):
                return None
            self.path, self.handle = path, open(path, 'rb', buffering=0)
        return self.handle

    def read(self, entries):
        """(keys, dtype, dim, rows) of a block of entries, or None (read them one by one)."""
        path, offsets = _common_file(entries)
        if path is None:
            return None
        return self.read_located([key for key, _ in entries], path, entries[0][1], offsets)

    def read_located(self, keys, path, first_location, offsets):
        """read() of entries given as keys, one path, the first entry's location (as
        written) and the offsets (a sequence of int)."""
        handle = self._open(path, first_location)
        if handle is None:
            return None
        offsets = np.asarray(offsets, dtype=np.int64)
        first = int(offsets.min())
        handle.seek(first)
        head = handle.read(10)          # "\0BFV \4" and the int32 dimension
        dtype = HEADERS.get(head[:6]) if len(head) == 10 else None
        dim = int.from_bytes(head[6:10], 'little', signed=True) if dtype else -1
        if dim < 0:
            return None
        size = 10 + dim * dtype.itemsize
        span = int(offsets.max()) + size - first
        if span > len(keys) * size * 2 + _MAX_SPAN_SLACK:
            return None
        handle.seek(first)
        data = handle.read(span)
        if len(data) != span:
            return None
        rows = _records(np.frombuffer(data, np.uint8), offsets - first, head, size)
        if rows is None:
            return None
        return keys, dtype, dim, rows.view(dtype)


def _records(data, starts, head, size):
    """The n x (size - 10) data bytes of the records at `starts` of data, or None if a
    header differs from head. Records the same distance apart (keys of one length: the
    usual case) are a strided view of data, with no copy; others are gathered."""
    n = starts.size
    steps = np.diff(starts)
    if n == 1 or (steps[0] >= size and (steps == steps[0]).all()):
        stride = int(steps[0]) if n > 1 else size
        at = data[int(starts[0]):]
        headers = np.lib.stride_tricks.as_strided(at, (n, 10), (stride, 1), writeable=False)
        if not (headers == np.frombuffer(head, np.uint8)).all():
            return None
        return np.lib.stride_tricks.as_strided(at[10:], (n, size - 10), (stride, 1),
                                               writeable=False)
    view = memoryview(data)
    starts = starts.tolist()
    if b''.join([view[s:s + 10] for s in starts]) != bytes(head) * n:
        return None
    joined = b''.join([view[s + 10:s + size] for s in starts])
    return np.frombuffer(joined, np.uint8).reshape(n, size - 10)


def plain_block(lines):
    """(keys, path, first location, offsets) of a block of scp lines, each exactly
    "key path:offset" with one path, or None (then the lines are parsed one by one).

    Every line is checked at once with numpy: printable ASCII and whitespace only,
    exactly two tokens, the second the first line's "path:" and 1-18 digits.
    """
    text = b''.join(lines)
    if not text.isascii():
        return None
    chars = np.frombuffer(text, np.uint8)
    space = chars <= 32
    # Control bytes other than \t\n\v\f\r: the line parse keeps them in keys (or, for
    # 0x1c-0x1f, splits on them); such a block goes line by line.
    if np.count_nonzero(space) != np.count_nonzero(chars == 32) + np.count_nonzero(
            (chars >= 9) & (chars <= 13)):
        return None
    word = ~space
    starts = np.flatnonzero(word[1:] & space[:-1]) + 1
    if word[0]:
        starts = np.r_[0, starts]
    ends = np.flatnonzero(word[:-1] & space[1:]) + 1
    if word[-1]:
        ends = np.r_[ends, chars.size]
    if starts.size != 2 * len(lines):
        return None
    line_of = np.searchsorted(np.flatnonzero(chars == 10), starts)   # newlines before
    if not np.array_equal(line_of, np.arange(len(lines)).repeat(2)):
        return None
    loc_starts, loc_ends = starts[1::2], ends[1::2]
    first = text[loc_starts[0]:loc_ends[0]]
    colon = first.rfind(b':')
    if colon < 0:
        return None
    prefix = np.frombuffer(first[:colon + 1], np.uint8)
    width = loc_ends - loc_starts - prefix.size      # digits of each offset
    if width.min() < 1 or width.max() > 18:
        return None
    if not (chars[loc_starts[:, None] + np.arange(prefix.size)] == prefix).all():
        return None
    most = int(width.max())
    digits = chars[loc_ends[:, None] - most + np.arange(most)].astype(np.int64) - 48
    in_number = np.arange(most) >= (most - width)[:, None]
    if not ((digits >= 0) & (digits <= 9) | ~in_number).all():
        return None
    offsets = np.where(in_number, digits, 0) @ (10 ** np.arange(most - 1, -1, -1, dtype=np.int64))
    words = text.decode('ascii').split()
    return (words[0::2], first[:colon].decode('ascii'), first.decode('ascii'), offsets)


def _common_file(entries):
    """(path, offsets) when every location is 'path:digits' with one path, else (None, None)."""
    path, offsets = None, []
    for _, location in entries:
        name, colon, offset = location.rpartition(':')
        if not colon or not (offset.isdigit() and offset.isascii()) or name != (path or name):
            return None, None
        path = name
        offsets.append(int(offset))
    return path, offsets
