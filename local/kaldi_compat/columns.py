"""Fast reading of whitespace-separated column files (trials, score lists).

Trial lists run to millions of lines; splitting them into Python strings costs more
than scoring them. Here a file is tokenised with numpy: each line must have exactly
`ncols` fields (as Kaldi's scorers and compute-eer demand; an empty line is an
error too), and a column comes back as a fixed-width bytes array that can be
matched against table keys or converted to numbers without a Python loop.
Separators are the bytes <= 0x20 (space, tab, CR, newline and other control
characters, which Kaldi never allows inside keys).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from data_utils.errors import UserError
from data_utils.limits import read_text_bounded
from data_utils.kaldi_streams import describe, open_rx

# _BYTE_MASKS[k] keeps the first k bytes of a little-endian uint64.
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1],
                       dtype=np.uint64)
_HASH_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                              0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53],
                             dtype=np.uint64)


class Columns:
    """Tokens of a file with a fixed number of fields per line."""

    def __init__(self, data, starts, ends, line_starts):
        self.data = data
        self.buffer = np.frombuffer(data, dtype=np.uint8)
        self.starts = starts          # (num_lines x ncols) token start offsets
        self.ends = ends              # (num_lines x ncols) token end offsets (exclusive)
        self.line_starts = line_starts
        self._padded = None

    def __len__(self):
        return self.starts.shape[0]

    def column(self, j):
        """Column j as a fixed-width bytes array ('S<width>', NUL-padded)."""
        starts, ends = self.starts[:, j], self.ends[:, j]
        if starts.size == 0:
            return np.zeros(0, dtype='S1')
        lengths = ends - starts
        width = int(lengths.max())
        padded = np.concatenate((self.buffer, np.zeros(width, dtype=np.uint8)))
        rows = sliding_window_view(padded, width)[starts]
        rows = rows * (np.arange(width) < lengths[:, None]).astype(np.uint8)
        return np.ascontiguousarray(rows).view('S%d' % width).ravel()

    def words(self, j, num_words):
        """Column j as (n x num_words) little-endian uint64 words, zero-padded.

        Each token's bytes are loaded 8 at a time straight from the buffer (through
        an overlapping uint64 view) and the bytes past its end are masked off; a
        token longer than 8 * num_words bytes gets an extra non-zero marker word so
        that it cannot equal any shorter key.
        """
        starts, ends = self.starts[:, j], self.ends[:, j]
        lengths = ends - starts
        if self._padded is None or self._padded.size < self.buffer.size + 8 * num_words + 8:
            self._padded = np.concatenate((self.buffer,
                                           np.zeros(8 * num_words + 8, dtype=np.uint8)))
        padded = self._padded
        view = np.ndarray((padded.size - 7,), dtype='<u8', buffer=padded, strides=(1,))
        out = np.empty((starts.size, num_words + 1), dtype=np.uint64)
        for i in range(num_words):
            remaining = np.clip(lengths - 8 * i, 0, 8)
            out[:, i] = view[starts + 8 * i] & _BYTE_MASKS[remaining]
        out[:, num_words] = lengths > 8 * num_words
        return out

    def token(self, i, j):
        return self.data[self.starts[i, j]:self.ends[i, j]].decode('latin1')

    def line(self, i):
        return self.data[self.line_starts[i]:].split(b'\n', 1)[0].decode('latin1').rstrip('\r')


def split_columns(data, ncols, where, message=None, first_line=1):
    """Tokenise `data` (bytes); every line must have exactly `ncols` fields.

    Raises UserError naming the file, the line number (counted from first_line)
    and the line.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    is_token = np.zeros(buf.size + 2, dtype=np.int8)
    np.greater(buf, 32, out=is_token[1:-1].view(bool))
    # +1 where a token starts, -1 just past where it ends: boundaries alternate.
    edges = np.flatnonzero(np.diff(is_token))
    starts, ends = edges[0::2], edges[1::2]
    newlines = np.flatnonzero(buf == 10)
    num_lines = newlines.size + (1 if buf.size and buf[-1] != 10 else 0)
    line_starts = np.concatenate(([0], newlines + 1))[:num_lines]
    tokens_before = np.searchsorted(starts, np.append(newlines, buf.size)[:num_lines])
    per_line = np.diff(tokens_before, prepend=0)
    bad = np.flatnonzero(per_line != ncols)
    if bad.size:
        i = int(bad[0])
        text = data[line_starts[i]:].split(b'\n', 1)[0].decode('latin1').rstrip('\r')
        raise UserError('%s: line %d: %s, got %d: "%s"'
                            % (where, first_line + i, message or 'expected %d fields' % ncols,
                               per_line[i], text))
    return Columns(data, starts.reshape(-1, ncols), ends.reshape(-1, ncols), line_starts)


