"""The embedded demo corpus: x-vector-like embeddings in Kaldi layout, from a seed.

Real x-vectors are a nonlinear network's view of a speaker and a session. We mimic
that with a latent Gaussian model pushed through a fixed nonlinear map:

  latent  h = A s + B c + C w + e
     s ~ N(0, I)   speaker factor, one per speaker
     c ~ N(0, I)   channel/session nuisance, per utterance, through a few strong
                   directions (B has large columns): what LDA removes and cosine suffers
     w ~ N(0, I)   weaker within-speaker variability; e: isotropic noise
  vector  x = M g(h) + b      g: skewed, saturating elementwise map; b: non-zero offset

so the vectors are speaker-structured but have a non-zero mean, skew, heavy tails
and a few dominant nuisance directions, like Kaldi x-vectors. The same mixing
(A, B, C, M, b) is shared by every set; speakers of the evaluation sets are disjoint
from the training speakers. A second, domain-shifted set (other channel directions,
another offset) serves the out-of-domain protocol. With --shift-fraction F (default 0)
a random fraction F of the speakers of every set (training and evaluation) also speak
through that second channel, all their utterances: each set then mixes two recording
conditions that go with the speaker, as languages or devices do, and the conditions'
non-target scores lie at different levels (the case adaptive score normalisation is for);
--shift-scale (default 0.3) sets how far that channel moves the x-vectors' offset.

--kind relu makes the other kind of embedding real encoders give (ReLU output, then
length-normalised, as GE2E- and ResNet-style encoders often do): the same latent h
through one ReLU layer, x = relu(W h + a) / |relu(W h + a)|. The vectors are sparse,
non-negative and unit-norm: a few units are dead (no input reaches them and their bias
is negative, so those dimensions are exactly zero in every vector) and the others fire
about half of the time, so about half of all values are exactly zero. The layer has its
own random stream, so with the same options (seed, sizes, --dim) both kinds hold the
same speakers, utterances, trials and latent vectors: two networks' views of one corpus.

  python -m data_utils.demo_corpus --out data/demo [--seed 777] [--train-speakers 1000] ...
  python -m data_utils.demo_corpus --out data/demo_relu --kind relu [--relu-dim 256]
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import run_main

PROG = 'demo_corpus'


class DemoConfig:
    def __init__(self, dim=512, latent_dim=128, speaker_dim=64, channel_dim=4,
                 session_dim=48, train_speakers=1000, utts_per_train_speaker=12,
                 eval_speakers=150, enroll_utts=(1, 3), test_utts_per_speaker=6,
                 nontarget_per_model=20, domain_speakers=300, utts_per_domain_speaker=8,
                 speaker_scale=1.2, channel_scale=1.2, session_scale=1.0, noise_scale=1.5, sharpness=2.0, output_scale=4.0, seed=777,
                 kind='xvector', relu_dim=256, relu_dead_fraction=0.055, relu_bias_scale=0.2,
                 shift_fraction=0.0, shift_scale=0.3):
        self.__dict__.update(locals())
        del self.__dict__['self']


class _Mixing:
    """The fixed 'network': latent directions, nonlinear map and output projection."""

    def __init__(self, cfg, rng):
        self.cfg = cfg
        L = cfg.latent_dim
        self.A = rng.standard_normal((L, cfg.speaker_dim)) * cfg.speaker_scale / np.sqrt(cfg.speaker_dim)
        self.B = rng.standard_normal((L, cfg.channel_dim)) * cfg.channel_scale / np.sqrt(cfg.channel_dim)
        self.C = rng.standard_normal((L, cfg.session_dim)) * cfg.session_scale / np.sqrt(cfg.session_dim)
        self.M = rng.standard_normal((cfg.dim, L)) / np.sqrt(L)
        self.offset = rng.standard_normal(cfg.dim) * 0.5 + 0.3
        # Domain shift: other channel directions and a moved offset.
        self.B_shift = rng.standard_normal((L, cfg.channel_dim)) * cfg.channel_scale / np.sqrt(cfg.channel_dim)
        self.offset_shift = self.offset + rng.standard_normal(cfg.dim) * cfg.shift_scale
        if cfg.kind not in ('xvector', 'relu'):
            raise ValueError("demo corpus kind must be 'xvector' or 'relu', not %r" % cfg.kind)
        self.relu = _ReluLayer(cfg) if cfg.kind == 'relu' else None

    def embed(self, spk_factors, rng, shifted=False):
        """Vectors of utterances of the given speakers; shifted (one flag, or one per
        row): through the second channel, as the domain-shifted set is."""
        n = spk_factors.shape[0]
        cfg = self.cfg
        second = np.broadcast_to(np.asarray(shifted, dtype=bool), (n,))
        channel = rng.standard_normal((n, cfg.channel_dim))
        h = (spk_factors @ self.A.T
             + np.where(second[:, None], channel @ self.B_shift.T, channel @ self.B.T)
             + rng.standard_normal((n, cfg.session_dim)) @ self.C.T
             + cfg.noise_scale * rng.standard_normal((n, cfg.latent_dim)))
        if self.relu is not None:
            return self.relu(h, second)
        # A smooth ReLU on each output: every dimension skewed the same way, as the
        # outputs of a ReLU network's layers are, with a non-zero mean.
        pre = h @ self.M.T + np.where(second[:, None], self.offset_shift, self.offset)
        x = cfg.output_scale * np.logaddexp(0.0, cfg.sharpness * pre) / cfg.sharpness
        return x.astype(np.float32)


class _ReluLayer:
    """One ReLU layer on the latent, then length normalisation: sparse unit-norm vectors.

    Live units get N(0, 1/L) weights and a bias small beside the pre-activation's spread
    (about 2.5 on the default latent), so each fires for about half of the vectors. Dead
    units, a fixed fraction, get zero weights and a negative bias: exactly zero always,
    as units that died in training are. The domain-shifted set moves the live biases.
    """

    def __init__(self, cfg):
        # Its own stream: the latent draws of the corpus stay those of the x-vector kind.
        rng = np.random.default_rng([cfg.seed, 1])
        L, D = cfg.latent_dim, cfg.relu_dim
        self.W = rng.standard_normal((D, L)) / np.sqrt(L)
        self.bias = rng.standard_normal(D) * cfg.relu_bias_scale
        self.bias_shift = self.bias + rng.standard_normal(D) * cfg.relu_bias_scale
        dead = rng.choice(D, int(round(cfg.relu_dead_fraction * D)), replace=False)
        self.W[dead] = 0.0
        self.bias[dead] = self.bias_shift[dead] = -1.0

    def __call__(self, h, second):
        """second: per row, whether it came through the second (shifted) channel."""
        x = np.maximum(h @ self.W.T + np.where(second[:, None], self.bias_shift, self.bias), 0.0)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _second_channel(n_speakers, rng, cfg, shifted=False):
    """Per speaker, whether all its utterances come through the second channel: every one
    in a shifted set, else a random cfg.shift_fraction of them, as a language or a device
    goes with the speaker. Drawn only for a fraction above zero: the default corpus stays
    as it was."""
    if shifted or cfg.shift_fraction <= 0:
        return np.full(n_speakers, bool(shifted))
    return rng.random(n_speakers) < cfg.shift_fraction


def _speaker_utts(prefix, n_speakers, utts_per_speaker, rng, cfg, mixing, shifted=False):
    spk_factors = rng.standard_normal((n_speakers, cfg.speaker_dim))
    counts = (np.full(n_speakers, utts_per_speaker) if np.isscalar(utts_per_speaker)
              else rng.integers(utts_per_speaker[0], utts_per_speaker[1] + 1, n_speakers))
    spk_index = np.repeat(np.arange(n_speakers), counts)
    vectors = mixing.embed(spk_factors[spk_index], rng,
                           _second_channel(n_speakers, rng, cfg, shifted)[spk_index])
    spk_names = ['%s%05d' % (prefix, s) for s in range(n_speakers)]
    utt_names = []
    for s, count in enumerate(counts):
        utt_names.extend('%s-%03d' % (spk_names[s], u) for u in range(count))
    return spk_names, spk_factors, utt_names, spk_index, vectors


def _write_dir(path, utts, utt2spk, vectors):
    os.makedirs(path, exist_ok=True)
    order = np.argsort(utts, kind='stable')     # Kaldi tables are sorted by key
    utts = [utts[i] for i in order]
    spks = [utt2spk[i] for i in order]
    kt.write_vectors('ark,scp:%s,%s' % (os.path.join(path, 'xvector.ark'),
                                       os.path.join(path, 'xvector.scp')), utts, vectors[order])
    with open(os.path.join(path, 'utt2spk'), 'w') as f:
        f.writelines('%s %s\n' % pair for pair in zip(utts, spks))
    spk2utt = {}
    for utt, spk in zip(utts, spks):
        spk2utt.setdefault(spk, []).append(utt)
    with open(os.path.join(path, 'spk2utt'), 'w') as f:
        f.writelines('%s %s\n' % (spk, ' '.join(spk2utt[spk])) for spk in sorted(spk2utt))


def _eval_set(out, name, cfg, mixing, rng, shifted=False):
    """enroll/ (models of 1..3 utterances), test/, trials with all targets and sampled nontargets."""
    spk_names, spk_factors, _, _, _ = _speaker_utts(name + '-', cfg.eval_speakers, 0, rng, cfg, mixing)
    n_enroll = rng.integers(cfg.enroll_utts[0], cfg.enroll_utts[1] + 1, cfg.eval_speakers)
    enroll_spk = np.repeat(np.arange(cfg.eval_speakers), n_enroll)
    test_spk = np.repeat(np.arange(cfg.eval_speakers), cfg.test_utts_per_speaker)
    second = _second_channel(cfg.eval_speakers, rng, cfg, shifted)
    enroll_vec = mixing.embed(spk_factors[enroll_spk], rng, second[enroll_spk])
    test_vec = mixing.embed(spk_factors[test_spk], rng, second[test_spk])
    models = [n.replace('-', '-m', 1) for n in spk_names]
    enroll_utts, enroll_models = [], []
    for s in range(cfg.eval_speakers):
        enroll_utts.extend('%s-e%02d' % (spk_names[s], u) for u in range(n_enroll[s]))
        enroll_models.extend([models[s]] * n_enroll[s])
    test_utts = []
    for s in range(cfg.eval_speakers):
        test_utts.extend('%s-t%02d' % (spk_names[s], u) for u in range(cfg.test_utts_per_speaker))
    test_owner = [spk_names[s] for s in test_spk]
    _write_dir(os.path.join(out, 'enroll'), enroll_utts, enroll_models, enroll_vec)
    _write_dir(os.path.join(out, 'test'), test_utts, test_owner, test_vec)
    lines = []
    for s in range(cfg.eval_speakers):
        mine = np.flatnonzero(test_spk == s)
        others = np.flatnonzero(test_spk != s)
        for t in mine:
            lines.append('%s %s target\n' % (models[s], test_utts[t]))
        for t in rng.choice(others, cfg.nontarget_per_model, replace=False):
            lines.append('%s %s nontarget\n' % (models[s], test_utts[t]))
    with open(os.path.join(out, 'trials'), 'w') as f:
        f.writelines(lines)


def make_corpus(out, cfg):
    """Write the corpus under `out` (atomically: a temp dir renamed into place)."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.demo-', dir=parent)
    try:
        rng = np.random.default_rng(cfg.seed)
        mixing = _Mixing(cfg, rng)
        spk_names, _, utts, spk_index, vectors = _speaker_utts(
            'spk', cfg.train_speakers, cfg.utts_per_train_speaker, rng, cfg, mixing)
        _write_dir(os.path.join(tmp, 'train'), utts, [spk_names[s] for s in spk_index], vectors)
        for name in ('sitw_dev', 'sitw_eval'):
            _eval_set(os.path.join(tmp, name), name.replace('_', ''), cfg, mixing, rng)
        spk_names, _, utts, spk_index, vectors = _speaker_utts(
            'dom', cfg.domain_speakers, cfg.utts_per_domain_speaker, rng, cfg, mixing, shifted=True)
        _write_dir(os.path.join(tmp, 'shifted'), utts, [spk_names[s] for s in spk_index], vectors)
        with open(os.path.join(tmp, 'README'), 'w') as f:
            f.write('Demo corpus made by data_utils/demo_corpus.py with %r\n' % vars(cfg))
        # Scp entries name the temp dir; rewrite them for the final place before the rename.
        for root, _, files in os.walk(tmp):
            if 'xvector.scp' in files:
                scp = os.path.join(root, 'xvector.scp')
                with open(scp) as f:
                    text = f.read().replace(tmp, out.rstrip('/'))
                with open(scp, 'w') as f:
                    f.write(text)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.chmod(tmp, 0o755)   # mkdtemp makes it private; a corpus is for reading
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='directory to create (replaced if present)')
    defaults = DemoConfig()
    parser.add_argument('--kind', choices=('xvector', 'relu'), default=defaults.kind,
                        help='x-vector-like vectors, or sparse unit-norm ReLU outputs')
    for name in ('seed', 'dim', 'relu_dim', 'train_speakers', 'utts_per_train_speaker', 'eval_speakers',
                 'test_utts_per_speaker', 'nontarget_per_model', 'domain_speakers'):
        parser.add_argument('--' + name.replace('_', '-'), type=int, default=getattr(defaults, name))
    parser.add_argument('--shift-fraction', type=float, default=defaults.shift_fraction,
                        help='fraction of the speakers of every set (training and evaluation) '
                        'recorded through the second channel of the domain-shifted set, all '
                        'their utterances: two conditions in each set (default 0: none)')
    parser.add_argument('--shift-scale', type=float, default=defaults.shift_scale,
                        help='x-vector kind: how far the second channel moves the output '
                        'offset (standard deviation per dimension)')
    args = parser.parse_args(argv)
    cfg = DemoConfig(**{k: v for k, v in vars(args).items() if k != 'out'})
    make_corpus(args.out, cfg)
    print('demo corpus (%s): %d training speakers, %d-dim vectors, written to %s'
          % (cfg.kind, cfg.train_speakers, cfg.relu_dim if cfg.kind == 'relu' else cfg.dim, args.out),
          file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
