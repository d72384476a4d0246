"""Building blocks for tools that stream their tables, as Kaldi's binaries do.

A tool reads its vectors in chunks (kaldi_table.read_vector_chunks) and keeps only
what its maths needs. Here:

* KeyMap: utterance -> entry lookups (utt2spk, spk2utt) held as one sorted numpy
  bytes array and int32 entry numbers (key length + 4 bytes an utterance) rather
  than a dict of Python strings (about 200 bytes), and lookups go a chunk at a time.
* SpeakerSums: per-speaker sums and counts, and the total scatter, in float64.
* rereadable_chunks: two passes over a table (a mean first, then its use); a file
  is read twice, a pipe or stdin is spooled once to a temporary ark.
"""
import contextlib
import os
import tempfile

import numpy as np

from data_utils import ark_fast
from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_streams import describe

_BLOCK = 100000      # keys gathered in Python lists before becoming a numpy block
# Chunks of the tools that map or sum vectors: a few MB, so that their temporaries are
# reused from the heap rather than mapped afresh (page faults) for every chunk.
CHUNK_BYTES = 4 << 20


def stored_chunks(rspecifier, chunk_rows=10000):
    """read_vector_chunks in the table's own precision (float32 for float vectors) and
    chunks of at most CHUNK_BYTES: for tools whose maths widens to float64 itself."""
    return kt.read_vector_chunks(rspecifier, chunk_rows, dtype=None, chunk_bytes=CHUNK_BYTES)


def vector_batches(rspecifier):
    """(keys, rows) over a vector table in the runs its fast readers cut out (ark_fast),
    rows in the stored precision, each run of one dimension: for a tool that, as
    Kaldi's est-pca, skips vectors of another dimension with a warning rather than
    stopping. Values must be finite, as the other readers require."""
    kind, _, name = kt.parse_rspecifier(rspecifier)
    # (ark_fast's scp batches are the ones read_vector_chunks takes: one read a block.)
    batches = ark_fast.vector_batches(name) if kind == 'ark' else ark_fast._scp_batches(name)
    for keys, _, _, rows in batches:
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():
            raise UserError('%s: key %s: contains NaN or Inf'
                            % (describe(name), keys[int(np.flatnonzero(~finite)[0])]))
        yield keys, rows


class KeyMap:
    """Exact lookup of keys (utterances) among entries given in some order.

    entries are numbered 0, 1, ... in the order given; a key may appear in several
    entries (an utterance listed under two speakers), and lookups return all of them.
    """

    def __init__(self, keys):
        """keys: an iterable of str, one per entry (it may be a generator)."""
        blocks, pending = [], []
        for key in keys:
            pending.append(key.encode('latin1'))
            if len(pending) == _BLOCK:
                blocks.append(np.array(pending))
                pending = []
        if pending or not blocks:
            blocks.append(np.array(pending or [b''])[:len(pending)])
        width = max(b.dtype.itemsize for b in blocks)
        keys = np.concatenate([b.astype('S%d' % width) for b in blocks])
        # Only the sorted keys and their entry numbers are kept (width + 4 bytes a key).
        self.order = np.argsort(keys, kind='stable').astype(np.int32)
        self.sorted = keys[self.order]
        self._rank = None

    def __len__(self):
        return self.sorted.size

    def key(self, entry):
        """The key of an entry (for messages; the first call sorts once more)."""
        if self._rank is None:
            self._rank = np.argsort(self.order)
        return self.sorted[self._rank[entry]].decode('latin1')

    def _ranges(self, keys):
        query = np.array([k.encode('latin1') for k in keys] or [b''])[:len(keys)]
        width = self.sorted.dtype.itemsize
        too_long = np.char.str_len(query) > width if query.size else np.zeros(0, bool)
        query = query.astype('S%d' % width)       # truncation is harmless: too_long rejects
        lo = np.searchsorted(self.sorted, query, 'left')
        hi = np.searchsorted(self.sorted, query, 'right')
        hi[too_long] = lo[too_long]
        return lo, hi

    def find_last(self, keys):
        """For each key, its last entry (as a dict built in entry order would keep), -1 if none."""
        lo, hi = self._ranges(keys)
        found = hi > lo
        return np.where(found, self.order[np.maximum(hi - 1, 0)], -1)

    def find_all(self, keys):
        """(key positions, entries): each key's position repeated once per entry holding it."""
        lo, hi = self._ranges(keys)
        counts = hi - lo
        positions = np.repeat(np.arange(len(keys)), counts)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return positions, self.order[starts + np.arange(positions.size)]


def read_spk2utt(rspecifier):
    """(speakers, KeyMap of utterances, speaker index of each utterance entry).

    Speakers keep their order; an empty speaker keeps its place with no entries.
    """
    speakers, sizes = [], []

    def utterances():
        for spk, utts in kt.read_token_table(rspecifier):
            sizes.append(len(utts))
            speakers.append(spk)
            yield from utts

    utt_map = KeyMap(utterances())
    owner = np.repeat(np.arange(len(speakers), dtype=np.int32), sizes)
    return speakers, utt_map, owner


