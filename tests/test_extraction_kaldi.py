"""From audio to the results table on real Kaldi, end to end.

Kaldi is the user's (KALDI_ROOT) or one built from ../shared/kaldi-oracle
(tests/kaldi_oracle.py), used as KALDI_ROOT. The module makes a small Kaldi egs tree the way
Kaldi's sitw/voxceleb recipes lay it out: wavs of 14 synthetic voices,
data/{train,sitw_dev_enroll,sitw_dev_test} with trials, and a small x-vector network
(final.raw, extract.config, min_chunk_size, max_chunk_size) from an xconfig of the voxceleb
topology through nnet3-init. It then runs, as a user would:

    local/prepare_from_audio.sh --nj 2 --sets sitw_dev nnet egs data   (features, x-vectors, data)
    baseline.sh; train.sh; eval.sh --data data                          (back-end on Kaldi's binaries)

and, step by step on a copy of two of the sets, what that one command runs for each set:

    local/make_features.sh --nj 2 data/<set>      (Kaldi's make_mfcc.sh + compute_vad_decision.sh)
    local/extract_xvectors.sh --nj 2 nnet data/<set> exp/xvectors_<set>

It checks that both give the same features and x-vectors bit for bit, that the one command
writes the layout the recipes read and refuses bad input of any set before any job runs,
and the x-vectors against a numpy forward pass of the same network on the same
features (sliding CMN, VAD frame selection, TDNN layers, statistics pooling, batch-norm,
all computed here, not by Kaldi), within 1e-4 relative.

The audio is synthesised with numpy (a harmonic source with per-voice pitch, vocal-tract
length and spectral tilt, vowel formants, pauses) rather than espeak-ng through sox: it needs
no apt-get or network, so it runs wherever Kaldi builds; it is deterministic; it is written
at exactly the rate a test asks for; and it takes milliseconds. What the test checks is
Kaldi's extraction and our plumbing, for which voiced audio with silences (so that the VAD
drops frames) and different voices is what matters, not intelligible speech.
"""
import functools
import os
import re
import shutil
import subprocess
import time
import wave

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from helpers import ROOT, one_error_line
import kaldi_oracle

RATE = 16000
TRAIN_SPEAKERS, EVAL_SPEAKERS, UTTS_PER_SPEAKER = 10, 4, 4
# The voxceleb x-vector topology (Kaldi's run_xvector_1a.sh), narrower: frame-level TDNN
# layers (name, input offsets, dim), statistics pooling, then the embedding layer.
FRAME_LAYERS = [('tdnn1', (-2, -1, 0, 1, 2), 48), ('tdnn2', (-2, 0, 2), 48),
                ('tdnn3', (-3, 0, 3), 48), ('tdnn4', (0,), 48), ('tdnn5', (0,), 144)]
EMBEDDING_DIM = 16
# The voxceleb recipe pools over up to 10000 frames (100 s); nnet3 compiles one computation
# per utterance length, in time that grows with that bound (20 s here for 40 utterances),
# so this network pools over up to 1000 frames: every test utterance is one chunk.
MIN_CHUNK, MAX_CHUNK = 25, 1000
CMN_WINDOW = 300            # Kaldi's extract_xvectors.sh: apply-cmvn-sliding --cmn-window=300 --center=true
TOLERANCE = 1e-4            # Kaldi computes in float32; the reference in float64


# ----------------------------------------------------------------------------
# Audio

# (F1, F2, F3) of a few vowels of an adult male voice, Hz.
VOWELS = np.array([(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240),
                   (530, 1840, 2480), (570, 840, 2410), (660, 1720, 2410)], dtype=float)
BANDWIDTHS = np.array([80.0, 120.0, 180.0])


def make_voices(count, seed):
    """Per voice: mean pitch, vocal-tract scale of the formants, spectral tilt, pace."""
    rng = np.random.default_rng(seed)
    pitches = rng.permutation(np.linspace(85, 250, count))
    return [dict(f0=f0, scale=rng.uniform(0.85, 1.25), tilt=rng.uniform(0.7, 1.6),
                 pace=rng.uniform(0.8, 1.25)) for f0 in pitches]


def formant_gain(freqs, formants):
    """Magnitude response of a cascade of resonators (1 at 0 Hz) at freqs."""
    gain = np.ones_like(freqs)
    for f, bw in zip(formants, BANDWIDTHS):
        gain *= f * f / np.sqrt((f * f - freqs ** 2) ** 2 + (bw * freqs) ** 2)
    return gain


