"""The rows of a matrix stored in a file, read on demand with pread: a training set that
stays on disk.

A memory map of the file would do the same reads, but the pages it touches stay in
the process's resident set: the load's finiteness check and training's shuffled batches
touch the whole file, so a 1.2M x 512 npz (2.4 GB) made one vae epoch peak at 3.2 GB RSS.
Dropping the pages (madvise MADV_DONTNEED) after every batch of 128 random rows was
slower (0.8 ms a batch) and still left 240 MB resident: each fault maps many
neighbouring pages of the page cache (fault-around). pread copies only the
rows asked for out of the page cache (the file still stays cached for the next
epoch) into a new array: the process holds the rows it is using, whatever the size
of the file. It costs about 2 us a row (0.3 ms a batch of 128, against about 90 ms
for the training step).
"""
import os

import numpy as np

from data_utils.errors import UserError


class FileRows:
    """A read-only N x D matrix of ``dtype`` stored C-ordered at ``offset`` in ``path``.

    Indexing (``rows[i]``, ``rows[a:b]``, ``rows[[i, j, ...]]``, as numpy indexes the
    first axis) reads those rows and returns them as a new array; np.asarray(rows)
    reads them all. The file stays open until the object is collected.
    """

    def __init__(self, path, offset, shape, dtype=np.float32):
        self.path = path
        self.offset = offset
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = 2
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._file = open(path, 'rb', buffering=0)
        if os.fstat(self._file.fileno()).st_size < offset + self.shape[0] * self._row_bytes:
            self._file.close()
            raise UserError(path, 'shorter than the %d x %d matrix it declares' % self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, tuple):   # rows, then the other axes on the rows read
            return self[key[0]][(slice(None),) + key[1:]] if len(key) > 1 else self[key[0]]
        if isinstance(key, (int, np.integer)):
            return self[np.asarray([key])][0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return self._read_run(start, max(stop - start, 0))
            key = np.arange(start, stop, step)
        return self._gather(np.asarray(key))

    def __array__(self, dtype=None, copy=None):
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def _gather(self, index):
        if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
            raise IndexError('rows are indexed by an int, a slice or a 1-D array of ints, '
                             'not %s' % (index.dtype,))
        n = self.shape[0]
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError('row index out of range for %d rows' % n)
        out = np.empty((index.size, self.shape[1]), self.dtype)
        if out.size == 0:
            return out
        buffer, size = memoryview(out).cast('B'), self._row_bytes
        for i, row in enumerate(index.tolist()):
            self._read_into(buffer[i * size:(i + 1) * size], (row % n) * size)
        return out

    def _read_run(self, start, count):
        out = np.empty((count, self.shape[1]), self.dtype)
        if out.size:
            self._read_into(memoryview(out).cast('B'), start * self._row_bytes)
        return out

    def _read_into(self, buffer, position):
        """Fill ``buffer`` from the matrix's byte ``position``; one read a call, except
        where the system returns less (a read of over 2 GB on Linux)."""
        fd, start = self._file.fileno(), self.offset + position
        done = os.preadv(fd, [buffer], start)
        while done < len(buffer):
            got = os.preadv(fd, [buffer[done:]], start + done)
            if got == 0:
                raise UserError(self.path, 'ended while reading its rows (truncated?)')
            done += got

    def close(self):
        self._file.close()
