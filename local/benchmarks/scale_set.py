"""The synthetic VoxCeleb-sized set of local/benchmarks/benchmark_scale.py.

Speakers are Gaussian (see speaker_model); every part is a Kaldi data dir
(xvector.ark/scp, utt2spk, spk2utt) and an evaluation set has enroll/ (one model
per utterance, as VoxCeleb1's protocols), test/ and "enroll test target|nontarget"
trials, half of them targets. Everything is written in chunks, so that generating
1.2M x 512 vectors or 20M trials needs little memory.
"""
import os
import shutil

import numpy as np

from data_utils import kaldi_table as kt


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


def generate_trial_lists(data, set_name, counts, seed):
    """Unlabelled trial lists data/trials_<count> over the test utterances of a set."""
    test_dir = os.path.join(data, set_name, 'test')
    utts = [line.split()[0] for line in open(os.path.join(test_dir, 'utt2spk'))]
    owner = np.unique([u.split('-')[0] for u in utts], return_inverse=True)[1]
    for count in counts:
        write_trials(os.path.join(data, 'trials_%d' % count), utts, owner, count,
                     np.random.default_rng(seed + count), labels=False)
