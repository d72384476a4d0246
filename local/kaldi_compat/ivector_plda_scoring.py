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
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.plda import PldaScorer, plda_config_options, read_plda
from kaldi_compat.trials import score_trial_list

NAME = 'ivector-plda-scoring'


def transform_table(plda, opts, vectors, num_examples, what):
    if vectors.shape[0] and vectors.shape[1] != plda.dim:
        raise kt.UserError('%s vectors have dimension %d but the PLDA model has %d'
                            % (what, vectors.shape[1], plda.dim))
    out, factors = plda.transform_vectors(vectors, num_examples, opts.normalize_length,
                                          opts.simple_length_normalization)
    # Kaldi keeps the transformed vectors in single precision.
    return out.astype(np.float32).astype(np.float64), factors


def read_num_utts(rspecifier, models):
    table = {}
    for key, value in kt.read_int_table(rspecifier):
        table[key] = value
    counts = np.zeros(len(models), dtype=np.int64)
    keep = np.ones(len(models), dtype=bool)
    for i, spk in enumerate(models):
        if spk not in table:
            warn(NAME, 'Number of utterances not given for speaker %s' % spk)
            keep[i] = False
        elif table[spk] <= 0:
            raise kt.UserError('%s: speaker %s has %d utterances (must be positive)'
                                % (rspecifier, spk, table[spk]))
        else:
            counts[i] = table[spk]
    return counts, keep


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
    train_keys, train = kt.read_vector_table(train_rspecifier, dtype=np.float32)
    if opts.num_utts:
        num_utts, keep = read_num_utts(opts.num_utts, train_keys)
        num_train_errs = int((~keep).sum())
        if num_train_errs:
            train_keys = [k for k, ok in zip(train_keys, keep) if ok]
            train, num_utts = train[keep], num_utts[keep]
    else:
        num_utts = np.ones(len(train_keys), dtype=np.int64)
        num_train_errs = 0
    log(NAME, 'Read %d training iVectors, errors on %d' % (len(train_keys), num_train_errs))
    if not train_keys:
        raise kt.UserError('No training iVectors present.')
    train, factors = transform_table(plda, opts, train.astype(np.float64),
                                     num_utts, 'training')
    log(NAME, 'Average renormalization scale on training iVectors was %g' % factors.mean())

    log(NAME, 'Reading test iVectors')
    test_keys, test = kt.read_vector_table(test_rspecifier, dtype=np.float32)
    log(NAME, 'Read %d test iVectors.' % len(test_keys))
    if not test_keys:
        raise kt.UserError('No test iVectors present.')
    test, factors = transform_table(plda, opts, test.astype(np.float64), 1, 'test')
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
