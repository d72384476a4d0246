"""Building blocks for tools that stream their tables, as Kaldi's binaries do.

A tool reads its vectors in chunks (kaldi_table.read_vector_chunks) and keeps only
what its maths needs. Here:

* read_spk2utt / read_utt2spk: the lists as a data_utils.key_map.KeyMap (one sorted
  bytes array, not a dict of Python strings) and a speaker index per entry.
* SpeakerSums: per-speaker sums and counts, and the total scatter, in float64.
* rereadable_chunks: two passes over a table (a mean first, then its use); a file
  is read twice, a pipe or stdin is spooled once to a temporary ark.
"""
import contextlib
import os
import tempfile

import numpy as np

from data_utils import ark_fast, scp_vectors
from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.key_map import KEY_BLOCK, KeyMap, byte_blocks
from data_utils.kaldi_streams import describe, open_rx
from data_utils.limits import bounded_lines

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
    # (the scp batches are the ones read_vector_chunks takes: one read a block.)
    batches = ark_fast.vector_batches(name) if kind == 'ark' else scp_vectors.scp_batches(name)
    where = describe(name)
    for keys, _, _, rows in batches:
        yield keys, ark_fast.finite_rows(rows, keys, where)


def _token_lines(rspecifier):
    """(first token, other tokens) of each non-empty line of a text table, as bytes
    (kaldi_table.read_token_table's lines, without decoding every token)."""
    kind, _, name = kt.parse_rspecifier(rspecifier)
    if kind != 'ark':
        raise UserError("'%s': token tables are read as ark:" % rspecifier)
    with open_rx(name) as stream:
        for line in bounded_lines(stream, describe(name)):
            parts = line.split()
            if parts:
                yield parts[0], parts[1:]


def read_spk2utt(rspecifier):
    """(speakers, KeyMap of utterances, speaker index of each utterance entry).

    Speakers keep their order; an empty speaker keeps its place with no entries.
    """
    speakers, sizes, blocks, pending = [], [], [], []
    for spk, utts in _token_lines(rspecifier):
        speakers.append(spk.decode('latin1'))
        sizes.append(len(utts))
        pending += utts
        if len(pending) >= KEY_BLOCK:
            blocks.append(np.array(pending))
            pending = []
    if pending:
        blocks.append(np.array(pending))
    owner = np.repeat(np.arange(len(speakers), dtype=np.int32), sizes)
    return speakers, KeyMap.of_blocks(blocks), owner


def read_utt2spk(rspecifier):
    """(speakers in order of first appearance, KeyMap of utterances, speaker index per entry)."""
    speaker_index, owners = {}, []

    def utterances():
        for utt, fields in _token_lines(rspecifier):
            if len(fields) != 1:
                raise UserError('%s: utterance %s: expected one speaker, got %d fields'
                                % (rspecifier, utt.decode('latin1'), len(fields)))
            owners.append(speaker_index.setdefault(fields[0], len(speaker_index)))
            yield utt

    utt_map = KeyMap.of_blocks(byte_blocks(utterances()))
    speakers = [spk.decode('latin1') for spk in speaker_index]
    return speakers, utt_map, np.array(owners, dtype=np.int32)


def add_by_group(sums, counts, groups, rows):
    """sums[g] += rows of group g and counts[g] += their number, for each group g."""
    if not len(groups):
        return
    # Sorting once by group makes each group's sum one reduction of a slice (np.add.at,
    # and reduceat along rows, are several times slower; the sums are the same). Rows
    # already in group order (a table sorted by speaker) are taken as they are.
    if not np.all(groups[1:] >= groups[:-1]):
        order = np.argsort(groups, kind='stable')
        groups, rows = groups[order], rows[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], groups.size]
    counts[groups[starts]] += ends - starts
    # Groups of one row (one-utterance speakers) at once; the others a reduction each.
    single = ends - starts == 1
    sums[groups[starts[single]]] += rows[starts[single]]
    many = np.flatnonzero(~single)
    if many.size:
        bounds = zip(starts[many].tolist(), ends[many].tolist())
        sums[groups[starts[many]]] += [np.add.reduce(rows[s:e], axis=0, dtype=sums.dtype)
                                       for s, e in bounds]


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
        """vectors: n x D (float32 or float64: the maths is in float64), speakers: n
        speaker indices."""
        if not vectors.shape[0]:
            return
        if self.shift is None:
            self.shift = vectors.mean(axis=0, dtype=np.float64)
        # Widened and shifted in one pass: the chunk's one float64 copy.
        shifted = np.subtract(vectors, self.shift, dtype=np.float64)
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

    def class_stats(self, speakers, block=1024):
        """(means, within scatter) of the given speakers (each must have a vector): their
        means, unshifted, and the sum over their vectors of (x - speaker mean)(x -
        speaker mean)^T, formed `block` speakers at a time: no temporary as large as
        the per-speaker sums (7,200 x 512 doubles are 29 MB)."""
        means = np.empty((len(speakers), self.dim))
        within = self.scatter.copy()
        for start in range(0, len(speakers), block):
            some = speakers[start:start + block]
            sums = self.spk_sums[some]
            shifted_means = sums / self.spk_counts[some, None]
            within -= shifted_means.T @ sums
            np.add(self.shift, shifted_means, out=means[start:start + block])
        return means, within

    def pop_speaker_means(self, speakers, point):
        """The given speakers' means minus `point` (each speaker must have a vector),
        made in place of the per-speaker sums, which are gone afterwards: no second
        per-speaker array at the end of a tool."""
        every = len(speakers) == self.spk_sums.shape[0]      # then speakers = 0, 1, ...
        means = self.spk_sums if every else self.spk_sums[speakers]
        self.spk_sums = None
        means /= self.spk_counts[speakers, None]
        means += self.shift - point
        return means


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