def read_utt2spk(rspecifier):
    """(speakers in order of first appearance, KeyMap of utterances, speaker index per entry)."""
    speaker_index, owners = {}, []

    def utterances():
        for utt, fields in kt.read_token_table(rspecifier):
            if len(fields) != 1:
                raise UserError('%s: utterance %s: expected one speaker, got %d fields'
                                    % (rspecifier, utt, len(fields)))
            owners.append(speaker_index.setdefault(fields[0], len(speaker_index)))
            yield utt

    utt_map = KeyMap(utterances())
    return list(speaker_index), utt_map, np.array(owners, dtype=np.int32)


def add_by_group(sums, counts, groups, rows):
    """sums[g] += rows of group g and counts[g] += their number, for each group g."""
    if not len(groups):
        return
    # Sorting once by group makes each group's sum one reduction of a slice (np.add.at,
    # and reduceat along rows, are several times slower; the sums are the same).
    order = np.argsort(groups, kind='stable')
    grouped = groups[order]
    rows = rows[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    bounds = zip(starts.tolist(), np.r_[starts[1:], grouped.size].tolist())
    sums[grouped[starts]] += [np.add.reduce(rows[s:e], axis=0, dtype=sums.dtype) for s, e in bounds]
    counts[grouped[starts]] += np.diff(np.r_[starts, grouped.size])


def duplicate_key(key_map, entries, seen):
    """The key of the first entry among `entries` already seen or repeated (for messages)."""
    first = np.zeros(entries.size, dtype=bool)
    first[np.unique(entries, return_index=True)[1]] = True
    repeated = seen[entries] | ~first
    return key_map.key(entries[np.flatnonzero(repeated)[0]])


class SpeakerSums:
    """Per-speaker sums and counts of vectors, and their total sum and scatter (float64).

    Everything is accumulated around a shift (the first chunk's mean), which keeps
    the scatter's cancellation small when the data sit far from the origin:
    scatter around the mean = shifted scatter - N d d^T, d = mean - shift.
    """

    def __init__(self, num_speakers, dim):
        self.dim = dim
        self.count = 0
        self.shift = None
        self.total = np.zeros(dim)
        self.scatter = np.zeros((dim, dim))
        self.spk_sums = np.zeros((num_speakers, dim))
        self.spk_counts = np.zeros(num_speakers, dtype=np.int64)

    def add(self, vectors, speakers):
        """vectors: n x D (float64), speakers: n speaker indices."""
        if not vectors.shape[0]:
            return
        if self.shift is None:
            self.shift = vectors.mean(axis=0)
        shifted = vectors - self.shift
        self.count += vectors.shape[0]
        self.total += shifted.sum(axis=0)
        self.scatter += shifted.T @ shifted
        add_by_group(self.spk_sums, self.spk_counts, speakers, shifted)

    def mean(self):
        return self.shift + self.total / self.count

    def scatter_around(self, point):
        """Sum over vectors of (x - point)(x - point)^T."""
        d = self.total / self.count
        e = (self.shift - point) + d
        return self.scatter - self.count * np.outer(d, d) + self.count * np.outer(e, e)

    def within_scatter(self, speakers):
        """Sum over the given speakers' vectors of (x - speaker mean)(x - speaker mean)^T."""
        sums = self.spk_sums[speakers]
        return self.scatter - (sums / self.spk_counts[speakers, None]).T @ sums

    def speaker_means(self, speakers):
        """Means of the given speakers (each must have a vector), unshifted."""
        return self.shift + self.spk_sums[speakers] / self.spk_counts[speakers, None]


def _rereadable(rspecifier):
    """True if the table can be read twice: a plain file, not a pipe or stdin."""
    name = kt.parse_rspecifier(rspecifier)[2].strip()
    return name not in ('', '-') and not name.endswith('|')


@contextlib.contextmanager
def rereadable_chunks(rspecifier, chunk_rows=10000):
    """Yield a function that starts a new pass of read_vector_chunks over the table.

    A file is simply read again. A pipe or stdin is copied, as it is read the first
    time, to a temporary double-precision ark (exact) that the later passes read.
    Chunks come in the stored precision (stored_chunks).
    """
    if _rereadable(rspecifier):
        yield lambda: stored_chunks(rspecifier, chunk_rows)
        return
    fd, spool = tempfile.mkstemp(prefix='spool.', suffix='.ark')
    os.close(fd)
    state = {'spooled': False}

    def first_pass():
        with kt.VectorWriter('ark:' + spool, binary=True, double=True) as writer:
            for keys, chunk in stored_chunks(rspecifier, chunk_rows):
                writer.write(keys, chunk)
                yield keys, chunk
        state['spooled'] = True

    def passes():
        if not state['spooled']:
            return first_pass()
        return stored_chunks('ark:' + spool, chunk_rows)

    try:
        yield passes
    finally:
        if os.path.exists(spool):
            os.unlink(spool)
