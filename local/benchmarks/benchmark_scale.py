#!/usr/bin/env python3
"""Scale benchmark: a VoxCeleb-sized synthetic set through every step of the recipes.

  python local/benchmarks/benchmark_scale.py [options] <work-dir>
  e.g.: python local/benchmarks/benchmark_scale.py --kaldi-bin /tmp/kaldi-oracle/bin /tmp/scale
        python local/benchmarks/benchmark_scale.py --train-vectors 3000 --speakers 60 --dim 32 \\
          --o-utts 200 --h-utts 400 --o-trials 1000 --h-trials 4000 --skip-train /tmp/tiny

The generated set (sizes are options; the defaults are VoxCeleb's):
  train  1.2M x 512 vectors from 7,200 speakers (VoxCeleb 1+2 dev),
  o      a VoxCeleb1-O-like set: 4,874 utterances of 40 speakers, 37,720 trials,
  h      a VoxCeleb1-H-like set: 145,160 utterances of 1,190 speakers, 550k trials,
each a Kaldi data dir (xvector.ark/scp, utt2spk, spk2utt); an evaluation set has
enroll/ (one model per utterance, as VoxCeleb1's protocols) and test/ dirs and
"enroll test target|nontarget" trials, half of them targets.

Steps, each timed with its peak RSS (the largest process of the step, from wait4;
see step_timing.py): ark->npz of the training set, one epoch of vae training
(--train-max-vectors caps it, --skip-train skips it and extraction), extraction of
every part straight from its scp, and the tools of the recipes' five back-ends
(conf/backends.tsv) and the EER, run tool by tool on
files so that each row is one tool. --scorer-trials adds the two scorers on long
generated trial lists (memory must not grow with them). With --kaldi-bin DIR (or
Kaldi's ivector-mean on PATH) the same back-end steps run with Kaldi's binaries and
the table gets their figures and the ratios ours/Kaldi of the wall and CPU times.
The synthetic set is written by scale_set.py.

The table goes to stdout (Markdown) and to <work-dir>/benchmark.tsv; the big files
are deleted at the end unless --keep.
"""
import argparse
import itertools
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'local')]

import names  # noqa: E402
from data_utils.errors import UserError, run_main  # noqa: E402
from benchmarks.scale_set import generate, generate_trial_lists  # noqa: E402
from benchmarks.step_timing import TIME, format_table, measure, write_tsv  # noqa: E402

OURS_BIN = os.path.join(ROOT, 'local', 'bin')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--train-vectors', type=int, default=1_200_000)
    p.add_argument('--speakers', type=int, default=7_200)
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--o-utts', type=int, default=4_874)
    p.add_argument('--o-speakers', type=int, default=40)
    p.add_argument('--o-trials', type=int, default=37_720)
    p.add_argument('--h-utts', type=int, default=145_160)
    p.add_argument('--h-speakers', type=int, default=1_190)
    p.add_argument('--h-trials', type=int, default=550_000)
    p.add_argument('--lda-dim', type=int, default=150)
    p.add_argument('--pca-dim', type=int, default=150)
    p.add_argument('--train-max-vectors', type=int, default=0,
                   help='train the epoch on the first N training vectors only (0: all)')
    p.add_argument('--skip-train', action='store_true', help='skip training and extraction')
    p.add_argument('--scorer-trials', default='',
                   help='comma-separated trial counts for the scorers alone, e.g. 1000000,20000000')
    p.add_argument('--kaldi-max-trials', type=int, default=10 ** 12,
                   help="Kaldi's scorers run the --scorer-trials lists up to this length only")
    p.add_argument('--kaldi-bin', default='',
                   help="dir of Kaldi's binaries (default: Kaldi's ivector-mean on PATH, if any)")
    p.add_argument('--eval-sets', default='o,h', help='which evaluation sets to score: o, h or both')
    p.add_argument('--only', default='', help='comma-separated engines to run: ours,kaldi')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--keep', action='store_true', help='keep the generated and output files')
    args = p.parse_args(argv)
    if min(args.train_vectors, args.speakers, args.dim, args.o_utts, args.h_utts) < 1:
        p.error('sizes must be positive')
    if args.speakers * 2 > args.train_vectors:
        p.error('--train-vectors must give every speaker at least two vectors')
    return args


