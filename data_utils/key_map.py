"""Keys (utterance ids) looked up among a VoxCeleb-size list without a dict of strings.

A dict of Python strings costs about 200 bytes a key; a KeyMap holds the keys as one
sorted numpy bytes array and int32 entry numbers (key length + 4 bytes a key), and
looks keys up a chunk at a time (np.searchsorted). Used for utt2spk and spk2utt by the
streaming back-end tools (kaldi_compat.streaming) and by ark2npz.
"""
import numpy as np

KEY_BLOCK = 100000      # keys gathered in Python lists before becoming a numpy block


def byte_blocks(keys):
    """Keys (bytes) as a list of numpy bytes arrays of up to KEY_BLOCK keys each."""
    blocks, pending = [], []
    for key in keys:
        pending.append(key)
        if len(pending) == KEY_BLOCK:
            blocks.append(np.array(pending))
            pending = []
    if pending:
        blocks.append(np.array(pending))
    return blocks


class KeyMap:
    """Exact lookup of keys (utterances) among entries given in some order.

    entries are numbered 0, 1, ... in the order given; a key may appear in several
    entries (an utterance listed under two speakers), and lookups return all of them.
    """

    def __init__(self, keys):
        """keys: an iterable of str, one per entry (it may be a generator)."""
        self._build(byte_blocks(key.encode('latin1') for key in keys))

    @classmethod
    def of_blocks(cls, blocks):
        """A KeyMap of keys given as a list of numpy bytes arrays, in entry order."""
        key_map = cls.__new__(cls)
        key_map._build(blocks)
        return key_map

    def _build(self, blocks):
        if not blocks:
            blocks = [np.zeros(0, 'S1')]
        width = max(b.dtype.itemsize for b in blocks)
        keys = np.concatenate(blocks, dtype='S%d' % width)
        del blocks
        # Only the sorted keys and their entry numbers are kept (width + 4 bytes a key);
        # keys given in sorted order (Kaldi's sorted utt2spk, spk2utt of sorted
        # "<spk>-<utt>" ids) are their own order, and need no entry numbers at all.
        if np.all(keys[1:] >= keys[:-1]):
            self.order, self.sorted = None, keys
        else:
            self.order = np.argsort(keys, kind='stable').astype(np.int32)
            self.sorted = keys[self.order]
        self._rank = None

    def __len__(self):
        return self.sorted.size

    def _entries(self, positions):
        """Entry numbers of positions in the sorted keys."""
        return positions if self.order is None else self.order[positions]

    def key(self, entry):
        """The key of an entry (for messages; the first call sorts once more)."""
        if self.order is None:
            return self.sorted[entry].decode('latin1')
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
        return np.where(found, self._entries(np.maximum(hi - 1, 0)), -1)

    def find_all(self, keys):
        """(key positions, entries): each key's position repeated once per entry holding it."""
        lo, hi = self._ranges(keys)
        counts = hi - lo
        positions = np.repeat(np.arange(len(keys)), counts)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return positions, self._entries(starts + np.arange(positions.size))


def duplicate_key(key_map, entries, seen):
    """The key of the first entry among `entries` already seen or repeated (for messages)."""
    first = np.zeros(entries.size, dtype=bool)
    first[np.unique(entries, return_index=True)[1]] = True
    repeated = seen[entries] | ~first
    return key_map.key(entries[np.flatnonzero(repeated)[0]])
