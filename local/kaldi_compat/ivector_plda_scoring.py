"""ivector-plda-scoring: log-likelihood ratios of trials under a PLDA model.

  ivector-plda-scoring [options] <plda> <train-ivector-rspecifier> <test-ivector-rspecifier>
                       <trials-rxfilename> <scores-wxfilename>
  e.g.: ivector-plda-scoring --num-utts=ark:exp/train/num_utts.ark plda \\
          ark:exp/train/spk_ivectors.ark ark:exp/test/ivectors.ark trials scores

Trials are "<key1> <key2>" lines (exactly two fields); the output has
"<key1> <key2> <score>" lines in trials order. The "train" vectors are enrolment
models averaged over utterances; --num-utts gives how many (default 1 each), which
enters the length normalisation and the score. A trial whose key is missing is
warned about and skipped, and the count is reported at the end, as in Kaldi.

Unlike Kaldi's loop over trials, each model and test vector is transformed once and
all trials are scored with matrix products.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.plda import PldaScorer, plda_config_options, read_plda
from kaldi_compat.trials import score_trial_list

NAME = 'ivector-plda-scoring'


def transform_table(plda, opts, vectors, num_examples, what):
    """(vectors transformed into the PLDA space in float32, renormalisation factors).

    Kaldi keeps the transformed vectors in single precision. The double-precision
    temporaries of the transform go 1,000 rows at a time: a few MB, not hundreds.
    """
    if vectors.shape[0] and vectors.shape[1] != plda.dim:
        raise UserError('%s vectors have dimension %d but the PLDA model has %d'
                         % (what, vectors.shape[1], plda.dim))
    n = np.broadcast_to(num_examples, (vectors.shape[0],))
    out = np.empty(vectors.shape, dtype=np.float32)
    factors = np.empty(vectors.shape[0])
    for start in range(0, vectors.shape[0], 1000):
        sel = slice(start, start + 1000)
        out[sel], factors[sel] = plda.transform_vectors(
            vectors[sel].astype(np.float64), n[sel], opts.normalize_length,
            opts.simple_length_normalization)
    return out, factors


def read_transformed(plda, opts, rspecifier, num_utts_of, what):
    """(keys, transformed float32 rows, their counts, renormalisation factors, keys dropped).

    The table is transformed as it is read, 10k rows at a time, so only the float32
    result is ever held whole. num_utts_of(keys) gives each key's number of
    utterances, 0 to drop the key (warned about by num_utts_of).
    """
    counts, factors, dropped = [], [], [0]

    def transform(keys, chunk):
        n = num_utts_of(keys)
        keep = n > 0
        if not keep.all():
            dropped[0] += int((~keep).sum())
            keys = [k for k, ok in zip(keys, keep) if ok]
            chunk, n = chunk[keep], n[keep]
        out, chunk_factors = transform_table(plda, opts, chunk, n, what)
        counts.append(n)
        factors.append(chunk_factors)
        return keys, out

    # Read as float (Kaldi's BaseFloat reader rounds a double ark), transformed in double.
    keys, vectors = kt.read_vector_table(rspecifier, np.float32, convert=transform)
    return (keys, vectors, np.concatenate(counts) if counts else np.zeros(0, np.int64),
            np.concatenate(factors) if factors else np.zeros(0), dropped[0])


def num_utts_lookup(rspecifier):
    """num_utts_of(keys) for read_transformed: counts from the --num-utts table (0 and
    a warning for a speaker it does not list), or 1 each without the option."""
    if not rspecifier:
        return lambda keys: np.ones(len(keys), dtype=np.int64)
    table = dict(kt.read_int_table(rspecifier))

    def num_utts_of(keys):
        counts = np.array([table.get(spk, 0) for spk in keys], dtype=np.int64)
        for i in np.flatnonzero(counts <= 0):
            if keys[i] not in table:
                warn(NAME, 'Number of utterances not given for speaker %s' % keys[i])
            else:
                raise UserError('%s: speaker %s has %d utterances (must be positive)'
                                 % (rspecifier, keys[i], counts[i]))
        return counts

    return num_utts_of


def read_num_utts(rspecifier, models):
    """(utterances of each model, whether the table gives it): the whole-list form of
    num_utts_lookup (a model it does not give is warned about and counts 0)."""
    counts = num_utts_lookup(rspecifier)(models)
    return counts, counts > 0


def score_trials_streamed(plda, train_keys, train, num_utts, test_keys, test, trials_rx,
                          scores_wx):
    """Score every trial of trials_rx into scores_wx; vectors already transformed.

    Returns (trials done, trials with a missing key, sum of scores, sum of squares).
    """
    scorer = None

    def score(rows_enrol, rows_test, is_last):
        nonlocal scorer
        if scorer is None:
            # The scorer picks dense or per-trial products by the number of trials:
            # known when the list fits in one piece, else taken as "many".
            scorer = PldaScorer(plda, train, num_utts, test,
                                expected_trials=len(rows_enrol) if is_last else None)
        # Kaldi computes in double and prints (and sums) the float.
        # Trials 4096 at a time, so that the rows gathered for them stay small.
        return scorer.score(rows_enrol, rows_test, chunk=4096)

    return score_trial_list(NAME, trials_rx, scores_wx, train_keys, test_keys, score,
                            'Key %s not present in training iVectors.',
                            'Key %s not present in test iVectors.')


def main(argv):
    parser = ToolParser(NAME, __doc__, 5)
    plda_config_options(parser)
    parser.add('num-utts', '', 'Table to read the number of utterances per speaker, '
               'e.g. ark:num_utts.ark')
    opts, args = parser.parse(argv)
    plda_rx, train_rspecifier, test_rspecifier, trials_rx, scores_wx = args

    plda = read_plda(plda_rx)

    log(NAME, 'Reading train iVectors')
    train_keys, train, num_utts, factors, num_train_errs = read_transformed(
        plda, opts, train_rspecifier, num_utts_lookup(opts.num_utts), 'training')
    log(NAME, 'Read %d training iVectors, errors on %d' % (len(train_keys), num_train_errs))
    if not train_keys:
        raise UserError('No training iVectors present.')
    log(NAME, 'Average renormalization scale on training iVectors was %g' % factors.mean())

    log(NAME, 'Reading test iVectors')
    test_keys, test, _, factors, _ = read_transformed(
        plda, opts, test_rspecifier, num_utts_lookup(None), 'test')
    log(NAME, 'Read %d test iVectors.' % len(test_keys))
    if not test_keys:
        raise UserError('No test iVectors present.')
    log(NAME, 'Average renormalization scale on test iVectors was %g' % factors.mean())

    num_done, num_errors, total, total_sq = score_trials_streamed(
        plda, train_keys, train, num_utts, test_keys, test, trials_rx, scores_wx)
    # score_trial_list has refused a list of which no trial could be scored: num_done > 0.
    mean = total / num_done
    log(NAME, 'Mean score was %g, standard deviation was %g'
        % (mean, np.sqrt(max(total_sq / num_done - mean * mean, 0.0))))
    log(NAME, 'Processed %d trials, %d had errors.' % (num_done, num_errors))
    return 0


if __name__ == '__main__':
    run_tool(NAME, main)
