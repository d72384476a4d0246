"""ivector-compute-plda: estimate a PLDA model from vectors and speaker labels.

  ivector-compute-plda [options] <spk2utt-rspecifier> <ivector-rspecifier> <plda-out>
  e.g.: ivector-compute-plda ark:spk2utt ark,s,cs:ivectors.ark plda

As Kaldi's: E-M for the within- and between-class covariances (--num-em-iters,
default 10), then the model is written with the transform that makes the
within-class covariance unit and the between-class covariance diagonal. Utterances
without a vector are warned about and skipped; a speaker with none is skipped.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.key_map import duplicate_key
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.plda import write_plda
from kaldi_compat.plda_train import PldaStats, estimate_plda
from kaldi_compat.streaming import SpeakerSums, read_spk2utt

NAME = 'ivector-compute-plda'


def accumulate(spk2utt_rspecifier, ivector_rspecifier):
    """(speakers, vectors per speaker, PldaStats of those with any or None, number of
    utterances read, number absent). The per-speaker sums are let go on return: only
    the speakers' means (in PldaStats) go on to the E-M."""
    speakers, utt_map, owner = read_spk2utt(spk2utt_rspecifier)
    entries_per_speaker = np.bincount(owner, minlength=len(speakers))
    for spk in np.flatnonzero(entries_per_speaker == 0)[:1]:
        raise UserError('%s: speaker %s has no utterances'
                            % (spk2utt_rspecifier, speakers[spk]))
    seen = np.zeros(len(utt_map), dtype=bool)
    sums = None
    # Kaldi reads vectors as BaseFloat and accumulates in double (SpeakerSums widens).
    for keys, chunk in kt.read_vector_chunks(ivector_rspecifier, dtype=np.float32):
        rows, entries = utt_map.find_all(keys)
        if seen[entries].any() or np.unique(entries).size < entries.size:
            raise UserError('%s: key %s appears twice'
                                % (ivector_rspecifier, duplicate_key(utt_map, entries, seen)))
        seen[entries] = True
        if sums is None:
            sums = SpeakerSums(len(speakers), chunk.shape[1])
        every_row = rows.size == chunk.shape[0] and np.array_equal(rows, np.arange(rows.size))
        sums.add(chunk if every_row else chunk[rows], owner[entries])
    for entry in np.flatnonzero(~seen):
        warn(NAME, 'No iVector present in input for utterance %s' % utt_map.key(entry))
    counts = sums.spk_counts if sums else np.zeros(len(speakers), dtype=np.int64)
    for spk in np.flatnonzero(counts == 0):
        warn(NAME, 'Not producing output for speaker %s since no utterances had iVectors'
             % speakers[spk])
    done = np.flatnonzero(counts > 0)
    stats = None
    if done.size:
        stats = PldaStats(sums.dim)
        means, within = sums.class_stats(done)
        stats.add_class_stats(counts[done], means, within)
    return speakers, counts, stats, int(seen.sum()), int((~seen).sum())


def main(argv):
    parser = ToolParser(NAME, __doc__, 3)
    parser.add('num-em-iters', 10, 'Number of iterations of E-M used for PLDA estimation')
    parser.add('binary', True, 'Write output in binary mode')
    opts, args = parser.parse(argv)
    spk2utt_rspecifier, ivector_rspecifier, plda_wxfilename = args

    speakers, counts, stats, utt_done, utt_err = accumulate(spk2utt_rspecifier,
                                                           ivector_rspecifier)
    spk_done = int((counts > 0).sum())
    spk_err = len(speakers) - spk_done
    log(NAME, 'Accumulated stats from %d speakers (%d with no utterances), consisting of '
        '%d utterances (%d absent from input).' % (spk_done, spk_err, utt_done, utt_err))
    if spk_done == 0:
        raise UserError('No stats accumulated, unable to estimate PLDA.')
    if spk_done == utt_done:
        raise UserError('No speakers with multiple utterances, unable to estimate PLDA.')
    plda = estimate_plda(stats, opts.num_em_iters, log=lambda m: log(NAME, m))
    write_plda(plda_wxfilename, plda, opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
