"""Vector scp tables read in batches, as ark_fast reads arks.

A block of up to 1,024 entries that point into one ark is read with one read
(scp_fast); any other block is read entry by entry (scp_vector_records), each entry
"file:offset" that points at a binary vector record read from its file, anything
else through the general reader, which reads it or reports the error.
"""
import os
import re

import numpy as np

from data_utils import scp_fast
from data_utils.scp_fast import HEADERS
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_vector_obj
from data_utils.kaldi_records import read_scp_entry, scp_entries, scp_entry, scp_line_blocks
from data_utils.kaldi_streams import describe


def scp_batches(rxfilename, size=1024):
    """Batches as vector_batches yields them, of up to `size` entries: one read of the
    ark each where a block of entries allows (scp_fast), else entry by entry."""
    where = describe(rxfilename)
    reader = scp_fast.BlockReader()
    try:
        for lineno, lines in scp_line_blocks(rxfilename, size):
            plain = scp_fast.plain_block(lines)
            batch = reader.read_located(*plain) if plain is not None else None
            if batch is not None:
                yield batch
                continue
            entries = []
            try:
                for i, line in enumerate(lines):
                    entry = scp_entry(where, lineno + i, line)
                    if entry:
                        entries.append(entry)
            except UserError:
                # The entries before a bad line are read first, so that errors come in
                # the order of the scp, as entry by entry.
                if entries:
                    yield from _grouped(scp_vector_records(rxfilename, entries), size)
                raise
            if not entries:
                continue
            batch = reader.read(entries) if plain is None else None
            if batch is not None:
                yield batch
            else:
                yield from _grouped(scp_vector_records(rxfilename, entries), size)
    finally:
        reader.close()


def _grouped(records, size):
    """(key, dtype, dim, data) records grouped: up to `size` records of the same dtype
    and dimension become one matrix."""
    keys, parts, layout = [], [], None
    for key, dtype, dim, data in records:
        if (dtype, dim) != layout or len(keys) == size:
            if keys:
                yield keys, layout[0], layout[1], _stacked(parts, *layout)
            keys, parts, layout = [], [], (dtype, dim)
        keys.append(key)
        parts.append(data if isinstance(data, bytes) else np.asarray(data, dtype).tobytes())
    if keys:
        yield keys, layout[0], layout[1], _stacked(parts, *layout)


def _stacked(parts, dtype, dim):
    return np.frombuffer(b''.join(parts), dtype).reshape(len(parts), dim)


def scp_vector_records(rxfilename, entries=None):
    """Iterate (key, dtype, dim, data) over a vector scp, one record at a time.

    Entries "file:offset" that point at binary vector records are read from the
    file, which stays open while the entries point into it (as Kaldi's scp reader
    does; see _RecordFile); any other entry, or one that does not look right, goes
    to the general reader, which reads it or reports the error. entries: (key,
    location) pairs of the scp to read, if not all of it.
    """
    where = describe(rxfilename)
    path, records = None, None
    try:
        for key, location in scp_entries(rxfilename) if entries is None else entries:
            record = None
            match = re.match(r'^(.*):(\d+)$', location)
            if match:
                if match.group(1) != path:
                    if records:
                        records.close()
                    path, records = match.group(1), None
                    if not os.path.exists(location) and os.path.isfile(path):
                        records = _RecordFile(path)
                if records:
                    record = records.read(int(match.group(2)))
            if record is None:
                value = read_scp_entry(where, key, location, read_vector_obj)
                record = value.dtype, value.shape[0], value
            yield (key,) + record
    finally:
        if records:
            records.close()


class _RecordFile:
    """Binary vector records of one file, by offset.

    Offsets that go forward in small steps (an scp written beside its ark) are
    served from 1 MB windows read ahead, one read for hundreds of records; any
    other offset costs a seek and two reads (_read_at).
    """
    WINDOW = 1 << 20

    def __init__(self, path):
        self.handle = open(path, 'rb', buffering=0)
        self.start, self.data = None, b''

    def close(self):
        self.handle.close()

    def read(self, offset):
        """(dtype, dim, data) of the record at offset, or None if it is not one."""
        if self.start is not None and self.start <= offset <= self.start + len(self.data) + 65536:
            if offset + 10 > self.start + len(self.data):
                self.handle.seek(offset)
                self.start, self.data = offset, self.handle.read(self.WINDOW)
            record = self._in_window(offset - self.start)
            if record is not False:
                return record
        record = _read_at(self.handle, offset)
        self.start, self.data = offset, b''         # the next record may start a window
        return record

    def _in_window(self, pos):
        """The record at pos of the window, None if it is not one, False if it runs past."""
        head = self.data[pos:pos + 10]          # "\0BFV \4" and the int32 dimension
        if len(head) < 10:
            return False
        dtype = HEADERS.get(head[:6])
        dim = int.from_bytes(head[6:10], 'little', signed=True)
        if dtype is None or dim < 0:
            return None
        end = pos + 10 + dim * dtype.itemsize
        return (dtype, dim, self.data[pos + 10:end]) if end <= len(self.data) else False


def _read_at(handle, offset):
    """(dtype, dim, data) of the binary vector record at offset, or None."""
    handle.seek(offset)
    head = handle.read(10)          # "\0BFV \4" and the int32 dimension
    dtype = HEADERS.get(head[:6]) if len(head) == 10 else None
    if dtype is None:
        return None
    dim = int.from_bytes(head[6:10], 'little', signed=True)
    if dim < 0:
        return None
    data = handle.read(dim * dtype.itemsize)
    return (dtype, dim, data) if len(data) == dim * dtype.itemsize else None
