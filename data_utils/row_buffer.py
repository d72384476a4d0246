"""A matrix that grows by rows without a second copy of what it already holds.

Stacking a table read in chunks with np.concatenate holds every chunk and the
result at once (twice the table). RowBuffer writes each chunk into one array
whose capacity grows with ndarray.resize: numpy reallocates it with realloc,
which for large blocks moves pages (mremap) instead of copying them, so the peak
stays at about the capacity: the rows plus at most an eighth more.
"""
import numpy as np


class RowBuffer:
    def __init__(self, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.rows = None
        self.size = 0

    def append(self, rows):
        """Copy rows (n x D, any float dtype) in, converted to the buffer's dtype."""
        if self.rows is None:
            self.rows = np.empty((max(rows.shape[0], 1), rows.shape[1]), self.dtype)
        needed = self.size + rows.shape[0]
        if needed > self.rows.shape[0]:
            capacity = max(needed, self.rows.shape[0] + self.rows.shape[0] // 8)
            # refcheck=False: the array is ours alone (no view of it was handed out).
            self.rows.resize((capacity, self.rows.shape[1]), refcheck=False)
        self.rows[self.size:needed] = rows
        self.size = needed

    def matrix(self, dim=0):
        """The rows appended so far (the buffer is trimmed and handed over: append no more)."""
        if self.rows is None:
            return np.zeros((0, dim), self.dtype)
        self.rows.resize((self.size, self.rows.shape[1]), refcheck=False)
        rows, self.rows = self.rows, None
        return rows
