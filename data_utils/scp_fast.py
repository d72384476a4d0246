"""Blocks of scp entries read with one read of the ark they point into.

An scp written beside its ark (ark,scp:) lists "key file:offset" entries whose
records follow each other in one file. Serving them one by one (a regular
expression, a window lookup and a header check per entry) costs about 3 us an
entry; here up to 1,024 entries that point into one file are read with one read of
the span they cover, their headers checked at once, and their data cut out. A
block that does not fit (other files, sparse offsets, records of another size or
kind, a short file) returns None, and the caller reads it entry by entry, which
gives the same vectors or reports the error (ark_fast.scp_vector_records).
"""
import os

import numpy as np

_HEADERS = {b'\0BFV \x04': np.dtype('<f4'), b'\0BDV \x04': np.dtype('<f8')}
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
        handle = self._open(path, entries[0][1])
        if handle is None:
            return None
        first = min(offsets)
        handle.seek(first)
        head = handle.read(10)          # "\0BFV \4" and the int32 dimension
        dtype = _HEADERS.get(head[:6]) if len(head) == 10 else None
        dim = int.from_bytes(head[6:10], 'little', signed=True) if dtype else -1
        if dim < 0:
            return None
        size = 10 + dim * dtype.itemsize
        span = max(offsets) + size - first
        if span > len(entries) * size * 2 + _MAX_SPAN_SLACK:
            return None
        handle.seek(first)
        data = memoryview(handle.read(span))
        if len(data) != span:
            return None
        starts = [offset - first for offset in offsets]
        if b''.join([data[s:s + 10] for s in starts]) != bytes(head) * len(starts):
            return None
        rows = b''.join([data[s + 10:s + size] for s in starts])
        rows = np.frombuffer(rows, dtype).reshape(len(starts), dim)
        return [key for key, _ in entries], dtype, dim, rows


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
