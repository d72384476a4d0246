"""A data dir's utt2spk held compactly, for labelling a VoxCeleb-size table (ark2npz).

A dict of Python strings costs about 240 bytes an utterance (391 MB for ark2npz on
1.2M vectors against 247 MB on 600k). Here the utterances are a KeyMap
(data_utils/key_map.py: one sorted fixed-width bytes array and int32 entry numbers) and each entry's speaker an int32 index: key length + 8 bytes an utterance.
Keys are compared as the bytes of the table (latin-1, as the table readers decode them).
The file is checked as data_utils.datadir.read_pairs checks it, with the same messages.
"""
import numpy as np

from data_utils.key_map import KeyMap
from data_utils.datadir import pair_lines, spk2utt_lines
from data_utils.errors import UserError
from data_utils.kaldi_streams import printable
from data_utils.npz_io import KeyRows


def first_repeat(key_map):
    """The entry of the first key (in entry order) that repeats an earlier one, or None."""
    same = key_map.sorted[1:] == key_map.sorted[:-1]
    # The sort is stable: of equal keys, the later entries come after the first.
    return int(key_map.order[1:][same].min()) if same.any() else None


class Utt2SpkMap:
    """utt2spk: entries numbered in file order, each with its speaker."""

    def __init__(self, path):
        self.path = path
        speaker_number, owners, line = {}, [], [0]

        def utterances():
            for lineno, utt, spk in pair_lines(path, 'utt2spk'):
                line[0] = lineno
                owners.append(speaker_number.setdefault(spk, len(speaker_number)))
                yield utt

        try:
            self.keys = KeyMap(utterances())
        except UnicodeEncodeError:
            raise UserError('%s: line %d: utterance is not a key of a Kaldi table (characters '
                            'beyond latin-1)' % (path, line[0])) from None
        if not owners:
            raise UserError('%s: empty' % path)
        self.owner = np.array(owners, dtype=np.int32)
        del owners
        self.speakers = list(speaker_number)
        repeat = first_repeat(self.keys)
        if repeat is not None:
            lineno = next(lineno for n, (lineno, _, _) in enumerate(pair_lines(path, 'utt2spk'))
                          if n == repeat)
            raise UserError('%s: line %d: %s appears twice'
                            % (path, lineno, printable(self.keys.key(repeat))))

    def __len__(self):
        return self.owner.size

    def entries(self, keys):
        """The entry of each key (str, as the table readers decode it), -1 for a key
        utt2spk does not name."""
        return self.keys.find_last(keys).astype(np.int32)

    def matches_spk2utt(self, spk2utt_path):
        """Whether spk2utt (checked line by line, never held) lists the same pairs."""
        number = {name: i for i, name in enumerate(self.speakers)}
        pairs, same = 0, True
        for spk, utts in spk2utt_lines(spk2utt_path):
            pairs += len(utts)
            if same:
                try:
                    found = self.entries(utts)
                except UnicodeEncodeError:   # not a table key, so not in utt2spk
                    same = False
                    continue
                same = bool((found >= 0).all()) and bool(
                    (self.owner[found] == number.get(spk, -1)).all())
        return same and pairs == len(self)

    def ids(self, entries):
        """The utterances at ``entries`` as npz_io.KeyRows (not copied out of the map)."""
        rank = np.empty(len(self), dtype=np.int32)
        rank[self.keys.order] = np.arange(len(self), dtype=np.int32)
        return KeyRows(self.keys.sorted, rank[entries])

    def speaker_arrays(self, entries):
        """(spk_index, spk_labels) of the utterances at ``entries``, as
        npz_io.speaker_arrays gives them: labels sorted, the index of each one's speaker."""
        speaker = self.owner[entries]
        present = np.flatnonzero(np.bincount(speaker, minlength=len(self.speakers)))
        names = [self.speakers[i] for i in present]
        by_name = sorted(range(len(names)), key=names.__getitem__)
        index = np.empty(len(self.speakers), dtype=np.int32)
        index[present[by_name]] = np.arange(len(by_name), dtype=np.int32)
        return index[speaker], [names[i] for i in by_name]
