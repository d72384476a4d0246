#!/usr/bin/env python3
"""Benchmark of the Python back-end tools on a large trial list (not a test).

  local/benchmarks/benchmark_backend.py [--models 1000] [--tests 1000] [--dim 200] [--workdir DIR]

Builds <models> enrolment models and <tests> test vectors (binary float arks, as
the recipes write them), a PLDA model and num_utts, and a trial list with every
model x test pair (1,000,000 trials by default), then times:
  - ivector-plda-scoring, the whole command as a recipe runs it (wall clock,
    Python start-up included), and its stages in-process;
  - compute-eer on the resulting 1M "score target|nontarget" lines: reading, and
    the EER computation itself.
Kaldi's ivector-plda-scoring takes about 8 s on 1M trials; the target is 10x faster.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (ROOT, os.path.join(ROOT, 'local')):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402

from data_utils import kaldi_table as kt  # noqa: E402
from data_utils.errors import UserError, run_main  # noqa: E402
from kaldi_compat import compute_eer as eer_tool  # noqa: E402
from kaldi_compat import ivector_plda_scoring as scoring  # noqa: E402
from kaldi_compat.columns import KeyIndex, read_columns  # noqa: E402
from kaldi_compat.plda import Plda, read_plda, score_trials, write_plda  # noqa: E402


def build_inputs(workdir, num_models, num_tests, dim, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    psi = np.sort(rng.gamma(2.0, 1.0, dim))[::-1]
    plda = Plda(rng.standard_normal(dim) * 0.1, q * rng.uniform(0.5, 2.0, dim)[:, None], psi)
    write_plda(os.path.join(workdir, 'plda'), plda, binary=True)
    models = ['spk%05d' % i for i in range(num_models)]
    tests = ['spk%05d-utt%03d' % (i % num_models, i // num_models) for i in range(num_tests)]
    kt.write_vectors('ark:%s/enroll.ark' % workdir, models,
                     rng.standard_normal((num_models, dim)).astype(np.float32))
    kt.write_vectors('ark:%s/test.ark' % workdir, tests,
                     rng.standard_normal((num_tests, dim)).astype(np.float32))
    kt.write_int_table('ark,t:%s/num_utts.ark' % workdir, models,
                       rng.integers(1, 6, num_models))
    with open(os.path.join(workdir, 'trials'), 'w') as f:
        f.write(''.join('%s %s\n' % (m, t) for m in models for t in tests))
    return models, tests


def time_scoring_stages(workdir):
    """In-process timings of the scorer's stages (the functions the tool runs)."""
    stages = {}
    opts = type('Opts', (), {'normalize_length': True, 'simple_length_normalization': False})
    t0 = time.perf_counter()
    plda = read_plda(os.path.join(workdir, 'plda'))
    keys_e, enrol = kt.read_vector_table('ark:%s/enroll.ark' % workdir, dtype=np.float32)
    keys_t, test = kt.read_vector_table('ark:%s/test.ark' % workdir, dtype=np.float32)
    counts = dict(kt.read_int_table('ark:%s/num_utts.ark' % workdir))
    num_utts = np.array([counts[k] for k in keys_e])
    t1 = time.perf_counter()
    stages['read PLDA, vectors, num_utts'] = t1 - t0
    enrol, _ = scoring.transform_table(plda, opts, enrol.astype(np.float64), num_utts,
                                       'training')
    test, _ = scoring.transform_table(plda, opts, test.astype(np.float64), 1, 'test')
    t2 = time.perf_counter()
    stages['transform 2 x %d vectors' % len(keys_e)] = t2 - t1
    done, _, _, _ = scoring.score_trials_streamed(plda, keys_e, enrol, num_utts, keys_t, test,
                                                  os.path.join(workdir, 'trials'),
                                                  os.path.join(workdir, 'scores.inproc'))
    t3 = time.perf_counter()
    stages['read, score and write %d trials' % done] = t3 - t2
    # The scores once more for compute-eer, from the same functions.
    trials = read_columns(os.path.join(workdir, 'trials'), 2)
    scores = score_trials(plda, enrol, num_utts, test, KeyIndex(keys_e).find_in(trials, 0),
                          KeyIndex(keys_t).find_in(trials, 1)).astype(np.float32)
    return stages, scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', type=int, default=1000)
    parser.add_argument('--tests', type=int, default=1000)
    parser.add_argument('--dim', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--workdir', default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix='vv-bench.')
    os.makedirs(workdir, exist_ok=True)
    try:
        models, tests = build_inputs(workdir, args.models, args.tests, args.dim)
        num_trials = len(models) * len(tests)
        sizes = {name: os.path.getsize(os.path.join(workdir, name))
                 for name in ('enroll.ark', 'test.ark', 'trials', 'plda')}
        print('Input: %d models x %d test vectors, dim %d, %d trials (%s)'
              % (len(models), len(tests), args.dim, num_trials,
                 ', '.join('%s %.1f MB' % (k, v / 1e6) for k, v in sizes.items())))

        env = dict(os.environ)
        env['PATH'] = os.pathsep.join([os.path.join(ROOT, 'local', 'bin'),
                                       os.path.dirname(sys.executable), env.get('PATH', '')])
        env['LC_ALL'] = 'C'
        cmd = ['ivector-plda-scoring', '--num-utts=ark:%s/num_utts.ark' % workdir,
               '%s/plda' % workdir, 'ark:%s/enroll.ark' % workdir,
               'ark:%s/test.ark' % workdir, '%s/trials' % workdir, '%s/scores' % workdir]
        walls, cpus = [], []
        for _ in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if proc.returncode != 0:
                raise UserError('ivector-plda-scoring failed', proc.stderr.strip())
        print('ivector-plda-scoring, whole command (Python start-up included): best %.3f s '
              'wall (runs %s), best %.3f s CPU; load average %.2f on %d CPUs'
              % (min(walls), ' '.join('%.3f' % w for w in walls), min(cpus),
                 os.getloadavg()[0], os.cpu_count()))
        start = subprocess.run([sys.executable, '-c', 'import numpy'], env=env)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'import numpy'], env=env, check=start.returncode == 0)
        print('  (of which Python + numpy start-up: %.3f s)' % (time.perf_counter() - t0))

        stages, scores = time_scoring_stages(workdir)
        print('In-process stages:')
        for name, seconds in stages.items():
            print('  %-40s %.3f s' % (name, seconds))
        print('  %-40s %.3f s' % ('total', sum(stages.values())))

        # compute-eer on 1M lines: label a pair target when the speaker prefixes agree.
        labels = np.array([t.startswith(m) for m in models for t in tests])
        with open(os.path.join(workdir, 'eer_in'), 'w') as f:
            f.write(''.join('%.7g %s\n' % (s, 'target' if lab else 'nontarget')
                            for s, lab in zip(scores.astype(np.float32).tolist(), labels)))
        t0 = time.perf_counter()
        target, nontarget = eer_tool.read_scores(os.path.join(workdir, 'eer_in'))
        t1 = time.perf_counter()
        eer, threshold = eer_tool.compute_eer(target, nontarget)
        t2 = time.perf_counter()
        print('compute-eer on %d scores (%d target): read %.3f s, compute %.3f s '
              '(EER %.4g%% at threshold %.6g)'
              % (target.size + nontarget.size, target.size, t1 - t0, t2 - t1, 100 * eer,
                 threshold))
        t0 = time.perf_counter()
        proc = subprocess.run(['compute-eer', os.path.join(workdir, 'eer_in')], env=env,
                              capture_output=True, text=True)
        print('compute-eer, whole command: %.3f s (stdout %s)'
              % (time.perf_counter() - t0, proc.stdout))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    run_main('benchmark_backend.py', main)
