"""ivector-mean: the global mean of a vector table, or per-speaker means with spk2utt.

  ivector-mean <ivector-rspecifier> <mean-wxfilename>
  ivector-mean <spk2utt-rspecifier> <ivector-rspecifier> <ivector-wspecifier> [<num-utt-wspecifier>]
The second form makes enrolment models: each model is the mean of its utterances,
and num_utts records how many there were (PLDA scoring uses it).
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import write_vector
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.streaming import add_by_group, duplicate_key, read_spk2utt, stored_chunks

NAME = 'ivector-mean'


def global_mean(rspecifier, wxfilename, binary):
    total, count = None, 0
    for keys, chunk in stored_chunks(rspecifier):
        total = chunk.sum(axis=0, dtype=np.float64) + (0.0 if total is None else total)
        count += len(keys)
    if not count:
        raise UserError('%s: no vectors to average' % rspecifier)
    mean = total / count
    write_vector(wxfilename, mean, binary=binary)
    log(NAME, 'Wrote mean of %d vectors; norm of mean is %g' % (count, np.linalg.norm(mean)))


class ModelSums:
    """Per-speaker sums, sized for what each speaker needs.

    A speaker that spk2utt gives one utterance (every model of a VoxCeleb1-H-like
    set) has its vector as its mean: it is kept in float32, exactly what is written
    (Kaldi reads and averages in float). The others are summed in float64.
    """

    def __init__(self, listed, dim):
        self.single = listed == 1
        self.slot = np.empty(listed.size, dtype=np.int64)
        self.slot[self.single] = np.arange(int(self.single.sum()))
        self.slot[~self.single] = np.arange(int((~self.single).sum()))
        self.vectors = np.zeros((int(self.single.sum()), dim), dtype=np.float32)
        self.sums = np.zeros((int((~self.single).sum()), dim))
        self.sum_counts = np.zeros(self.sums.shape[0], dtype=np.int64)
        self.counts = np.zeros(listed.size, dtype=np.int64)

    def add(self, speakers, rows):
        one = self.single[speakers]
        # A one-utterance speaker gets at most one vector: duplicate keys are refused.
        self.vectors[self.slot[speakers[one]]] = rows[one]
        self.counts[speakers[one]] = 1
        many = speakers[~one]
        add_by_group(self.sums, self.sum_counts, self.slot[many], rows[~one])
        self.counts[~self.single] = self.sum_counts

    def means(self, speakers):
        """float32, what is written: each mean rounded once from its float64 sum."""
        out = np.empty((speakers.size, max(self.vectors.shape[1], self.sums.shape[1])),
                       dtype=np.float32)
        one = self.single[speakers]
        out[one] = self.vectors[self.slot[speakers[one]]]
        many = self.slot[speakers[~one]]
        out[~one] = self.sums[many] / self.sum_counts[many, None]
        return out


def speaker_means(spk2utt_rspecifier, rspecifier, wspecifier, num_utts_wspecifier):
    """Streams the vectors once, summing each into the speakers that list it."""
    speakers, utt_map, owner = read_spk2utt(spk2utt_rspecifier)
    sums = None
    seen = np.zeros(len(utt_map), dtype=bool)
    for keys, chunk in stored_chunks(rspecifier):
        if sums is None:
            sums = ModelSums(np.bincount(owner, minlength=len(speakers)), chunk.shape[1])
        rows, entries = utt_map.find_all(keys)
        if seen[entries].any() or np.unique(entries).size < entries.size:
            raise UserError('%s: key %s appears twice'
                                % (rspecifier, duplicate_key(utt_map, entries, seen)))
        seen[entries] = True
        sums.add(owner[entries], chunk[rows])
    missing = np.flatnonzero(~seen)
    for entry in missing:                    # in spk2utt order
        warn(NAME, 'No vector for utterance %s of %s'
             % (utt_map.key(entry), speakers[owner[entry]]))
    counts = sums.counts if sums is not None else np.zeros(len(speakers), dtype=np.int64)
    for i in np.flatnonzero(counts == 0):
        warn(NAME, 'Not producing output for %s: none of its utterances has a vector'
             % speakers[i])
    models = np.flatnonzero(counts > 0)
    if not models.size:
        raise UserError('%s: no model has any vector in %s' % (spk2utt_rspecifier, rspecifier))
    with kt.VectorWriter(wspecifier) as writer:      # 10k models at a time: no second copy
        for start in range(0, models.size, 10000):
            block = models[start:start + 10000]
            writer.write([speakers[i] for i in block], sums.means(block))
    if num_utts_wspecifier:
        kt.write_int_table(num_utts_wspecifier, [speakers[i] for i in models], counts[models])
    log(NAME, 'Computed mean of %d models (%d utterances missing)' % (len(models), missing.size))


def main(argv):
    parser = ToolParser(NAME, __doc__, 2, 4)
    parser.add('binary', False, 'write the global mean in binary mode (Kaldi: text by default)')
    opts, args = parser.parse(argv)
    if len(args) == 2:
        global_mean(args[0], args[1], opts.binary)
    elif len(args) >= 3:
        speaker_means(args[0], args[1], args[2], args[3] if len(args) == 4 else None)


if __name__ == '__main__':
    run_tool(NAME, main)