# ----------------------------------------------------------------------------
# Running and measuring steps

def engine_env(bin_dir):
    env = dict(os.environ)
    env['PATH'] = bin_dir + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = ROOT + os.pathsep + os.path.join(ROOT, 'local')
    env['LC_ALL'] = 'C'
    env['TF_CPP_MIN_LOG_LEVEL'] = '2'
    return env


def backend_steps(args, data, out):
    """(name, items, unit, command) of the back-end tools, the recipes' chains
    cut at each tool: train the models, then for each set make the models and score."""
    train = data + '/train'
    n = args.train_vectors
    steps = [
        ('ivector-mean (global)', n, 'vectors',
         'ivector-mean scp:%s/xvector.scp %s/mean.vec' % (train, out)),
        ('ivector-subtract-global-mean', n, 'vectors',
         'ivector-subtract-global-mean scp:%s/xvector.scp ark:%s/centred.ark' % (train, out)),
        ('ivector-compute-lda', n, 'vectors',
         'ivector-compute-lda --dim=%d ark:%s/centred.ark ark:%s/utt2spk %s/lda.mat'
         % (args.lda_dim, out, train, out)),
        ('est-pca', n, 'vectors',
         'est-pca --read-vectors=true --normalize-mean=false --dim=%d ark:%s/centred.ark %s/pca.mat'
         % (args.pca_dim, out, out)),
        ('ivector-normalize-length', n, 'vectors',
         'ivector-normalize-length ark:%s/centred.ark ark:%s/lnorm.ark' % (out, out)),
        ('ivector-compute-plda', n, 'vectors',
         'ivector-compute-plda ark:%s/spk2utt ark:%s/lnorm.ark %s/plda' % (train, out, out)),
    ]
    for proj in ('lda', 'pca'):
        steps += [
            ('transform-vec (%s)' % proj, n, 'vectors',
             'transform-vec %s/%s.mat ark:%s/centred.ark ark:%s/%s.ark' % (out, proj, out, out, proj)),
            ('ivector-compute-plda (%s)' % proj, n, 'vectors',
             'ivector-normalize-length ark:%s/%s.ark ark:- | ivector-compute-plda ark:%s/spk2utt '
             'ark:- %s/%s_plda' % (out, proj, train, out, proj)),
        ]
    for name, num_utts, num_trials in (('o', args.o_utts, args.o_trials),
                                       ('h', args.h_utts, args.h_trials)):
        if name not in args.eval_sets.split(','):
            continue
        sdir, sd = '%s/%s' % (out, name), '%s/%s' % (data, name)
        trials = "cut -d ' ' -f 1,2 %s/trials |" % sd
        steps.append(('%s: ivector-mean (models)' % name, num_utts, 'vectors',
                      'mkdir -p %s && ivector-mean ark:%s/enroll/spk2utt scp:%s/enroll/xvector.scp '
                      'ark:%s/spk_means.ark ark,t:%s/num_utts.ark' % (sdir, sd, sd, sdir, sdir)))
        for backend, projection, scorer in names.backend_steps():
            proj = ('transform-vec %s/%s.mat ark:- ark:- |' % (out, projection)
                    if projection != 'none' else '')
            scaleup = '--scaleup=false' if scorer == 'cosine' else ''
            prepare = ('ivector-subtract-global-mean %s/mean.vec %%s ark:- | %s '
                       'ivector-normalize-length %s ark:- ark:%%s' % (out, proj, scaleup))
            models, tests = '%s/models_%s.ark' % (sdir, backend), '%s/test_%s.ark' % (sdir, backend)
            steps.append(('%s: prepare vectors (%s)' % (name, backend), 2 * num_utts, 'vectors',
                          (prepare % ('ark:%s/spk_means.ark' % sdir, models)) + ' && '
                          + (prepare % ('scp:%s/test/xvector.scp' % sd, tests))))
            scores = '%s/scores_%s' % (sdir, backend)
            if scorer == 'cosine':
                score = ('ivector-compute-dot-products "%s" ark:%s ark:%s %s'
                         % (trials, models, tests, scores))
            else:
                score = ('ivector-plda-scoring --normalize-length=true --num-utts=ark:%s/num_utts.ark '
                         '"ivector-copy-plda --smoothing=0.0 %s/%s - |" ark:%s ark:%s "%s" %s'
                         % (sdir, out, backend, models, tests, trials, scores))
            steps.append(('%s: score %s' % (name, backend), num_trials, 'trials', score))
            steps.append(('%s: compute-eer %s' % (name, backend), num_trials, 'trials',
                          "paste %s/trials %s | awk '{print $6, $3}' | compute-eer - > %s.eer"
                          % (sd, scores, scores)))
    return steps


