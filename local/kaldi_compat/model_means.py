"""Speaker models (means of their utterances' vectors) written as soon as they are done.

ivector-mean with a spk2utt writes one model per speaker, in spk2utt order. Kaldi's
binary reads each speaker's vectors by random access and writes its mean at once.
Here the vectors come in the table's order, and a model is written when it and every
speaker before it in spk2utt have all their vectors: when the table is in spk2utt
order (the usual case, both sorted) each model leaves memory within a chunk, so
145,000 one-utterance models (VoxCeleb1-H) do not sit in memory together. A speaker
still waiting for vectors holds back the ones after it until the end of the table.

Sums are float64; a finished model waiting for its turn is kept as the float32 mean
that will be written (one vector of one utterance is exactly its float32 vector).
"""
import numpy as np

from kaldi_compat.streaming import add_by_group


class _Rows:
    """Rows of one matrix lent out and given back: memory for as many rows as were
    ever in use at once, not one row for every speaker."""

    def __init__(self, dim, dtype):
        self.rows = np.zeros((0, dim), dtype)
        self.free = []

    def take(self, n):
        if len(self.free) < n:
            old = self.rows.shape[0]
            new = max(old + n, old + old // 2, 1024)
            # refcheck=False: no view of the matrix outlives a call of this class's users.
            self.rows.resize((new, self.rows.shape[1]), refcheck=False)
            self.free.extend(range(new - 1, old - 1, -1))
        slots = np.array(self.free[len(self.free) - n:], dtype=np.int64)
        del self.free[len(self.free) - n:]
        return slots

    def give_back(self, slots):
        self.free.extend(slots.tolist())


class OrderedMeans:
    """Per-speaker means of vectors given in any order, handed to `write(speakers,
    float32 means)` in speaker order, each as soon as it can be.

    listed: the number of utterances spk2utt lists for each speaker.
    """

    def __init__(self, listed, dim, write):
        self.remaining = np.asarray(listed, dtype=np.int64).copy()
        self.counts = np.zeros(self.remaining.size, dtype=np.int64)
        self.write = write
        self.next = 0                       # the first speaker not yet written (or passed)
        self.sum_slot = np.full(self.remaining.size, -1, dtype=np.int64)
        self.sums = _Rows(dim, np.float64)
        self.mean_slot = np.full(self.remaining.size, -1, dtype=np.int64)
        self.means = _Rows(dim, np.float32)

    def add(self, speakers, rows):
        """rows (n x D) belong to speakers (n speaker indices; each (utterance, speaker)
        pair at most once over all calls)."""
        if not len(speakers):
            return
        if self._next_in_order(speakers):
            # The next speakers in spk2utt order, each given the one vector it waits for
            # (one-utterance models in table order): written as they are.
            self.counts[speakers] = 1
            self.remaining[speakers] = 0
            self.next += speakers.size
            self.write(speakers, rows)
            self._write_ready()
            return
        present, first, index, counts = np.unique(speakers, return_index=True,
                                                  return_inverse=True, return_counts=True)
        # A speaker whose one awaited vector this is is done: its mean is that vector.
        alone = (counts == 1) & (self.remaining[present] == 1) & (self.sum_slot[present] < 0)
        done = present[alone]
        self.mean_slot[done] = slots = self.means.take(done.size)
        self.means.rows[slots] = rows[first[alone]]
        self.counts[done] = 1
        self.remaining[done] = 0
        others = ~alone[index.ravel()]
        if others.any():
            self._add_to_sums(speakers[others], rows[others])
        self._write_ready()

    def _next_in_order(self, speakers):
        following = slice(self.next, self.next + speakers.size)
        return (speakers[0] == self.next and speakers[-1] == self.next + speakers.size - 1
                and np.all(np.diff(speakers) == 1) and np.all(self.remaining[following] == 1)
                and np.all(self.sum_slot[following] < 0))

    def _add_to_sums(self, speakers, rows):
        present, index = np.unique(speakers, return_inverse=True)
        sums = np.zeros((present.size, rows.shape[1]))
        counts = np.zeros(present.size, dtype=np.int64)
        add_by_group(sums, counts, index.ravel(), rows)
        new = present[self.sum_slot[present] < 0]
        self.sum_slot[new] = slots = self.sums.take(new.size)
        self.sums.rows[slots] = 0.0
        self.sums.rows[self.sum_slot[present]] += sums
        self.counts[present] += counts
        self.remaining[present] -= counts
        self._finish(present[self.remaining[present] == 0])

    def close(self):
        """The table has ended: speakers still missing vectors are done with those they
        have, and everything left is written."""
        self._finish(np.flatnonzero(self.sum_slot >= 0))
        self.remaining[:] = 0
        self._write_ready()

    def _finish(self, speakers):
        """Speakers with all their vectors: their sums become the float32 means written."""
        slots = self.sum_slot[speakers]
        means = (self.sums.rows[slots] / self.counts[speakers, None]).astype(np.float32)
        self.sums.give_back(slots)
        self.sum_slot[speakers] = -1
        self.mean_slot[speakers] = slots = self.means.take(speakers.size)
        self.means.rows[slots] = means

    def _write_ready(self):
        """Write the run of finished speakers from self.next on (those with no vector at
        all are passed over)."""
        waiting = np.flatnonzero(self.remaining[self.next:] != 0)
        end = self.next + (waiting[0] if waiting.size else self.remaining.size - self.next)
        block = np.arange(self.next, end)
        block = block[self.counts[block] > 0]
        if block.size:
            slots = self.mean_slot[block]
            self.write(block, self.means.rows[slots])
            self.means.give_back(slots)
            self.mean_slot[block] = -1
        self.next = end