def read_columns(rxfilename, ncols, message=None):
    """Read a whole rxfilename (file, '-', 'cmd |') and split it into columns."""
    where = describe(rxfilename)
    with open_rx(rxfilename) as stream:
        data = read_text_bounded(stream, where)
    return split_columns(data, ncols, where, message)


class KeyIndex:
    """Finds the positions of keys in a key list (e.g. the vectors of a table).

    Keys are compared as zero-padded uint64 words: a hash of the words is looked up
    in the sorted hashes of the table, and the words themselves are compared to
    confirm, so the result is exact.
    """

    def __init__(self, keys):
        self.size = len(keys)
        encoded = [k.encode('latin1') for k in keys]
        width = max([len(k) for k in encoded] + [1])
        self.num_words = (width + 7) // 8
        table = np.array(encoded or [b''], dtype='S%d' % (8 * self.num_words))
        words = np.frombuffer(table.tobytes(), dtype='<u8').reshape(-1, self.num_words)
        self.words = np.hstack([words, np.zeros((words.shape[0], 1), dtype=np.uint64)])
        hashes = _hash(self.words)
        self.order = np.argsort(hashes, kind='stable')
        self.hashes = hashes[self.order]
        self.unique = bool(np.all(self.hashes[1:] != self.hashes[:-1]))
        if not self.unique:
            # Two keys share a hash (or a key repeats): compare strings instead.
            self.strings = table
            self.string_order = np.argsort(table, kind='stable')

    def find_in(self, columns, j):
        """Index of each token of column j of `columns` in the key list, -1 where absent."""
        n = len(columns)
        if self.size == 0 or n == 0:
            return np.full(n, -1, dtype=np.int64)
        if not self.unique:
            return self.find(columns.column(j))
        words = columns.words(j, self.num_words)
        hashes = _hash(words)
        pos = np.minimum(np.searchsorted(self.hashes, hashes), self.size - 1)
        candidate = self.order[pos]
        found = self.hashes[pos] == hashes
        for i in range(words.shape[1]):       # confirm: a hash match is not proof
            found &= words[:, i] == self.words[candidate, i]
        return np.where(found, candidate, -1)

    def find(self, column):
        """Index of each entry of `column` (a fixed-width bytes array), -1 where absent."""
        if self.size == 0 or column.size == 0:
            return np.full(column.size, -1, dtype=np.int64)
        table = np.array([k for k in (self.strings if not self.unique else
                                      _words_to_strings(self.words))])
        width = max(table.dtype.itemsize, column.dtype.itemsize)
        table = table.astype('S%d' % width)
        column = column.astype('S%d' % width)
        order = np.argsort(table, kind='stable')
        pos = np.minimum(np.searchsorted(table[order], column), self.size - 1)
        return np.where(table[order][pos] == column, order[pos], -1)


def _words_to_strings(words):
    return np.frombuffer(np.ascontiguousarray(words[:, :-1]).tobytes(),
                         dtype='S%d' % (8 * (words.shape[1] - 1)))


def _hash(words):
    """A 64-bit hash of each row of uint64 words (wrapping arithmetic)."""
    h = np.zeros(words.shape[0], dtype=np.uint64)
    for i in range(words.shape[1]):
        h ^= words[:, i] * _HASH_MULTIPLIERS[i % len(_HASH_MULTIPLIERS)]
        h = (h << np.uint64(7)) | (h >> np.uint64(57))
    return h