def scorer_set(args):
    """The set whose models and test vectors the long trial lists use."""
    return 'h' if 'h' in args.eval_sets.split(',') else 'o'


def scorer_steps(args, data, out, counts):
    """The two scorers alone on long trial lists (memory must not grow with them)."""
    steps = []
    for count in counts:
        trials = '%s/trials_%d' % (data, count)
        sdir = '%s/%s' % (out, scorer_set(args))
        steps.append(('ivector-plda-scoring, %dM trials' % (count // 1_000_000) if count >= 1_000_000
                      else 'ivector-plda-scoring, %d trials' % count, count, 'trials',
                      'ivector-plda-scoring --normalize-length=true --num-utts=ark:%s/num_utts.ark '
                      '%s/plda ark:%s/models_plda.ark ark:%s/test_plda.ark %s %s/scores_long'
                      % (sdir, out, sdir, sdir, trials, sdir)))
        steps.append(('ivector-compute-dot-products, %dM trials' % (count // 1_000_000)
                      if count >= 1_000_000 else 'ivector-compute-dot-products, %d trials' % count,
                      count, 'trials',
                      'ivector-compute-dot-products %s ark:%s/models_cosine.ark ark:%s/test_cosine.ark '
                      '%s/scores_long' % (trials, sdir, sdir, sdir)))
    return steps


def python_steps(args, data, out):
    """ark->npz, one epoch of training, extraction of every part (our engine only)."""
    py = sys.executable
    train_npz = '%s/train.npz' % out
    steps = [('ark2npz (train)', args.train_vectors, 'vectors',
              '%s -m data_utils.ark2npz --data-dir %s/train %s' % (py, data, train_npz))]
    if args.skip_train:
        return steps
    epoch_npz, epoch_n = train_npz, args.train_vectors
    if 0 < args.train_max_vectors < args.train_vectors:
        epoch_npz, epoch_n = '%s/train_cap.npz' % out, args.train_max_vectors
        # The first rows of the table, streamed by ark2npz as the full set is.
        steps.append(('(cap the training set)', epoch_n, 'vectors',
                      '%s -m data_utils.ark2npz --vectors "scp:head -n %d %s/train/xvector.scp |" '
                      '--utt2spk %s/train/utt2spk %s' % (py, epoch_n, data, data, epoch_npz)))
    steps.append(('train vae, 1 epoch', epoch_n, 'vectors',
                  '%s -m model.train --train-npz %s --model-dir %s/vae --epochs 1'
                  % (py, epoch_npz, out)))
    parts = [('train', args.train_vectors)] + [('%s/%s' % (s, d), n) for s, n in
                                               (('o', args.o_utts), ('h', args.h_utts))
                                               for d in ('enroll', 'test')]
    # Extraction reads each part's scp directly (no npz round trip).
    inputs = ' '.join('--input scp:%s/%s/xvector.scp --output ark,scp:%s/vae_%s.ark,%s/vae_%s.scp'
                      % (data, part, out, part.replace('/', '_'), out, part.replace('/', '_'))
                      for part, _ in parts)
    steps.append(('extract all parts (ark->ark)', sum(n for _, n in parts), 'vectors',
                  '%s -m model.extract --model-dir %s/vae %s' % (py, out, inputs)))
    return steps


def eers(out):
    result = {}
    for name in ('o', 'h'):
        for backend, _ in names.backends():
            path = '%s/%s/scores_%s.eer' % (out, name, backend)
            if os.path.exists(path):
                result['%s %s' % (name, backend)] = open(path).read().strip()
    return result


def kaldi_bin_dir(args):
    if args.kaldi_bin:
        if not os.path.isfile(os.path.join(args.kaldi_bin, 'ivector-plda-scoring')):
            raise UserError(args.kaldi_bin, 'no ivector-plda-scoring there')
        return os.path.abspath(args.kaldi_bin)
    found = shutil.which('ivector-plda-scoring')
    if found and os.path.dirname(os.path.realpath(found)) != os.path.realpath(OURS_BIN):
        return os.path.dirname(found)
    return None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.access(TIME, os.X_OK):
        raise UserError(TIME, 'GNU time is needed to measure peak RSS')
    engines = set(args.only.split(',')) if args.only else {'ours', 'kaldi'}
    work = os.path.abspath(args.work_dir)
    data, log_dir = os.path.join(work, 'data'), os.path.join(work, 'log')
    os.makedirs(log_dir, exist_ok=True)
    kaldi = kaldi_bin_dir(args) if 'kaldi' in engines else None
    counts = [int(c) for c in args.scorer_trials.split(',') if c]

    rows = []
    start = time.perf_counter()
    # A set generated before with the same sizes and seed is used again (--keep).
    stamp = repr([getattr(args, k) for k in ('train_vectors', 'speakers', 'dim', 'o_utts',
                                             'o_speakers', 'o_trials', 'h_utts', 'h_speakers',
                                             'h_trials', 'seed', 'scorer_trials')])
    stamp_path = os.path.join(data, 'generated_with')
    if not (os.path.exists(stamp_path) and open(stamp_path).read() == stamp):
        shutil.rmtree(data, ignore_errors=True)
        generate(args, data)
        generate_trial_lists(data, scorer_set(args), counts, args.seed)
        with open(stamp_path, 'w') as f:
            f.write(stamp)
        print('generated the set in %.1f s' % (time.perf_counter() - start), file=sys.stderr)

    runs = [(e, b) for e, b in (('ours', OURS_BIN), ('kaldi', kaldi)) if b and e in engines]
    for engine, _ in runs:
        os.makedirs(os.path.join(work, engine), exist_ok=True)
    if 'ours' in engines:
        for step in python_steps(args, data, os.path.join(work, 'ours')):
            measure(*step, 'ours', engine_env(OURS_BIN), log_dir, rows)
    # Back-end steps alternate between the engines, so that both see the same load.
    step_lists = [backend_steps(args, data, os.path.join(work, e))
                  + scorer_steps(args, data, os.path.join(work, e),
                                 [c for c in counts if e == 'ours' or c <= args.kaldi_max_trials])
                  for e, _ in runs]
    for same_step in itertools.zip_longest(*step_lists):
        for (engine, bin_dir), step in zip(runs, same_step):
            if step:
                measure(*step, engine, engine_env(bin_dir), log_dir, rows)
    for engine, _ in runs:
        rows.append({'step': 'EER %', 'engine': engine, 'eers': eers(os.path.join(work, engine))})

    table_rows = [r for r in rows if 'eers' not in r]
    write_tsv(os.path.join(work, 'benchmark.tsv'), table_rows)
    print(format_table(table_rows))
    for r in rows:
        if 'eers' in r:
            print('\nEER %% (%s): %s' % (r['engine'], ', '.join('%s %s' % kv
                                                            for kv in r['eers'].items())))
    if not args.keep:
        for sub in ('data', 'ours', 'kaldi'):
            shutil.rmtree(os.path.join(work, sub), ignore_errors=True)


if __name__ == '__main__':
    run_main('benchmark_scale.py', main)
