"""score_norm.py: adaptive symmetric score normalisation (AS-norm) with a top-N cohort.

  python3 local/analysis/score_norm.py [options] <enroll-rspecifier> <test-rspecifier> \\
      <cohort-rspecifier> <scores-rxfilename> <normalised-scores-wxfilename>
  e.g. (cosine: the vectors as the cosine scorer saw them, centred, projected, unit length)
  python3 local/analysis/score_norm.py --top-n=300 "ark:... models ... |" "ark:... test ... |" \\
      "ark:... cohort ... |" exp/backend/vae/sitw_dev/scores_cosine scores_cosine_asnorm
  (PLDA: the vectors as given to ivector-plda-scoring, plus --plda and --num-utts)

Not a Kaldi tool (Kaldi has no score normalisation binary); the options follow
Kaldi's --name=value style. Every score line "enroll test score" is replaced by

  s' = 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)

where mu_e, sd_e are the mean and standard deviation (1/N, as numpy's std) of the N
highest scores of the enrolment model against the cohort, and mu_t, sd_t those of
the test vector against the cohort (Matejka et al., Interspeech 2017; the adaptive
S-norm of WeSpeaker and most current toolkits). The cohort vectors are scored in the
back-end's own space:
  cosine  dot products (the vectors given are already unit length);
  PLDA    (--plda) log-likelihood ratios under the same model, with Kaldi's length
          normalisation: enrolment vs cohort with the enrolment's --num-utts and the
          cohort vector as the test side; cohort vs test with the cohort vector as a
          one-utterance enrolment.
The cohort must look like what it stands in for. PLDA takes each cohort vector as one
utterance, so its cohort is single training utterances (the recipes: up to 3000, spread
evenly over the training speakers, cohort_utts.ark). A speaker's mean over many
utterances has lost its session variability: length-normalised, it lies deep in the
speaker subspace, and scored as one utterance it gets log-likelihood ratios far below, and far more spread than, a
model's real non-target scores (on the demo about -67 +- 17 against -20 +- 8; single
utterances -22 +- 8). Cosine ignores length and does as well or better with the training
speakers' means (cohort.ark).
The top N should be a small share of the cohort (about a tenth): the statistics are then
those of the cohort's part nearest each side, its language or channel. With N near the
whole cohort the normalisation is no longer adaptive: on a demo corpus that mixes two
channels, PLDA's EER went from 2.1 % to 2.2 % with AS-norm at a tenth, 3.4 % at 30 % and
7.9 % with the whole cohort. A warning says so above a third.

Cohort scores are computed in blocks of rows with one matrix product each (float32:
they only feed the statistics) and reduced to their top-N at once, so a 550k-trial
list with a 7k cohort costs seconds (local/benchmarks/benchmark_score_norm.py). Only the models
and test vectors that some score line names are scored against the cohort.
"""
import sys

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_streams import describe, open_output
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.columns import KeyIndex, read_columns
from kaldi_compat.ivector_plda_scoring import read_num_utts
from kaldi_compat.plda import PldaScorer, read_plda
from kaldi_compat.trials import ScoreWriter

NAME = 'score_norm.py'
BLOCK_ENTRIES = 1 << 22     # cohort scores held at once (16 MB of float32)
MAX_TOP_SHARE = 1.0 / 3     # above this share of the cohort in the top N, a warning


# ----------------------------------------------------------------------------
# The maths

def top_n_stats(block, top_n):
    """Mean and standard deviation of the top_n largest entries of each row."""
    top_n = min(top_n, block.shape[1])
    top = np.partition(block, block.shape[1] - top_n, axis=1)[:, block.shape[1] - top_n:]
    top = top.astype(np.float64)
    return top.mean(axis=1), top.std(axis=1)


