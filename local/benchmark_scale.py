#!/usr/bin/env python3
"""Scale benchmark: a VoxCeleb-sized synthetic set through every step of the recipes.

  python local/benchmark_scale.py [options] <work-dir>
  e.g.: python local/benchmark_scale.py --kaldi-bin /tmp/kaldi-oracle/bin /tmp/scale
        python local/benchmark_scale.py --train-vectors 3000 --speakers 60 --dim 32 \\
          --o-utts 200 --h-utts 400 --o-trials 1000 --h-trials 4000 --skip-train /tmp/tiny

The generated set (sizes are options; the defaults are VoxCeleb's):
  train  1.2M x 512 vectors from 7,200 speakers (VoxCeleb 1+2 dev),
  o      a VoxCeleb1-O-like set: 4,874 utterances of 40 speakers, 37,720 trials,
  h      a VoxCeleb1-H-like set: 145,160 utterances of 1,190 speakers, 550k trials,
each a Kaldi data dir (xvector.ark/scp, utt2spk, spk2utt); an evaluation set has
enroll/ (one model per utterance, as VoxCeleb1's protocols) and test/ dirs and
"enroll test target|nontarget" trials, half of them targets.

Steps, each timed with its peak RSS (the largest process of the step, from wait4):
ark->npz of the training set, one epoch of vae training (--train-max-vectors caps
it, --skip-train skips it and extraction), extraction of every part, and the
tools of local/run_backends.sh for its five back-ends (cosine, pca_cosine, plda,
lda_plda, pca_plda) and the EER, run tool by tool on files so that each row is one
tool. --scorer-trials adds the two scorers on long generated trial lists (memory
must not grow with them). With --kaldi-bin DIR (or Kaldi's ivector-mean on PATH)
the same back-end steps run with Kaldi's binaries and the table gets their
figures and the ratio ours/Kaldi of the wall times.

The table goes to stdout (Markdown) and to <work-dir>/benchmark.tsv; the big files
are deleted at the end unless --keep.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'local')]

from data_utils import kaldi_table as kt  # noqa: E402

OURS_BIN = os.path.join(ROOT, 'local', 'bin')
TIME = '/usr/bin/time'     # GNU time, for the peak RSS of each step
COLUMNS = ['step', 'engine', 'items', 'unit', 'wall_s', 'cpu_s', 'per_s', 'peak_rss_mb']


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
# The synthetic set

def write_data_dir(path, speakers, vectors_of, num_utts, rng, prefix):
    """A data dir of num_utts utterances spread over `speakers`, written in 50k-row chunks.

    vectors_of(spk_indices, rng) gives the vectors of utterances of those speakers.
    Keys are "<spk>-<utt>", sorted (as VoxCeleb's), so spk2utt follows the ark.
    """
    os.makedirs(path, exist_ok=True)
    counts = np.full(len(speakers), num_utts // len(speakers))
    counts[:num_utts % len(speakers)] += 1
    owner = np.repeat(np.arange(len(speakers)), counts)
    utts = ['%s-%s%07d' % (speakers[s], prefix, i) for i, s in enumerate(owner)]
    spec = 'ark,scp:%s/xvector.ark,%s/xvector.scp' % (path, path)
    with kt.VectorWriter(spec) as writer:
        for start in range(0, num_utts, 50_000):
            sel = slice(start, start + 50_000)
            writer.write(utts[sel], vectors_of(owner[sel], rng))
    with open(os.path.join(path, 'utt2spk'), 'w') as f:
        f.writelines('%s %s\n' % (u, speakers[s]) for u, s in zip(utts, owner))
    _write_spk2utt(os.path.join(path, 'spk2utt'), speakers, utts, owner)
    return utts, owner


def _write_spk2utt(path, speakers, utts, owner):
    bounds = np.r_[0, np.cumsum(np.bincount(owner, minlength=len(speakers)))]
    with open(path, 'w') as f:
        for s, spk in enumerate(speakers):
            f.write('%s %s\n' % (spk, ' '.join(utts[bounds[s]:bounds[s + 1]])))


def speaker_model(dim, num_speakers, rng):
    """vectors_of for a Gaussian speaker model: between-speaker variances 1 to 0.01
    across dimensions (like an x-vector's decaying spectrum), unit within-speaker."""
    scales = np.logspace(0, -1, dim)
    centres = rng.standard_normal((num_speakers, dim)) * scales + 0.5

    def vectors_of(owner, rng):
        return (centres[owner] + rng.standard_normal((owner.size, dim))).astype(np.float32)
    return vectors_of


def write_eval_set(path, name, num_utts, num_speakers, num_trials, dim, rng):
    """enroll/ (utterance models), test/ and trials: half targets, random pairs."""
    speakers = ['%s%05d' % (name, s) for s in range(num_speakers)]
    utts, owner = write_data_dir(os.path.join(path, 'test'), speakers,
                                 speaker_model(dim, num_speakers, rng), num_utts, rng, 'u')
    # Enrolment models are single utterances, as in VoxCeleb1's trials.
    enroll = os.path.join(path, 'enroll')
    os.makedirs(enroll, exist_ok=True)
    for f in ('xvector.ark', 'xvector.scp'):
        shutil.copy(os.path.join(path, 'test', f), os.path.join(enroll, f))
    scp = open(os.path.join(enroll, 'xvector.scp')).read().replace('/test/', '/enroll/')
    with open(os.path.join(enroll, 'xvector.scp'), 'w') as f:
        f.write(scp)
    with open(os.path.join(enroll, 'spk2utt'), 'w') as f:
        f.writelines('%s %s\n' % (u, u) for u in utts)
    with open(os.path.join(enroll, 'utt2spk'), 'w') as f:
        f.writelines('%s %s\n' % (u, u) for u in utts)
    write_trials(os.path.join(path, 'trials'), utts, owner, num_trials, rng)


def write_trials(path, utts, owner, num_trials, rng, labels=True):
    """Random trials, half targets (same speaker), in pieces of 1M lines."""
    utts = np.array(utts)
    order = np.argsort(owner, kind='stable')
    bounds = np.r_[0, np.cumsum(np.bincount(owner))]
    with open(path, 'w') as f:
        for start in range(0, num_trials, 1_000_000):
            n = min(1_000_000, num_trials - start)
            enrol = rng.integers(0, utts.size, n)
            target = np.arange(n) % 2 == 0
            spk = owner[enrol]
            same = order[bounds[spk] + rng.integers(0, np.maximum(bounds[spk + 1] - bounds[spk], 1))]
            other = rng.integers(0, utts.size, n)
            test = np.where(target, same, other)
            is_target = owner[test] == spk
            lines = np.char.add(np.char.add(utts[enrol], ' '), utts[test])
            if labels:
                lines = np.char.add(lines, np.where(is_target, ' target', ' nontarget'))
            f.write('\n'.join(lines.tolist()) + '\n')


def generate(args, data):
    rng = np.random.default_rng(args.seed)
    speakers = ['id%05d' % s for s in range(args.speakers)]
    write_data_dir(os.path.join(data, 'train'), speakers,
                   speaker_model(args.dim, args.speakers, rng), args.train_vectors, rng, 'u')
    write_eval_set(os.path.join(data, 'o'), 'o', args.o_utts, args.o_speakers, args.o_trials,
                   args.dim, rng)
    write_eval_set(os.path.join(data, 'h'), 'h', args.h_utts, args.h_speakers, args.h_trials,
                   args.dim, rng)


def generate_trial_lists(args, data, counts):
    """Unlabelled trial lists of the given lengths over the scorers' set."""
    test_dir = os.path.join(data, scorer_set(args), 'test')
    utts = [line.split()[0] for line in open(os.path.join(test_dir, 'utt2spk'))]
    owner = np.unique([u.split('-')[0] for u in utts], return_inverse=True)[1]
    for count in counts:
        write_trials(os.path.join(data, 'trials_%d' % count), utts, owner, count,
                     np.random.default_rng(args.seed + count), labels=False)


# ----------------------------------------------------------------------------
# Running and measuring steps

def run_step(command, env, log_path):
    """(wall seconds, CPU seconds, peak RSS in MB of the step's largest process) of a
    shell command; CPU time is user + system of all its processes.

    GNU time reports the largest RSS among the processes of the step (wait4's
    ru_maxrss). It sits between us and the step because a process started straight
    from this one would begin with our own high-water RSS (vfork + exec keeps it).
    """
    rss_file = log_path + '.rss'
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        status = subprocess.call([TIME, '-f', '%M %U %S', '-o', rss_file, 'bash', '-c',
                                  'set -o pipefail; ' + command],
                                 env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if status != 0:
        with open(log_path) as log:
            tail = log.read().strip().splitlines()[-3:]
        raise RuntimeError('step failed (exit %d): %s\n  %s\n  see %s'
                           % (status, command, '\n  '.join(tail), log_path))
    with open(rss_file) as f:
        rss_kb, user, system = f.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kb) / 1024.0


def engine_env(bin_dir):
    env = dict(os.environ)
    env['PATH'] = bin_dir + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = ROOT + os.pathsep + os.path.join(ROOT, 'local')
    env['LC_ALL'] = 'C'
    env['TF_CPP_MIN_LOG_LEVEL'] = '2'
    return env


def backend_steps(args, data, out):
    """(name, items, unit, command) of the back-end tools, run_backends.sh's chains
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
                      'ark:%s/models.ark ark,t:%s/num_utts.ark' % (sdir, sd, sd, sdir, sdir)))
        for backend in ('cosine', 'pca_cosine', 'plda', 'lda_plda', 'pca_plda'):
            proj = ('transform-vec %s/%s.mat ark:- ark:- |' % (out, backend.split('_')[0])
                    if '_' in backend else '')
            scaleup = '--scaleup=false' if backend.endswith('cosine') else ''
            prepare = ('ivector-subtract-global-mean %s/mean.vec %%s ark:- | %s '
                       'ivector-normalize-length %s ark:- ark:%%s' % (out, proj, scaleup))
            models, tests = '%s/models_%s.ark' % (sdir, backend), '%s/test_%s.ark' % (sdir, backend)
            steps.append(('%s: prepare vectors (%s)' % (name, backend), 2 * num_utts, 'vectors',
                          (prepare % ('ark:%s/models.ark' % sdir, models)) + ' && '
                          + (prepare % ('scp:%s/test/xvector.scp' % sd, tests))))
            scores = '%s/scores_%s' % (sdir, backend)
            if backend.endswith('cosine'):
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
        steps.append(('(cap the training set)', epoch_n, 'vectors',
                      '%s -c "import numpy as np; a = np.load(\'%s\'); n = %d; '
                      'np.savez(\'%s\', **{k: (a[k][:n] if k != \'spk_labels\' else a[k]) '
                      'for k in a.files})"' % (py, train_npz, epoch_n, epoch_npz)))
    steps.append(('train vae, 1 epoch', epoch_n, 'vectors',
                  '%s -m model.train --train-npz %s --model-dir %s/vae --epochs 1'
                  % (py, epoch_npz, out)))
    parts = [('train', args.train_vectors)] + [('%s/%s' % (s, d), n) for s, n in
                                               (('o', args.o_utts), ('h', args.h_utts))
                                               for d in ('enroll', 'test')]
    convert = ' && '.join('%s -m data_utils.ark2npz --vectors scp:%s/%s/xvector.scp %s/%s.npz'
                          % (py, data, part, out, part.replace('/', '_'))
                          for part, _ in parts[1:])
    inputs = ' '.join('--input-npz %s/%s.npz --output ark,scp:%s/vae_%s.ark,%s/vae_%s.scp'
                      % (out, part.replace('/', '_'), out, part.replace('/', '_'), out,
                         part.replace('/', '_')) for part, _ in parts)
    steps.append(('extract all parts (npz->ark)', sum(n for _, n in parts), 'vectors',
                  '%s && %s -m model.extract --model-dir %s/vae %s'
                  % (convert, py, out, inputs)))
    return steps


def measure(name, items, unit, command, engine, env, log_dir, rows):
    log_path = os.path.join(log_dir, '%s.%d.log' % (engine, len(rows)))
    wall, cpu, rss = run_step(command, env, log_path)
    row = {'step': name, 'engine': engine, 'items': items, 'unit': unit, 'wall_s': wall,
           'cpu_s': cpu, 'per_s': items / max(wall, 1e-9), 'peak_rss_mb': rss}
    rows.append(row)
    print('%-44s %-5s %10.2f s %10.2f cpu s %12.0f %s/s %9.1f MB'
          % (name, engine, wall, cpu, row['per_s'], unit, rss), file=sys.stderr, flush=True)


def eers(out):
    result = {}
    for name in ('o', 'h'):
        for backend in ('cosine', 'pca_cosine', 'plda', 'lda_plda', 'pca_plda'):
            path = '%s/%s/scores_%s.eer' % (out, name, backend)
            if os.path.exists(path):
                result['%s %s' % (name, backend)] = open(path).read().strip()
    return result


def format_table(rows):
    """Markdown: one line per step, ours and (where run) Kaldi's figures side by side."""
    kaldi = {r['step']: r for r in rows if r['engine'] == 'kaldi'}
    lines = ['| step | items | ours: wall s | ours: CPU s | ours: per s | ours: peak RSS MB '
             '| Kaldi: wall s | Kaldi: CPU s | Kaldi: peak RSS MB | ours/Kaldi: wall | CPU |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        if r['engine'] != 'ours':
            continue
        k = kaldi.get(r['step'])
        theirs = (['%.2f' % k['wall_s'], '%.2f' % k['cpu_s'], '%.0f' % k['peak_rss_mb'],
                   '%.2f' % (r['wall_s'] / k['wall_s']),
                   '%.2f' % (r['cpu_s'] / max(k['cpu_s'], 0.01))] if k else [''] * 5)
        lines.append('| %s | %d %s | %.2f | %.2f | %.0f | %.0f | %s |' % (
            r['step'], r['items'], r['unit'], r['wall_s'], r['cpu_s'], r['per_s'],
            r['peak_rss_mb'], ' | '.join(theirs)))
    return '\n'.join(lines)


def write_tsv(path, rows):
    with open(path, 'w') as f:
        f.write('\t'.join(COLUMNS) + '\n')
        for r in rows:
            f.write('\t'.join(str(r[c]) if not isinstance(r[c], float) else '%.4f' % r[c]
                              for c in COLUMNS) + '\n')


def kaldi_bin_dir(args):
    if args.kaldi_bin:
        if not os.path.isfile(os.path.join(args.kaldi_bin, 'ivector-plda-scoring')):
            sys.exit('ERROR (benchmark_scale.py): %s: no ivector-plda-scoring there' % args.kaldi_bin)
        return os.path.abspath(args.kaldi_bin)
    found = shutil.which('ivector-plda-scoring')
    if found and os.path.dirname(os.path.realpath(found)) != os.path.realpath(OURS_BIN):
        return os.path.dirname(found)
    return None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.access(TIME, os.X_OK):
        sys.exit('ERROR (benchmark_scale.py): %s (GNU time) is needed to measure peak RSS' % TIME)
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
        generate_trial_lists(args, data, counts)
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
                  + scorer_steps(args, data, os.path.join(work, e), counts) for e, _ in runs]
    for same_step in zip(*step_lists):
        for (engine, bin_dir), step in zip(runs, same_step):
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
    main()