def syllable(voice, vowel, seconds, rng, rate):
    """One voiced vowel: harmonics of a gliding pitch shaped by the vowel's formants."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = voice['f0'] * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6))) \
        * np.linspace(1.05, 0.95, n)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    harmonics = np.arange(1, int(0.45 * rate / f0.max()) + 1)
    amps = formant_gain(harmonics * f0.mean(), VOWELS[vowel] * voice['scale']) / harmonics ** voice['tilt']
    wave_ = np.sin(np.outer(phase, harmonics)) @ amps
    ramp = min(n // 4, int(0.02 * rate))
    envelope = np.ones(n)
    envelope[:ramp] = envelope[-ramp:][::-1] = np.sin(np.linspace(0, np.pi / 2, ramp)) ** 2
    return wave_ * envelope


def utterance(voice, seconds, seed, rate=RATE):
    """Syllables separated by pauses, silence at both ends, a faint noise floor; int16."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(rng.uniform(0.15, 0.3) * rate))]
    total = len(parts[0])
    while total < seconds * rate:
        syl = syllable(voice, rng.integers(len(VOWELS)), rng.uniform(0.12, 0.3) / voice['pace'], rng, rate)
        pause = np.zeros(int(rng.uniform(0.04, 0.25) * rate))
        parts += [syl / np.abs(syl).max() * rng.uniform(0.4, 1.0), pause]
        total += len(syl) + len(pause)
    parts.append(np.zeros(int(0.2 * rate)))
    audio = np.concatenate(parts) * 12000 + rng.normal(0, 3, total + int(0.2 * rate))
    return np.clip(np.round(audio), -32768, 32767).astype(np.int16)