def cohort_stats(score_rows, rows, num_cohort, top_n):
    """Top-N statistics of the given rows (indices), where score_rows(some_rows) gives
    their len(some_rows) x num_cohort cohort scores."""
    means, stds = np.empty(rows.size), np.empty(rows.size)
    step = max(1, BLOCK_ENTRIES // max(num_cohort, 1))
    for start in range(0, rows.size, step):
        sel = slice(start, start + step)
        means[sel], stds[sel] = top_n_stats(score_rows(rows[sel]), top_n)
    return means, stds


def as_norm(scores, enrol_mean, enrol_std, test_mean, test_std):
    """s' = 0.5 ((s - mu_e) / sd_e + (s - mu_t) / sd_t), element by element."""
    scores = np.asarray(scores, dtype=np.float64)
    return 0.5 * ((scores - enrol_mean) / enrol_std + (scores - test_mean) / test_std)


def cosine_cohort_scores(vectors, cohort):
    """score_rows for dot products of rows of `vectors` with every cohort vector."""
    vectors, cohort_t = vectors.astype(np.float32), cohort.astype(np.float32).T
    return lambda rows: vectors[rows] @ cohort_t


def _llr_rows(scorer, test_rows=None):
    """score_rows over the enrolment rows of a PldaScorer (every test vector), or, with
    test_rows=True, over its test rows (every enrolment vector), as rows x other side.
    From kaldi_compat.plda: llr = e'.t + r(e) + q_n(t), here in float32."""
    enrol = scorer.enrol_scaled.astype(np.float32)
    enrol_const = scorer.enrol_const.astype(np.float32)
    test = scorer.test.astype(np.float32)
    test_const = scorer.test_const.astype(np.float32)      # test x distinct counts
    if test_rows:
        # Scores of some test vectors against every enrolment vector.
        per_enrol = test_const[:, scorer.n_index]          # test x enrolment
        return lambda rows: test[rows] @ enrol.T + enrol_const[None, :] + per_enrol[rows]
    per_test = test_const[:, scorer.n_index].T             # enrolment x test
    return lambda rows: enrol[rows] @ test.T + enrol_const[rows, None] + per_test[rows]


def plda_cohort_scores(plda, enrol, num_utts, test, cohort):
    """score_rows functions (enrolment side, test side) of PLDA log-likelihood ratios.
    Vectors are raw (as ivector-plda-scoring reads them); they are transformed here."""
    enrol_t, _ = plda.transform_vectors(enrol, num_utts)
    test_t, _ = plda.transform_vectors(test, 1)
    cohort_t, _ = plda.transform_vectors(cohort, 1)
    # Enrolment models against cohort vectors taken as test vectors ...
    by_enrol = PldaScorer(plda, enrol_t, num_utts, cohort_t, max_dense=0)
    # ... and cohort vectors as one-utterance models against the test vectors.
    by_test = PldaScorer(plda, cohort_t, np.ones(cohort_t.shape[0], np.int64), test_t,
                         max_dense=0)
    return _llr_rows(by_enrol), _llr_rows(by_test, test_rows=True)


def normalise(scores, rows_enrol, rows_test, enrol_side, test_side, num_cohort, top_n):
    """AS-norm of trial scores; *_side are score_rows functions over all enrolment /
    test vectors. Statistics are computed only for the rows the trials use.
    Returns (normalised scores, number of rows whose top-N scores had no spread)."""
    used_enrol, enrol_pos = np.unique(rows_enrol, return_inverse=True)
    used_test, test_pos = np.unique(rows_test, return_inverse=True)
    e_mean, e_std = cohort_stats(enrol_side, used_enrol, num_cohort, top_n)
    t_mean, t_std = cohort_stats(test_side, used_test, num_cohort, top_n)
    flat = int((e_std <= 0).sum() + (t_std <= 0).sum())
    # No spread (identical cohort scores): divide by 1 rather than by zero.
    e_std[e_std <= 0] = 1.0
    t_std[t_std <= 0] = 1.0
    return as_norm(scores, e_mean[enrol_pos], e_std[enrol_pos],
                   t_mean[test_pos], t_std[test_pos]), flat


# ----------------------------------------------------------------------------
# The tool

def read_scores(rxfilename):
    cols = read_columns(rxfilename, 3, 'expected three fields: enroll test score')
    try:
        scores = cols.column(2).astype(np.float64)
    except ValueError:
        raise UserError('%s: a score is not a number' % describe(rxfilename))
    if not np.all(np.isfinite(scores)):
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise UserError('%s: line %d: score is NaN or Inf: %s'
                            % (describe(rxfilename), i + 1, cols.line(i)))
    return cols, scores


def read_table(rspecifier, what):
    keys, vectors = kt.read_vector_table(rspecifier, dtype=np.float32)
    if not keys:
        raise UserError('%s: no %s vectors' % (rspecifier, what))
    return keys, vectors.astype(np.float64)


def main(argv):
    parser = ToolParser(NAME, __doc__, 5)
    parser.add('top-n', 300, 'Cohort scores per side that enter the statistics (the N highest)')
    parser.add('plda', '', 'Score with this PLDA model (log-likelihood ratios, Kaldi\'s '
               'length normalisation) instead of dot products')
    parser.add('num-utts', '', 'PLDA: table of the number of utterances per enrolment model, '
               'e.g. ark:num_utts.ark (default 1 each)')
    opts, args = parser.parse(argv)
    enroll_rspec, test_rspec, cohort_rspec, scores_rx, scores_wx = args
    if opts.top_n < 2:
        raise UserError('--top-n must be at least 2 (a standard deviation needs two scores), '
                            'got %d' % opts.top_n)
    cols, scores = read_scores(scores_rx)
    if not len(cols):
        raise UserError('%s: no scores' % describe(scores_rx))
    enrol_keys, enrol = read_table(enroll_rspec, 'enrolment')
    test_keys, test = read_table(test_rspec, 'test')
    cohort_keys, cohort = read_table(cohort_rspec, 'cohort')
    for name, matrix in (('test', test), ('cohort', cohort)):
        if matrix.shape[1] != enrol.shape[1]:
            raise UserError('%s vectors have dimension %d, enrolment vectors %d'
                                % (name, matrix.shape[1], enrol.shape[1]))
    if opts.top_n > len(cohort_keys):
        warn(NAME, 'cohort has %d vectors, fewer than --top-n=%d: using all of them'
             % (len(cohort_keys), opts.top_n))
    elif opts.top_n > len(cohort_keys) * MAX_TOP_SHARE:
        warn(NAME, '--top-n=%d is %d%% of the cohort (%d vectors): barely adaptive; a larger '
             'cohort or a smaller --top-n (about a tenth of it) is safer'
             % (opts.top_n, round(100.0 * opts.top_n / len(cohort_keys)), len(cohort_keys)))
    rows_enrol = KeyIndex(enrol_keys).find_in(cols, 0)
    rows_test = KeyIndex(test_keys).find_in(cols, 1)
    for rows, what, j in ((rows_enrol, 'enrolment', 0), (rows_test, 'test', 1)):
        if (rows < 0).any():
            i = int(np.flatnonzero(rows < 0)[0])
            raise UserError('%s: line %d: no %s vector for %s'
                                % (describe(scores_rx), i + 1, what, cols.token(i, j)))

    if opts.plda:
        plda = read_plda(opts.plda)
        if enrol.shape[1] != plda.dim:
            raise UserError('vectors have dimension %d but the PLDA model has %d'
                                % (enrol.shape[1], plda.dim))
        num_utts = np.ones(len(enrol_keys), np.int64)
        if opts.num_utts:
            num_utts, known = read_num_utts(opts.num_utts, enrol_keys)
            num_utts[~known] = 1
        enrol_side, test_side = plda_cohort_scores(plda, enrol, num_utts, test, cohort)
    else:
        enrol_side = cosine_cohort_scores(enrol, cohort)
        test_side = cosine_cohort_scores(test, cohort)
    normalised, flat = normalise(scores, rows_enrol, rows_test, enrol_side, test_side,
                                 len(cohort_keys), opts.top_n)
    if flat:
        warn(NAME, '%d models/test vectors had identical top-%d cohort scores (no spread); '
             'their scores are only shifted' % (flat, opts.top_n))
    with open_output(scores_wx, binary=False) as stream:
        stream.write(ScoreWriter(enrol_keys, test_keys).lines(
            rows_enrol, rows_test, normalised.astype(np.float32)))
    log(NAME, 'Normalised %d scores with a cohort of %d (top %d); mean %g, std %g'
        % (normalised.size, len(cohort_keys), min(opts.top_n, len(cohort_keys)),
           normalised.mean(), normalised.std()))
    return 0


if __name__ == '__main__':
    run_tool(NAME, main, sys.argv[1:])
