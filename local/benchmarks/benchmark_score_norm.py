"""What AS-norm adds at VoxCeleb1-H size: seconds for the cohort scoring and normalisation.

  python3 local/benchmarks/benchmark_score_norm.py [--trials 552536] [--enroll 137000] [--test 137000]
      [--cohort 7205] [--dim 256] [--top-n 300]

Random vectors (the cost does not depend on values): every trial's enrolment and
test vectors are scored against the cohort and the 552,536 scores normalised, for
cosine (dot products) and PLDA (log-likelihood ratios, Kaldi's length
normalisation), as local/analysis/score_norm.py does after reading its inputs. VoxCeleb1-H
has 552,536 trials over the ~137k utterances of VoxCeleb1 (each one an enrolment
and a test vector); a VoxCeleb2-dev cohort has about 6-7k speakers.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'local')]
from kaldi_compat.plda import Plda  # noqa: E402
from analysis import score_norm  # noqa: E402
from data_utils.errors import run_main  # noqa: E402


def report(what, start):
    # CPU time too: on a shared machine the wall time says more about the neighbours.
    print('%s: %.1f s wall, %.1f s CPU' % (what, time.perf_counter() - start[0],
                                           time.process_time() - start[1]), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--trials', type=int, default=552536)
    p.add_argument('--enroll', type=int, default=137000)
    p.add_argument('--test', type=int, default=137000)
    p.add_argument('--cohort', type=int, default=7205)
    p.add_argument('--dim', type=int, default=256)
    p.add_argument('--top-n', type=int, default=300)
    args = p.parse_args(argv)
    rng = np.random.RandomState(0)
    enrol = rng.randn(args.enroll, args.dim)
    test = rng.randn(args.test, args.dim)
    cohort = rng.randn(args.cohort, args.dim)
    rows_enrol = rng.randint(0, args.enroll, args.trials)
    rows_test = rng.randint(0, args.test, args.trials)
    scores = rng.randn(args.trials)
    print('AS-norm benchmark: %d trials, %d enrolment and %d test vectors used, cohort %d, '
          'dim %d, top-%d, %d CPUs' % (args.trials, np.unique(rows_enrol).size,
                                       np.unique(rows_test).size, args.cohort, args.dim,
                                       args.top_n, os.cpu_count()), flush=True)

    unit = [m / np.linalg.norm(m, axis=1, keepdims=True) for m in (enrol, test, cohort)]
    start = time.perf_counter(), time.process_time()
    score_norm.normalise(scores, rows_enrol, rows_test,
                         score_norm.cosine_cohort_scores(unit[0], unit[2]),
                         score_norm.cosine_cohort_scores(unit[1], unit[2]),
                         args.cohort, args.top_n)
    report('cosine', start)

    plda = Plda(np.zeros(args.dim), np.eye(args.dim), np.sort(rng.rand(args.dim) * 5)[::-1])
    start = time.perf_counter(), time.process_time()
    sides = score_norm.plda_cohort_scores(plda, enrol, rng.randint(1, 4, args.enroll), test,
                                          cohort)
    score_norm.normalise(scores, rows_enrol, rows_test, *sides, args.cohort, args.top_n)
    report('PLDA (transforms included)', start)
    return 0


if __name__ == '__main__':
    run_main('benchmark_score_norm.py', main)
