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
from data_utils.key_map import duplicate_key
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.model_means import OrderedMeans
from kaldi_compat.streaming import read_spk2utt, stored_chunks

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


def speaker_means(spk2utt_rspecifier, rspecifier, wspecifier, num_utts_wspecifier):
    """Streams the vectors once, summing each into the speakers that list it; each model
    is written as soon as it and those before it are complete (model_means)."""
    speakers, utt_map, owner = read_spk2utt(spk2utt_rspecifier)
    listed = np.bincount(owner, minlength=len(speakers))
    seen = np.zeros(len(utt_map), dtype=bool)
    models = None
    with kt.VectorWriter(wspecifier) as writer:
        def write(block, means):
            writer.write([speakers[i] for i in block], means)

        for keys, chunk in stored_chunks(rspecifier):
            if models is None:
                models = OrderedMeans(listed, chunk.shape[1], write)
            rows, entries = utt_map.find_all(keys)
            if seen[entries].any() or np.unique(entries).size < entries.size:
                raise UserError('%s: key %s appears twice'
                                    % (rspecifier, duplicate_key(utt_map, entries, seen)))
            seen[entries] = True
            every_row = rows.size == len(keys) and np.array_equal(rows, np.arange(rows.size))
            models.add(owner[entries], chunk if every_row else chunk[rows])
        if models is not None:
            models.close()
        counts = models.counts if models is not None else np.zeros(len(speakers), np.int64)
        missing = np.flatnonzero(~seen)
        for entry in missing:                    # in spk2utt order
            warn(NAME, 'No vector for utterance %s of %s'
                 % (utt_map.key(entry), speakers[owner[entry]]))
        for i in np.flatnonzero(counts == 0):
            warn(NAME, 'Not producing output for %s: none of its utterances has a vector'
                 % speakers[i])
        if not writer.num_written:
            raise UserError('%s: no model has any vector in %s' % (spk2utt_rspecifier, rspecifier))
    done = np.flatnonzero(counts > 0)
    if num_utts_wspecifier:
        kt.write_int_table(num_utts_wspecifier, [speakers[i] for i in done], counts[done])
    log(NAME, 'Computed mean of %d models (%d utterances missing)' % (len(done), missing.size))


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