def write_wav(path, samples, rate=RATE):
    with wave.open(str(path), 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def write_audio_data_dir(data, utts, wav_dir):
    """wav.scp, utt2spk, spk2utt of [(utt, spk, samples)]; keys sorted as Kaldi wants."""
    os.makedirs(data, exist_ok=True)
    os.makedirs(wav_dir, exist_ok=True)
    spk2utt = {}
    with open(os.path.join(data, 'wav.scp'), 'w') as scp, open(os.path.join(data, 'utt2spk'), 'w') as u2s:
        for utt, spk, samples in sorted(utts):
            path = os.path.join(wav_dir, utt + '.wav')
            write_wav(path, samples)
            scp.write('%s %s\n' % (utt, path))
            u2s.write('%s %s\n' % (utt, spk))
            spk2utt.setdefault(spk, []).append(utt)
    with open(os.path.join(data, 'spk2utt'), 'w') as f:
        f.writelines('%s %s\n' % (s, ' '.join(u)) for s, u in sorted(spk2utt.items()))


# ----------------------------------------------------------------------------
# Running our scripts with Kaldi

MAKE_FEATURES = os.path.join(ROOT, 'local', 'make_features.sh')
EXTRACT = os.path.join(ROOT, 'local', 'extract_xvectors.sh')
PREPARE = os.path.join(ROOT, 'local', 'prepare_from_audio.sh')


def kaldi_env():
    env = dict(os.environ)
    env['KALDI_ROOT'] = kaldi_oracle.kaldi_root(extraction=True)
    return env


def run(*args, cwd=ROOT):
    """A command after `. ./path.sh` with KALDI_ROOT set, as a user runs the recipes."""
    return subprocess.run(['sh', '-c', 'cd "%s" && . ./path.sh && cd "$0" && "$@"' % ROOT, str(cwd)]
                          + [str(a) for a in args], env=kaldi_env(), capture_output=True, text=True)


def ok(out):
    assert out.returncode == 0, '%s\n%s' % (out.stdout[-3000:], out.stderr[-3000:])
    return out


def kaldi_bin(name):
    return kaldi_oracle.binary(name)


# ----------------------------------------------------------------------------
# A small x-vector nnet dir, as Kaldi's voxceleb recipe leaves it

def xconfig(num_speakers):
    lines = ['input dim=30 name=input']
    for name, offsets, dim in FRAME_LAYERS:
        spliced = ' input=Append(%s)' % ','.join(map(str, offsets)) if len(offsets) > 1 else ''
        lines.append('relu-batchnorm-layer name=%s%s dim=%d' % (name, spliced, dim))
    lines += ['stats-layer name=stats config=mean+stddev(0:1:1:%d)' % MAX_CHUNK,
              'relu-batchnorm-layer name=tdnn6 dim=%d input=stats' % EMBEDDING_DIM,
              'relu-batchnorm-layer name=tdnn7 dim=%d' % EMBEDDING_DIM,
              'output-layer name=output include-log-softmax=true dim=%d' % num_speakers]
    return '\n'.join(lines) + '\n'


def with_statistics(text, train_feats, seed):
    """The text model with small biases and the batch-norm statistics of the training data.

    A fresh network has no batch-norm statistics (Count 0); nnet3-xvector-compute puts
    batch-norm in test mode and would then make up random counts. A trained model has
    the statistics of its training data, and so does this one: the frame-level layers get
    the mean and variance of their ReLU outputs over `train_feats` (CMN'd, voiced frames),
    computed layer by layer; tdnn6 and tdnn7 (after the embedding) get seeded random ones.
    nnet3-init's biases (standard deviation 1) are redrawn small, so that no ReLU is dead
    on every frame: the standard deviation that statistics pooling takes of a constant is
    float32 rounding noise in Kaldi, which no second computation can reproduce.
    """
    rng = np.random.default_rng(seed)

    def numbers(values):
        return '[ %s ]' % ' '.join('%.7g' % v for v in values)

    def set_stats(text, name, mean, var):
        pattern = (r'(<ComponentName> %s <BatchNormComponent> .*?)<Count> \S+ <StatsMean>\s*\[[^\]]*\]\s*'
                   r'<StatsVar>\s*\[[^\]]*\]\s*' % re.escape(name))
        text, count = re.subn(pattern, lambda m: '%s<Count> 1000 <StatsMean> %s\n<StatsVar> %s\n'
                              % (m.group(1), numbers(mean), numbers(var)), text, flags=re.S)
        assert count == 1, name
        return text

    text, biases = re.subn(r'<BiasParams>\s*\[([^\]]*)\]', lambda m: '<BiasParams> %s' % numbers(
        rng.uniform(-0.2, 0.2, len(m.group(1).split()))), text)
    assert biases == len(FRAME_LAYERS) + 3, biases
    for name in ('tdnn6', 'tdnn7'):
        text = set_stats(text, name + '.batchnorm', rng.uniform(0, 0.6, EMBEDDING_DIM),
                         rng.uniform(0.3, 1.5, EMBEDDING_DIM))
    net = ReferenceXvector(text)
    inputs = train_feats
    for name, offsets, _ in FRAME_LAYERS:
        spliced = [splice(x, offsets) for x in inputs]
        relu = np.vstack([np.maximum(net.affine(name, x), 0.0) for x in spliced])
        text = set_stats(text, name + '.batchnorm', relu.mean(axis=0), relu.var(axis=0))
        net = ReferenceXvector(text)
        inputs = [net.layer(name, x) for x in spliced]
    return text


def make_nnet_dir(egs, num_speakers, train_feats):
    nnet = os.path.join(egs, 'exp', 'xvector_nnet')
    os.makedirs(os.path.join(nnet, 'configs'))
    with open(os.path.join(nnet, 'configs', 'network.xconfig'), 'w') as f:
        f.write(xconfig(num_speakers))
    ok(run('python3', 'steps/nnet3/xconfig_to_configs.py', '--xconfig-file', 'exp/xvector_nnet/configs/network.xconfig',
           '--config-dir', 'exp/xvector_nnet/configs', cwd=egs))
    ok(run('nnet3-init', '--srand=7', 'configs/final.config', 'init.raw', cwd=nnet))
    ok(run('nnet3-copy', '--binary=false', 'init.raw', 'init.txt', cwd=nnet))
    with open(os.path.join(nnet, 'init.txt')) as f:
        text = with_statistics(f.read(), train_feats, seed=3)
    with open(os.path.join(nnet, 'final.txt'), 'w') as f:
        f.write(text)
    ok(run('nnet3-copy', 'final.txt', 'final.raw', cwd=nnet))
    # As run_xvector_1a.sh writes them: the embedding is tdnn6's affine output.
    for name, value in (('extract.config', 'output-node name=output input=tdnn6.affine'),
                        ('min_chunk_size', MIN_CHUNK), ('max_chunk_size', MAX_CHUNK)):
        with open(os.path.join(nnet, name), 'w') as f:
            f.write('%s\n' % value)
    return nnet


# ----------------------------------------------------------------------------
# An independent forward pass of the text model

def text_components(text):
    """{component name: its text} of an nnet3 text model."""
    return {m.group(1): m.group(3) for m in
            re.finditer(r'<ComponentName> (\S+) <(\w+)>(.*?)</\2>', text, re.S)}


@functools.lru_cache(maxsize=None)
def text_array(body, tag):
    values = re.search(r'<%s>\s*\[(.*?)\]' % tag, body, re.S).group(1)
    rows = [list(map(float, line.split())) for line in values.strip().split('\n') if line.strip()]
    return np.array(rows if len(rows) > 1 else rows[0])


def splice(x, offsets):
    """Rows t of x with their context [x[t+o] for o in offsets], for every t that has it."""
    lo, hi = -min(offsets), len(x) - max(offsets)
    return np.hstack([x[lo + o:hi + o] for o in offsets])


class ReferenceXvector:
    """The network of xconfig(), from its text model, in float64 numpy."""

    def __init__(self, text):
        self.comp = text_components(text)

    def affine(self, name, x):
        body = self.comp[name + '.affine']
        return x @ text_array(body, 'LinearParams').T + text_array(body, 'BiasParams')

    def layer(self, name, x):
        """affine -> ReLU -> batch-norm in test mode: (y - mean) * rms / sqrt(var + eps)."""
        body = self.comp[name + '.batchnorm']
        eps = float(re.search(r'<Epsilon> (\S+)', body).group(1))
        rms = float(re.search(r'<TargetRms> (\S+)', body).group(1))
        y = np.maximum(self.affine(name, x), 0.0)
        return (y - text_array(body, 'StatsMean')) * rms / np.sqrt(text_array(body, 'StatsVar') + eps)

    def pooled(self, feats):
        """Mean and standard deviation of the last frame-level layer over the utterance.

        feats: (frames, 30) after CMN and VAD. Frames whose context falls outside the input
        are not computed (nnet3 pools over the frames it can compute)."""
        h = feats
        for name, offsets, _ in FRAME_LAYERS:
            h = self.layer(name, splice(h, offsets))
        mean = h.mean(axis=0)
        return mean, np.sqrt(np.maximum((h * h).mean(axis=0) - mean * mean, 1e-10))

    def __call__(self, feats):
        return self.affine('tdnn6', np.concatenate(self.pooled(feats)))


def sliding_cmn(feats, window=CMN_WINDOW):
    """Centred sliding-window mean subtraction (apply-cmvn-sliding --center=true): frame t
    uses frames [t - window/2, t - window/2 + window), shifted to lie inside the utterance."""
    n = len(feats)
    start = np.clip(np.arange(n) - window // 2, 0, max(n - window, 0))
    end = np.minimum(start + window, n)
    cumsum = np.vstack([np.zeros(feats.shape[1]), np.cumsum(feats, axis=0)])
    return feats - (cumsum[end] - cumsum[start]) / (end - start)[:, None]


# ----------------------------------------------------------------------------
# The run, once for the module

SETS = {'train': range(TRAIN_SPEAKERS),
        'sitw_dev_enroll': range(TRAIN_SPEAKERS, TRAIN_SPEAKERS + EVAL_SPEAKERS),
        'sitw_dev_test': range(TRAIN_SPEAKERS, TRAIN_SPEAKERS + EVAL_SPEAKERS)}


def corpus(egs):
    """The egs tree's data dirs and trials: train speakers, and eval speakers with one
    enrolment utterance and the rest as tests. Durations about 1.5 to 5 s, so that some
    utterances are longer than the CMN window (3 s)."""
    voices = make_voices(TRAIN_SPEAKERS + EVAL_SPEAKERS, seed=1)
    audio = {}
    for s, voice in enumerate(voices):
        for u in range(UTTS_PER_SPEAKER):
            audio[s, u] = utterance(voice, 1.5 + u + 0.3 * (s % 3), seed=100 * s + u)
    wav_dir = os.path.join(egs, 'wav')
    for name, speakers in SETS.items():
        utts = [('spk%02d-u%d' % (s, u), 'spk%02d' % s, audio[s, u]) for s in speakers
                for u in range(UTTS_PER_SPEAKER)
                if name == 'train' or (u == 0) == (name == 'sitw_dev_enroll')]
        write_audio_data_dir(os.path.join(egs, 'data', name), utts, wav_dir)
    os.makedirs(os.path.join(egs, 'data', 'sitw_dev_test', 'trials'))
    with open(os.path.join(egs, 'data', 'sitw_dev_test', 'trials', 'core-core.lst'), 'w') as f:
        for model in SETS['sitw_dev_enroll']:
            for s in SETS['sitw_dev_test']:
                for u in range(1, UTTS_PER_SPEAKER):
                    f.write('spk%02d spk%02d-u%d %s\n' % (model, s, u, 'target' if s == model else 'nontarget'))
    return audio


AUDIO_FILES = ('wav.scp', 'utt2spk', 'spk2utt')
TRIALS = os.path.join('sitw_dev_test', 'trials', 'core-core.lst')


def copy_audio_dirs(egs, dst, names=SETS):
    """The audio data dirs of egs (wav.scp, utt2spk, spk2utt, trials; the same wavs) in dst/data."""
    for name in names:
        os.makedirs(os.path.join(dst, 'data', name))
        for f in AUDIO_FILES:
            shutil.copy(os.path.join(egs, 'data', name, f), os.path.join(dst, 'data', name, f))
    if 'sitw_dev_test' in names:
        os.makedirs(os.path.join(dst, 'data', 'sitw_dev_test', 'trials'))
        shutil.copy(os.path.join(egs, 'data', TRIALS), os.path.join(dst, 'data', TRIALS))


def step_by_step(egs, name, nnet=None):
    """The README's former loop for one set: make_features.sh, then extract_xvectors.sh."""
    ok(run(MAKE_FEATURES, '--nj', 2, 'data/' + name, 'exp/make_features/' + name, 'mfcc', cwd=egs))
    if nnet:
        ok(run(EXTRACT, '--nj', 2, nnet, 'data/' + name, 'exp/xvectors_' + name, cwd=egs))


@pytest.fixture(scope='module')
def egs(tmp_path_factory):
    """The egs tree after local/prepare_from_audio.sh, and the same sets step by step.

    The network's batch-norm statistics come from the training set's features, so these
    are made first step by step, in a copy of the audio data dirs (egs/step_by_step), which
    also gets the enrolment set's x-vectors that way. Then the one command makes the
    features, x-vectors and recipes' data of every set in egs itself."""
    kaldi_root = kaldi_oracle.kaldi_root(extraction=True)
    start = time.time()
    egs = str(tmp_path_factory.mktemp('egs'))
    for link, target in (('steps', 'egs/wsj/s5/steps'), ('utils', 'egs/wsj/s5/utils'), ('sid', 'egs/sre08/v1/sid')):
        os.symlink(os.path.join(kaldi_root, target), os.path.join(egs, link))
    audio = corpus(egs)
    steps = os.path.join(egs, 'step_by_step')
    copy_audio_dirs(egs, steps, ['train', 'sitw_dev_enroll'])
    step_by_step(steps, 'train')
    nnet = make_nnet_dir(egs, TRAIN_SPEAKERS, voiced_feats(os.path.join(steps, 'data', 'train')).values())
    step_by_step(steps, 'sitw_dev_enroll', nnet)
    timing = {'step by step': time.time() - start}
    start = time.time()
    data = os.path.join(egs, 'recipe_data')
    out = ok(run(PREPARE, '--nj', 2, '--sets', 'sitw_dev', nnet, egs, data))
    timing['one command'] = time.time() - start
    return dict(dir=egs, nnet=nnet, audio=audio, timing=timing, steps=steps, data=data, log=out.stderr)


def read_feats(data):
    """{utt: features} of a data dir, decompressed by Kaldi's copy-feats."""
    return dict(kt.read_matrices('ark:%s scp:%s ark:- 2>/dev/null |'
                                 % (kaldi_bin('copy-feats'), os.path.join(data, 'feats.scp'))))


def voiced_feats(data):
    """{utt: features as the network sees them}: sliding CMN, then the voiced frames."""
    vad = dict(kt.read_vectors('scp:' + os.path.join(data, 'vad.scp')))
    return {utt: sliding_cmn(f.astype(np.float64))[vad[utt] > 0.5] for utt, f in read_feats(data).items()}


def set_dir(egs, name):
    return os.path.join(egs['dir'], 'data', name)


def test_features_are_30_dim_mfcc_at_100_frames_a_second_with_vad(egs):
    for name in SETS:
        data = set_dir(egs, name)
        utt2spk = dict(line.split() for line in open(os.path.join(data, 'utt2spk')))
        feats = read_feats(data)
        vad = dict(kt.read_vectors('scp:' + os.path.join(data, 'vad.scp')))
        assert sorted(feats) == sorted(vad) == sorted(utt2spk)
        for utt, f in feats.items():
            s, u = int(utt[3:5]), int(utt[-1])
            # --snip-edges=false: one frame per 10 ms, rounded.
            assert f.shape == ((len(egs['audio'][s, u]) + 80) // 160, 30)
            assert np.isfinite(f).all()
            # The pauses are unvoiced, the syllables voiced.
            assert 0.3 < vad[utt].mean() < 0.95, (utt, vad[utt].mean())


def test_every_utterance_has_one_finite_vector_of_the_network_dimension(egs):
    info = ok(run(kaldi_bin('nnet3-info'), os.path.join(egs['nnet'], 'final.raw'))).stdout
    dim = int(re.search(r'component-node name=tdnn6.affine .* output-dim=(\d+)', info).group(1))
    assert dim == EMBEDDING_DIM
    total = 0
    for name in SETS:
        utts = [line.split()[0] for line in open(os.path.join(set_dir(egs, name), 'utt2spk'))]
        scp = os.path.join(egs['dir'], 'exp', 'xvectors_' + name, 'xvector.scp')
        keys = [line.split()[0] for line in open(scp)]
        vectors = dict(kt.read_vectors('scp:' + scp))
        assert sorted(keys) == sorted(set(keys)) == sorted(utts)
        assert all(v.shape == (dim,) and np.isfinite(v).all() for v in vectors.values())
        assert len({tuple(np.round(v, 4)) for v in vectors.values()}) == len(utts)
        total += len(keys)
    assert total == (TRAIN_SPEAKERS + EVAL_SPEAKERS) * UTTS_PER_SPEAKER
    print('\n%d x-vectors of dimension %d; local/prepare_from_audio.sh took %.1f s'
          % (total, dim, egs['timing']['one command']))


def test_xvectors_equal_a_numpy_forward_pass_of_the_network(egs):
    with open(os.path.join(egs['nnet'], 'final.txt')) as f:
        reference = ReferenceXvector(f.read())
    worst, count, cmn_windows_slid, min_stddev = 0.0, 0, 0, np.inf
    for name in SETS:
        data = set_dir(egs, name)
        kaldi = dict(kt.read_vectors('scp:' + os.path.join(egs['dir'], 'exp', 'xvectors_' + name, 'xvector.scp')))
        frames = dict(line.split() for line in open(os.path.join(data, 'utt2num_frames')))
        for utt, voiced in voiced_feats(data).items():
            assert MIN_CHUNK <= len(voiced) <= MAX_CHUNK      # one chunk: the whole utterance
            ref = reference(voiced)
            worst = max(worst, np.abs(kaldi[utt] - ref).max() / np.abs(ref).max())
            min_stddev = min(min_stddev, reference.pooled(voiced)[1].min())
            count += 1
            cmn_windows_slid += int(frames[utt]) > CMN_WINDOW
    print('\nnumpy forward pass vs nnet3-xvector-compute: %d utterances (%d longer than the CMN '
          'window), max relative difference %.2e; smallest pooled standard deviation %.3f'
          % (count, cmn_windows_slid, worst, min_stddev))
    assert cmn_windows_slid > 0
    assert min_stddev > 1e-2        # no dead unit (see with_statistics)
    assert worst < TOLERANCE


def vectors(scp):
    return dict(kt.read_vectors('scp:' + scp))


def test_the_one_command_writes_the_layout_the_recipes_read(egs):
    data = egs['data']
    parts = {'train': 'train', 'sitw_dev/enroll': 'sitw_dev_enroll', 'sitw_dev/test': 'sitw_dev_test'}
    assert sorted(os.listdir(data)) == ['sitw_dev', 'train']
    assert sorted(os.listdir(os.path.join(data, 'sitw_dev'))) == ['enroll', 'test', 'trials']
    with open(os.path.join(egs['dir'], 'data', TRIALS)) as f:
        assert open(os.path.join(data, 'sitw_dev', 'trials')).read() == f.read()
    for part, name in parts.items():
        assert sorted(os.listdir(os.path.join(data, part))) == ['spk2utt', 'utt2spk', 'xvector.scp']
        for f in ('utt2spk', 'spk2utt'):
            with open(os.path.join(egs['dir'], 'data', name, f)) as audio:
                assert open(os.path.join(data, part, f)).read() == audio.read(), (part, f)
        # The scp points, by absolute paths, at the archives of stage 2 in the egs tree.
        ours = os.path.join(data, part, 'xvector.scp')
        arks = {line.split()[1].rsplit(':', 1)[0] for line in open(ours)}
        assert all(a.startswith(os.path.join(egs['dir'], 'exp', 'xvectors_' + name) + '/') for a in arks), arks
        kaldis = vectors(os.path.join(egs['dir'], 'exp', 'xvectors_' + name, 'xvector.scp'))
        got = vectors(ours)
        assert sorted(got) == sorted(kaldis) and all(np.array_equal(got[k], kaldis[k]) for k in got)
    # Stage 3 alone rebuilds the same layout from the x-vectors there (no features, no jobs).
    again = os.path.join(os.path.dirname(data), 'recipe_data_again')
    ok(run(PREPARE, '--stage', 3, '--sets', 'sitw_dev', egs['nnet'], egs['dir'], again))
    assert tree(again) == [p.replace(data, again) for p in tree(data)]
    for part in list(parts) + ['sitw_dev']:
        for f in os.listdir(os.path.join(data, part)):
            if os.path.isfile(os.path.join(data, part, f)):
                assert open(os.path.join(again, part, f)).read() == open(os.path.join(data, part, f)).read()
    # What baseline.sh, train.sh and eval.sh check at their stage 0 (the recipes then read it
    # in test_the_recipes_run_on_the_extracted_xvectors).
    out = run('python3', '-m', 'data_utils.check_sets', '--data', data, '--train-set', 'train',
              '--eval-sets', 'sitw_dev')
    assert out.returncode == 0, out.stderr
    assert '%d models, %d test utterances, %d trials (%d target)' % (
        EVAL_SPEAKERS, EVAL_SPEAKERS * (UTTS_PER_SPEAKER - 1),
        EVAL_SPEAKERS ** 2 * (UTTS_PER_SPEAKER - 1), EVAL_SPEAKERS * (UTTS_PER_SPEAKER - 1)) in out.stdout


def test_the_one_command_equals_the_step_by_step_path_exactly(egs):
    # Same audio, same --nj (so the same jobs): the same features, bit for bit, and the
    # same x-vectors.
    steps = os.path.join(egs['steps'], 'data')
    for name in ('train', 'sitw_dev_enroll'):
        one, step = read_feats(set_dir(egs, name)), read_feats(os.path.join(steps, name))
        assert sorted(one) == sorted(step) and all(np.array_equal(one[k], step[k]) for k in one), name
    one = vectors(os.path.join(egs['data'], 'sitw_dev', 'enroll', 'xvector.scp'))
    step = vectors(os.path.join(egs['steps'], 'exp', 'xvectors_sitw_dev_enroll', 'xvector.scp'))
    assert sorted(one) == sorted(step) and len(one) == EVAL_SPEAKERS
    assert all(np.array_equal(one[k], step[k]) for k in one)
    print('\nlocal/prepare_from_audio.sh, 3 sets: %.1f s (step by step, train features and the '
          'enrolment set: %.1f s)' % (egs['timing']['one command'], egs['timing']['step by step']))


def test_the_recipes_run_on_the_extracted_xvectors(egs, tmp_path):
    start = time.time()
    data, exp = egs['data'], tmp_path / 'exp'
    common = ['--data', data, '--exp', exp, '--eval-sets', 'sitw_dev']
    dims = ['--lda-dim', 6, '--pca-dim', 6]
    baseline = ok(run('sh', 'baseline.sh', *common, *dims))
    assert 'engine for back-end tools: kaldi' in baseline.stderr
    ok(run('sh', 'train.sh', *common, '--model', 'vae', '--epochs', 3, '--batch-size', 16,
           '--hidden-dim', 32, '--code-dim', 8, '--num-threads', 2))
    ok(run('sh', 'eval.sh', *common, *dims, '--model', 'vae', '--analysis', 'false'))
    rows = [l.strip('|\n').split('|') for l in open(exp / 'results' / 'results.md') if l.startswith('|')]
    cells = {(r[1].strip(), r[0].strip()): [c.strip() for c in r[2:]] for r in rows[2:]}
    for front_end in ('x-vector', 'v-vector'):
        for backend in ('Cosine', 'PCA+Cosine', 'PLDA', 'LDA+PLDA', 'PCA+PLDA'):
            values = [float(c) for c in cells[front_end, backend]]
            assert len(values) == 3 and all(np.isfinite(values)), (front_end, backend, values)
            assert 0 <= values[0] <= 100
    print('\nbaseline + train + eval on %d x-vectors took %.1f s'
          % ((TRAIN_SPEAKERS + EVAL_SPEAKERS) * UTTS_PER_SPEAKER, time.time() - start))


def refused_by_the_one_command(egs, work, *options, nnet=None):
    """prepare_from_audio.sh on the audio dirs in work: its one ERROR line; asserts that
    nothing was written (no features, no x-vectors, no recipe data)."""
    before = tree(work)
    out = run(PREPARE, '--nj', 2, '--sets', 'sitw_dev', *options, nnet or egs['nnet'], work, work / 'recipe_data')
    assert out.returncode == 1, out.stderr
    assert tree(work) == before
    return one_error_line(out.stderr)


def test_the_one_command_refuses_bad_input_of_any_set_before_any_job(egs, tmp_path):
    work = tmp_path / 'egs'
    copy_audio_dirs(egs['dir'], str(work))
    # The last set's problems stop it before the training set's features are made.
    trials = work / 'data' / TRIALS
    good_trials = trials.read_text()
    trials.write_text(good_trials.replace('spk13-u3 target', 'spk13-u9 target'))
    assert refused_by_the_one_command(egs, work) == (
        'ERROR (check_trials): %s: line %d: unknown test utterance spk13-u9'
        % (trials, good_trials.splitlines().index('spk13 spk13-u3 target') + 1))
    trials.write_text(good_trials)
    scp = work / 'data' / 'sitw_dev_test' / 'wav.scp'
    good_scp = scp.read_text()
    wav = good_scp.splitlines()[-1].split()[1]
    scp.write_text(good_scp.replace(wav, wav + '.missing'))
    assert refused_by_the_one_command(egs, work).startswith(
        'ERROR (check_audio): %s.missing: no such file (%s line %d' % (wav, scp, len(good_scp.splitlines())))
    scp.write_text(good_scp)
    # Features the network cannot take, and a network dir that is not one.
    conf = tmp_path / 'mfcc13.conf'
    with open(os.path.join(ROOT, 'conf', 'mfcc.conf')) as f:
        conf.write_text(f.read().replace('--num-ceps=30', '--num-ceps=13'))
    assert refused_by_the_one_command(egs, work, '--mfcc-config', conf) == (
        'ERROR (prepare_from_audio.sh): %s makes 13-dim MFCC (--num-ceps), but %s/final.raw takes 30 '
        '(use the MFCC config the network was trained with)' % (conf, egs['nnet']))
    nnet = tmp_path / 'nnet'
    shutil.copytree(egs['nnet'], nnet)
    (nnet / 'max_chunk_size').unlink()
    assert refused_by_the_one_command(egs, work, nnet=nnet) == (
        'ERROR (prepare_from_audio.sh): %s/max_chunk_size: missing (not a trained x-vector nnet dir)' % nnet)


# ----------------------------------------------------------------------------
# Bad input: one ERROR line naming the file, before any job runs, nothing written

@pytest.fixture
def small_audio_dir(tmp_path):
    voices = make_voices(2, seed=5)
    utts = [('spk%d-u%d' % (s, u), 'spk%d' % s, utterance(voices[s], 1.0, seed=10 * s + u))
            for s in range(2) for u in range(2)]
    data = tmp_path / 'data'
    write_audio_data_dir(data, utts, tmp_path / 'wav')
    return data


def tree(path):
    return sorted(os.path.join(d, f) for d, _, files in os.walk(path) for f in files + [''])


def refused(data, *options):
    """make_features.sh on a bad data dir: its one ERROR line; asserts nothing was written."""
    before = tree(data.parent)
    out = run(MAKE_FEATURES, '--nj', 2, *options, data, data.parent / 'log', data.parent / 'mfcc')
    assert out.returncode == 1, out.stderr
    assert tree(data.parent) == before
    return one_error_line(out.stderr)


def test_features_of_the_small_dir(small_audio_dir):
    # The bad-input tests below break this dir in one way each; as it is, it works.
    out = ok(run(MAKE_FEATURES, '--nj', 2, small_audio_dir, small_audio_dir.parent / 'log',
                 small_audio_dir.parent / 'mfcc'))
    assert '(4 utterances, 30-dim MFCC)' in out.stderr


def test_features_of_segments_of_recordings_read_through_commands(tmp_path):
    # Two recordings, one per speaker, each cut into two utterances by segments; wav.scp
    # gives them as commands, as corpora in other formats do ('sox x.flac -t wav - |').
    data, wav_dir = tmp_path / 'data', tmp_path / 'wav'
    data.mkdir()
    wav_dir.mkdir()
    voices = make_voices(2, seed=8)
    scp, segments, utt2spk = [], [], []
    for s in range(2):
        write_wav(wav_dir / ('rec%d.wav' % s), utterance(voices[s], 3.0, seed=s))
        scp.append('rec%d cat %s |\n' % (s, wav_dir / ('rec%d.wav' % s)))
        for u, (start, end) in enumerate(((0.0, 1.4), (1.5, 2.9))):
            segments.append('spk%d-u%d rec%d %.2f %.2f\n' % (s, u, s, start, end))
            utt2spk.append('spk%d-u%d spk%d\n' % (s, u, s))
    (data / 'wav.scp').write_text(''.join(scp))
    (data / 'segments').write_text(''.join(segments))
    (data / 'utt2spk').write_text(''.join(utt2spk))
    (data / 'spk2utt').write_text('spk0 spk0-u0 spk0-u1\nspk1 spk1-u0 spk1-u1\n')
    ok(run(MAKE_FEATURES, '--nj', 2, data, tmp_path / 'log', tmp_path / 'mfcc'))
    frames = dict(line.split() for line in open(data / 'utt2num_frames'))
    assert frames == {'spk%d-u%d' % (s, u): '140' for s in range(2) for u in range(2)}
    assert sorted(dict(kt.read_vectors('scp:%s' % (data / 'vad.scp')))) == sorted(frames)
    # A segment of a recording that wav.scp lacks, and a missing file inside a command.
    (data / 'segments').write_text(''.join(segments).replace('spk1-u1 rec1', 'spk1-u1 rec2'))
    assert refused(data).endswith('%s/segments: line 4: recording rec2 has no line in %s/wav.scp' % (data, data))
    (data / 'segments').write_text(''.join(segments))
    (wav_dir / 'rec1.wav').unlink()
    assert refused(data).startswith('ERROR (check_audio): %s: no such file (%s/wav.scp line 2, rec1)'
                                    % (wav_dir / 'rec1.wav', data))


def test_a_missing_wav_is_refused(small_audio_dir):
    wav = small_audio_dir.parent / 'wav' / 'spk1-u0.wav'
    wav.unlink()
    line = refused(small_audio_dir)
    assert line.startswith('ERROR (check_audio): %s: no such file (%s/wav.scp line 3, spk1-u0)'
                           % (wav, small_audio_dir)), line


def test_a_relative_wav_path_is_refused(small_audio_dir):
    # Kaldi's jobs run from the dir of its scripts, where a relative path means nothing.
    scp = small_audio_dir / 'wav.scp'
    scp.write_text(scp.read_text().replace(str(small_audio_dir.parent) + '/', ''))
    line = refused(small_audio_dir)
    assert line.startswith('ERROR (check_audio): wav/spk0-u0.wav: relative path (%s/wav.scp line 1, spk0-u0)'
                           % small_audio_dir), line


def test_a_wav_without_a_speaker_is_refused(small_audio_dir):
    utt2spk = small_audio_dir / 'utt2spk'
    lines = utt2spk.read_text().splitlines(True)
    utt2spk.write_text(''.join(lines[:1] + lines[2:]))
    (small_audio_dir / 'spk2utt').write_text('spk0 spk0-u0\nspk1 spk1-u0 spk1-u1\n')
    line = refused(small_audio_dir)
    assert line == ('ERROR (check_audio): %s/wav.scp: line 2: utterance spk0-u1 has no line in %s/utt2spk'
                    % (small_audio_dir, small_audio_dir)), line


def test_a_sample_rate_other_than_the_mfcc_configs_is_refused(small_audio_dir):
    wav = small_audio_dir.parent / 'wav' / 'spk0-u1.wav'
    write_wav(wav, utterance(make_voices(1, seed=2)[0], 1.0, seed=3, rate=8000), rate=8000)
    line = refused(small_audio_dir)
    assert line.startswith('ERROR (check_audio): %s (%s/wav.scp line 2, spk0-u1): sample rate 8000 Hz, but '
                           '%s/conf/mfcc.conf has --sample-frequency=16000' % (wav, small_audio_dir, ROOT)), line


def test_kaldis_validator_finds_what_we_do_not_check(small_audio_dir):
    # Sorting is Kaldi's validate_data_dir.sh's to check: its message becomes the one line.
    for name in ('wav.scp', 'utt2spk'):
        path = small_audio_dir / name
        path.write_text(''.join(reversed(path.read_text().splitlines(True))))
    line = refused(small_audio_dir)
    assert line.startswith("ERROR (make_features.sh): %s: Kaldi's utils/validate_data_dir.sh: " % small_audio_dir)
    assert 'is not sorted or has duplicates' in line, line


def test_an_nnet_dir_without_extract_config_is_refused(egs, tmp_path):
    nnet = tmp_path / 'nnet'
    shutil.copytree(egs['nnet'], nnet)
    (nnet / 'extract.config').unlink()
    out = run(EXTRACT, '--nj', 2, nnet, set_dir(egs, 'sitw_dev_enroll'), tmp_path / 'xv')
    assert out.returncode == 1
    assert one_error_line(out.stderr) == ('ERROR (extract_xvectors.sh): %s/extract.config: missing '
                                          '(not a trained x-vector nnet dir)' % nnet)
    assert not (tmp_path / 'xv').exists()


def test_features_of_another_dimension_than_the_networks_are_refused(egs, small_audio_dir):
    conf = small_audio_dir.parent / 'mfcc13.conf'
    with open(os.path.join(ROOT, 'conf', 'mfcc.conf')) as f:
        conf.write_text(f.read().replace('--num-ceps=30', '--num-ceps=13'))
    ok(run(MAKE_FEATURES, '--nj', 2, '--mfcc-config', conf, small_audio_dir))
    xv = small_audio_dir.parent / 'xv'
    out = run(EXTRACT, '--nj', 2, egs['nnet'], small_audio_dir, xv)
    assert out.returncode == 1
    assert one_error_line(out.stderr) == (
        'ERROR (extract_xvectors.sh): %s/feats.scp: 13-dim features, but %s/final.raw takes 30 '
        '(use the MFCC config the network was trained with)' % (small_audio_dir, egs['nnet']))
    assert not xv.exists()
