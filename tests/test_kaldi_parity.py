"""Randomised parity of every tool in local/bin with real Kaldi (issue 7, part 1).

Each test runs one tool twice on the same generated input: once as Kaldi's binary
(yours where KALDI_ROOT points at a compiled Kaldi, else built once per machine;
see tests/kaldi_oracle.py) and once as ours (local/bin), and
then holds ours to Kaldi's behaviour:
  * Kaldi fails (non-zero exit)  -> ours fails too, with exactly one ERROR line;
  * Kaldi warns and goes on      -> ours goes on and warns about the same thing
                                    (a WARNING line matching the topic in WARNS);
  * Kaldi gives an answer        -> ours gives the same within the tolerances of
                                    tests/test_kaldi_backend.py: vectors and matrices
                                    1e-4 relative, scores 1e-3 absolute, EER/minDCF as
                                    printed; LDA/PCA rows compared as subspaces where
                                    eigenvalues tie, since eigenvectors are arbitrary there;
                                    PLDA trained or adapted on ill-conditioned input within
                                    Kaldi's own rounding noise on top (see kaldi_noise).
The inputs (KINDS) are the ones real embeddings bring: always-zero dimensions, exact
zeros and unit norms, rank-deficient within-class scatter, fewer speakers than
dimensions, one-utterance speakers, magnitudes of 1e6 and 1e-6, fewer vectors than
dimensions, no vectors at all; float and double, text and binary archives. The table TOOLS x KINDS is the pytest parametrisation; the
outcome of every cell is printed at the end of the module (and written to
$VV_PARITY_COVERAGE when set) as the coverage matrix.
"""
import os
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

import kaldi_oracle
from data_utils import kaldi_table as kt
from data_utils.kaldi_codec import read_matrix, read_vector, write_matrix, write_vector
from helpers import ROOT, env, one_error_line
from kaldi_compat.plda import read_plda

TOOLS = ['ivector-mean', 'ivector-subtract-global-mean', 'ivector-normalize-length',
         'ivector-compute-lda', 'transform-vec', 'est-pca', 'ivector-compute-plda',
         'ivector-copy-plda', 'ivector-plda-scoring', 'ivector-adapt-plda',
         'ivector-compute-dot-products', 'compute-eer', 'copy-vector', 'compute_min_dcf.py']

DIM = 24


# ----------------------------------------------------------------------------
# The input kinds. Each gives (vectors N x D, speaker of each row, storage format);
# storage: 'text' (ark,t), 'float' (binary FV) or 'double' (binary DV).

def _speakers(rng, num_spk, low, high):
    counts = rng.integers(low, high + 1, size=num_spk)
    return np.repeat(np.arange(num_spk), counts)


def _xvector_like(rng, spk, dim=DIM, within_scale=0.5, within_rank=None):
    """Speaker means plus within-speaker noise (in `within_rank` directions if given)."""
    means = rng.standard_normal((spk.max() + 1, dim)) * 2.0 + rng.standard_normal(dim)
    rank = dim if within_rank is None else within_rank
    basis = rng.standard_normal((rank, dim))
    noise = rng.standard_normal((len(spk), rank)) @ basis * within_scale / np.sqrt(rank)
    return means[spk] + noise


def _length_normalised(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def kind_gaussian(rng):
    spk = _speakers(rng, 16, 3, 8)
    return _xvector_like(rng, spk), spk, 'text'


def kind_dead_dims(rng):
    """ReLU output, length-normalised: 5 dims always zero, about half the values zero.
    Many utterances per speaker, as in real training lists: E-M then shrinks the
    within-class variance of the dead dims to ~(1 + n)^-10 ~ 1e-17, 1e-15 of the others
    (the case of issue 7, where our PLDA refused what Kaldi trains)."""
    spk = _speakers(rng, 8, 40, 60)
    x = np.maximum(_xvector_like(rng, spk) - 0.5, 0.0)
    x[:, [1, 7, 8, 15, 22]] = 0.0
    return _length_normalised(x), spk, 'float'


def kind_zeros_and_unit(rng):
    """Unit-norm vectors, some of them exactly zero (an extractor fed silence)."""
    spk = _speakers(rng, 16, 3, 8)
    x = _length_normalised(_xvector_like(rng, spk))
    x[rng.choice(len(spk), size=6, replace=False)] = 0.0
    return x, spk, 'text'


def kind_rank_deficient(rng):
    """Within-speaker variation in 6 of the 24 directions only."""
    spk = _speakers(rng, 16, 3, 8)
    return _xvector_like(rng, spk, within_rank=6), spk, 'float'


def kind_few_speakers(rng):
    """5 speakers in 24 dimensions: the between-class covariance has rank 4."""
    spk = _speakers(rng, 5, 20, 30)
    return _xvector_like(rng, spk), spk, 'double'


def kind_one_utt_speakers(rng):
    """Half of the speakers have a single utterance."""
    spk = np.concatenate([_speakers(rng, 10, 3, 8), 10 + np.arange(10)])
    return _xvector_like(rng, spk), spk, 'text'


def kind_all_one_utt(rng):
    """Every speaker has a single utterance: no within-class statistics at all."""
    spk = np.arange(40)
    return _xvector_like(rng, spk), spk, 'float'


def kind_fewer_vectors_than_dims(rng):
    """10 utterances in 24 dimensions."""
    spk = np.repeat(np.arange(5), 2)
    return _xvector_like(rng, spk), spk, 'float'


def kind_large(rng):
    spk = _speakers(rng, 16, 3, 8)
    return _xvector_like(rng, spk) * 1e6, spk, 'double'


def kind_small(rng):
    spk = _speakers(rng, 16, 3, 8)
    return _xvector_like(rng, spk) * 1e-6, spk, 'float'


def kind_empty(rng):
    """No vectors at all (a failed extraction): Kaldi's tools fail, or write nothing and
    exit with status 1."""
    return np.zeros((0, DIM)), np.zeros(0, dtype=int), 'float'


KINDS = {
    'gaussian[text]': kind_gaussian,
    'dead_dims[float]': kind_dead_dims,
    'zeros_unit[text]': kind_zeros_and_unit,
    'rank_deficient[float]': kind_rank_deficient,
    'few_speakers[double]': kind_few_speakers,
    'one_utt_spk[text]': kind_one_utt_speakers,
    'all_one_utt[float]': kind_all_one_utt,
    'n_lt_dim[float]': kind_fewer_vectors_than_dims,
    'large_1e6[double]': kind_large,
    'small_1e-6[float]': kind_small,
    'empty[float]': kind_empty,
}


# ----------------------------------------------------------------------------
# Running both engines

OURS_BIN = os.path.join(ROOT, 'local', 'bin')


class Run:
    def __init__(self, proc):
        self.rc, self.stderr, self.stdout = proc.returncode, proc.stderr, proc.stdout

    @property
    def warnings(self):
        return [l for l in self.stderr.splitlines() if l.startswith('WARNING')]


def command(engine, tool):
    if engine == 'ours':
        return [os.path.join(OURS_BIN, tool)]
    if tool == 'compute_min_dcf.py':
        return [sys.executable, kaldi_oracle.script('egs/sre08/v1/sid/compute_min_dcf.py')]
    return [kaldi_oracle.binary(tool)]


def run_both(work, tool, args):
    """Run `tool args` with Kaldi's and our binary in `work`; '{o}' in an argument
    is replaced by the engine's prefix ('kaldi_' / 'ours_') for its output files."""
    runs = {}
    for engine in ('kaldi', 'ours'):
        prefix = engine + '_'
        argv = command(engine, tool) + [a.replace('{o}', prefix) for a in args]
        runs[engine] = Run(subprocess.run(argv, cwd=work, env=env(), capture_output=True,
                                          text=True))
    return runs['kaldi'], runs['ours']


# What Kaldi's warnings are about, as patterns our warnings must match (our words).
WARNS = [
    (r'Zero iVector', r'zero'),
    (r'Floored \d+ eigenvalues of covariance', r'[Ff]loor'),
    (r'very tiny variance', r'tiny variance'),
    (r'not present in', r'not present'),
    (r'No iVector present in input for utterance', r'[Nn]o (iVector|vector)'),
    (r'Not producing output for speaker', r'[Nn]ot producing output|no utterances'),
]


def check_behaviour(kaldi, ours, unsure=None):
    """Kaldi's exit and warnings, mirrored. Returns True when there is an answer to compare.
    Warnings matching `unsure` (a Kaldi pattern from WARNS) depend on rounding: either
    engine may give them or not."""
    if kaldi.rc != 0:
        assert ours.rc != 0, ('Kaldi failed but ours did not:\n' + kaldi.stderr[-1500:])
        one_error_line(ours.stderr)
        return False
    assert ours.rc == 0, ('Kaldi ran but ours failed:\n%s\n--- Kaldi:\n%s'
                          % (ours.stderr[-1500:], kaldi.stderr[-1500:]))
    kaldi_warnings, ours_warnings = kaldi.warnings, ours.warnings
    if unsure:
        kaldi_warnings = [w for w in kaldi_warnings if not re.search(unsure, w)]
        ours_warnings = [w for w in ours_warnings if not re.search(dict(WARNS)[unsure], w)]
    for warning in kaldi_warnings:
        topics = [ours_pat for kaldi_pat, ours_pat in WARNS if re.search(kaldi_pat, warning)]
        assert topics, 'unclassified Kaldi warning (add it to WARNS): %s' % warning
        assert any(re.search(topics[0], w) for w in ours_warnings), (
            'Kaldi warned %r; ours did not warn about it:\n%s' % (warning, ours.stderr[-1500:]))
    if not kaldi_warnings:
        assert not ours_warnings, ('ours warned where Kaldi did not:\n%s'
                                   % '\n'.join(ours_warnings))
    return True


def outcome(kaldi, ours):
    if kaldi.rc != 0:
        return 'E'
    return 'W' if kaldi.warnings else '='


def outcomes(results):
    """One cell for several option sets: the outcomes seen, in the order '=', 'W', 'E'."""
    return ''.join(c for c in '=WE' if c in results)


# ----------------------------------------------------------------------------
# Inputs on disk, made once per kind

class Input:
    """A kind's files: vectors.ark, utt2spk, spk2utt, trials, num_utts.ark, ..."""

    def __init__(self, root, kind):
        rng = np.random.default_rng(zlib.crc32(kind.encode()))
        x, spk, storage = KINDS[kind](rng)
        if storage != 'double':
            x = x.astype(np.float32)        # what a float archive holds, for both engines
        self.kind, self.storage, self.dir = kind, storage, root
        self.vectors = x.astype(np.float64)
        self.keys = ['spk%02d-utt%03d' % (s, i) for i, s in enumerate(spk)]
        self.spk = ['spk%02d' % s for s in spk]
        self.dim = x.shape[1]
        self.write_table('vectors.ark', self.keys, x, storage)
        with open(self.path('utt2spk'), 'w') as f:
            f.writelines('%s %s\n' % ku for ku in zip(self.keys, self.spk))
        spk2utt = {}
        for key, s in zip(self.keys, self.spk):
            spk2utt.setdefault(s, []).append(key)
        self.spk2utt = spk2utt
        with open(self.path('spk2utt'), 'w') as f:
            f.writelines('%s %s\n' % (s, ' '.join(u)) for s, u in sorted(spk2utt.items()))
        # Utterances without a vector, and a speaker with none (Kaldi warns and skips).
        with open(self.path('spk2utt_unknown_utts'), 'w') as f:
            f.writelines('%s %s ghost-%s\n' % (s, ' '.join(u), s)
                         for s, u in sorted(spk2utt.items()))
            f.write('zz-nobody ghost-1 ghost-2\n')
        kt.write_int_table('ark,t:' + self.path('num_utts.ark'), self.keys,
                           rng.integers(1, 4, size=len(self.keys)))
        self.trials = self._trials(rng)
        with open(self.path('trials'), 'w') as f:
            f.writelines('%s %s %s\n' % t for t in self.trials)
        with open(self.path('trials_unlabelled'), 'w') as f:
            f.writelines('%s %s\n' % t[:2] for t in self.trials)
        # Keys missing from the vectors (Kaldi warns and skips those trials).
        with open(self.path('trials_unknown_keys'), 'w') as f:
            f.writelines('%s %s\n' % t[:2] for t in self.trials[:20])
            some = self.keys or ['ghost']
            f.write('nobody %s\n%s nobody\n' % (some[0], some[-1]))
        # Random transforms for transform-vec: affine, linear, and of the wrong size.
        for name, cols in (('affine', self.dim + 1), ('linear', self.dim),
                           ('wrong_size', self.dim + 2)):
            write_matrix(self.path(name + '.mat'), rng.standard_normal((12, cols)),
                            binary=name == 'linear')

    def _trials(self, rng, num=200):
        """Pairs of utterances, about a third of them same-speaker (target)."""
        n = len(self.keys)
        trials = set()
        num = min(num, n * (n - 1) // 2)
        multi = [u for u in self.spk2utt.values() if len(u) > 1]
        while len(trials) < num:
            if multi and rng.random() < 0.35 and len(trials) < num // 2:
                utts = multi[rng.integers(len(multi))]
                a, b = rng.choice(len(utts), size=2, replace=False)
                trials.add((utts[a], utts[b], 'target'))
            else:
                a, b = rng.choice(n, size=2, replace=False)
                label = 'target' if self.spk[a] == self.spk[b] else 'nontarget'
                trials.add((self.keys[a], self.keys[b], label))
        return sorted(trials)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_table(self, name, keys, x, storage):
        kt.write_vectors('ark:' + self.path(name), keys, x, binary=storage != 'text',
                         double=storage == 'double')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    made = {}

    def get(kind):
        if kind not in made:
            made[kind] = Input(str(tmp_path_factory.mktemp(re.sub(r'\W', '_', kind))), kind)
        return made[kind]
    return get


# ----------------------------------------------------------------------------
# Comparing outputs

def read_table(path):
    return kt.read_vector_table('ark:' + path)


def assert_tables_close(kaldi_path, ours_path, rtol=1e-4):
    keys_k, k = read_table(kaldi_path)
    keys_o, o = read_table(ours_path)
    assert keys_o == keys_k
    assert_close(o, k, rtol)


def assert_close(mine, theirs, rtol=1e-4):
    """Within rtol of the largest magnitude (Kaldi's own float rounding is relative)."""
    scale = max(np.abs(theirs).max(), np.finfo(np.float64).tiny)
    err = np.abs(mine - theirs).max() / scale
    assert err < rtol, 'max relative difference %g' % err


def read_scores(path):
    with open(path) as f:
        rows = [l.split() for l in f]
    return [tuple(r[:2]) for r in rows], np.array([float(r[2]) for r in rows])


def assert_scores_close(kaldi_path, ours_path, atol=1e-3):
    keys_k, k = read_scores(kaldi_path)
    keys_o, o = read_scores(ours_path)
    assert keys_o == keys_k
    np.testing.assert_allclose(o, k, rtol=0, atol=atol)


def tie_groups(eigenvalues, rel_gap=1e-3):
    """Runs of eigenvalues closer than rel_gap x the largest: their eigenvectors are
    only defined as a subspace."""
    scale = max(np.abs(eigenvalues).max(), 1e-300)
    groups, start = [], 0
    for i in range(1, len(eigenvalues) + 1):
        if i == len(eigenvalues) or eigenvalues[i - 1] - eigenvalues[i] > rel_gap * scale:
            groups.append(list(range(start, i)))
            start = i
    return groups


def assert_same_rows_up_to_rotation(mine, theirs, eigenvalues, theirs_full, rtol=1e-4):
    """Rows of two eigen-projections, group by group of tied eigenvalues: each group of
    ours must be an orthogonal mix of Kaldi's (a sign flip for a single row). In a group
    cut by the kept dimension any subset of the tied space is right: there ours must lie
    in the span of the whole group, taken from Kaldi's full projection (`theirs_full`)."""
    kept = theirs.shape[0]
    scale = np.abs(theirs).max()
    checked = 0
    for group in tie_groups(eigenvalues):
        if group[0] >= kept:
            break
        if group[-1] >= kept:
            a, b = mine[group[0]:kept], theirs_full[group]
            residual = a - (a @ np.linalg.pinv(b)) @ b
            assert np.abs(residual).max() < rtol * scale, \
                'rows %d-%d are not in the tied space of Kaldi\'s' % (group[0], kept - 1)
            checked += len(a)
            continue
        a, b = mine[group], theirs[group]
        mix = a @ np.linalg.pinv(b)
        assert np.abs(mix @ b - a).max() < rtol * scale, 'rows %s span another subspace' % group
        assert np.abs(mix @ mix.T - np.eye(len(group))).max() < 1e-3, \
            'rows %s: not an orthogonal mix of Kaldi\'s' % group
        checked += len(group)
    assert checked, 'no row of the projection is defined well enough to compare'
    return checked


def parse_log_vector(stderr, pattern):
    match = re.search(pattern + r'.*?\[([^\]]*)\]', stderr)
    assert match, 'no %r in Kaldi\'s log' % pattern
    return np.array([float(v) for v in match.group(1).split()])


# ----------------------------------------------------------------------------
# One check per tool: runs both engines on an input, asserts parity, returns the outcome

def check_ivector_mean(inp):
    k, o = run_both(inp.dir, 'ivector-mean', ['ark:vectors.ark', '{o}mean.vec'])
    if check_behaviour(k, o):
        assert_close(read_vector(inp.path('ours_mean.vec')),
                     read_vector(inp.path('kaldi_mean.vec')))
        # The same mode too: Kaldi's ivector-mean writes text unless --binary=true.
        with open(inp.path('ours_mean.vec'), 'rb') as a, open(inp.path('kaldi_mean.vec'), 'rb') as b:
            assert (a.read(2) == b'\0B') == (b.read(2) == b'\0B')
    results = outcome(k, o)
    # (spk2utt plus utterances and a speaker without a vector: the known speakers' means
    # are compared too.)
    for spk2utt in ('spk2utt_unknown_utts',):
        k, o = run_both(inp.dir, 'ivector-mean', ['ark:' + spk2utt, 'ark:vectors.ark',
                                                  'ark:{o}spk.ark', 'ark,t:{o}num_utts.ark'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            assert_tables_close(inp.path('kaldi_spk.ark'), inp.path('ours_spk.ark'))
            with open(inp.path('kaldi_num_utts.ark')) as a, \
                    open(inp.path('ours_num_utts.ark')) as b:
                assert b.read().split() == a.read().split()
    return outcomes(results)


def check_ivector_subtract_global_mean(inp):
    results = ''
    write_vector(inp.path('some_mean.vec'), inp.vectors[::2].sum(axis=0) / 3.0)
    for mean in ([], ['some_mean.vec']):
        k, o = run_both(inp.dir, 'ivector-subtract-global-mean',
                        mean + ['ark:vectors.ark', 'ark:{o}centred.ark'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            # Centred values are differences: relative to the input's magnitude.
            keys_k, ck = read_table(inp.path('kaldi_centred.ark'))
            keys_o, co = read_table(inp.path('ours_centred.ark'))
            assert keys_o == keys_k
            assert np.abs(co - ck).max() < 1e-4 * max(np.abs(inp.vectors).max(), 1e-300)
    return outcomes(results)


def check_ivector_normalize_length(inp):
    results = ''
    for opt in ('--scaleup=true', '--scaleup=false'):
        k, o = run_both(inp.dir, 'ivector-normalize-length', [opt, 'ark:vectors.ark',
                                                              'ark:{o}lnorm.ark'])
        if check_behaviour(k, o):
            assert_tables_close(inp.path('kaldi_lnorm.ark'), inp.path('ours_lnorm.ark'))
        results += outcome(k, o)
    return outcomes(results)


def check_ivector_compute_lda(inp):
    results = ''
    for dim, tcf in ((12, '0.0'), (12, '0.1'), (inp.dim + 1, '0.0')):
        args = ['--total-covariance-factor=' + tcf, 'ark:vectors.ark', 'ark:utt2spk']
        k, o = run_both(inp.dir, 'ivector-compute-lda', ['--dim=%d' % dim] + args
                        + ['{o}lda.mat'])
        results += outcome(k, o)
        if not check_behaviour(k, o):
            continue
        mine, theirs = read_matrix(inp.path('ours_lda.mat')), read_matrix(
            inp.path('kaldi_lda.mat'))
        assert mine.shape == theirs.shape == (dim, inp.dim + 1)
        subprocess.run([kaldi_oracle.binary('ivector-compute-lda'), '--dim=%d' % inp.dim]
                       + args + ['kaldi_lda_full.mat'], cwd=inp.dir, env=env(),
                       capture_output=True, check=True)
        s = parse_log_vector(k.stderr, 'on the total covariance, are:')
        assert_same_rows_up_to_rotation(mine, theirs, s,
                                        read_matrix(inp.path('kaldi_lda_full.mat')))
    return outcomes(results)


def check_transform_vec(inp):
    results = ''
    for matrix in ('affine.mat', 'linear.mat', 'wrong_size.mat'):
        k, o = run_both(inp.dir, 'transform-vec', [matrix, 'ark:vectors.ark',
                                                   'ark:{o}projected.ark'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            assert_tables_close(inp.path('kaldi_projected.ark'),
                                inp.path('ours_projected.ark'))
    return outcomes(results)


def check_est_pca(inp):
    results = ''
    for opts in (['--dim=12'], ['--normalize-mean=true', '--normalize-variance=true'],
                 ['--dim=%d' % (inp.dim + 1)]):
        k, o = run_both(inp.dir, 'est-pca', ['--read-vectors=true'] + opts
                        + ['--write-full-matrix={o}pca_full.mat', 'ark:vectors.ark',
                           '{o}pca.mat'])
        results += outcome(k, o)
        # Eigenvalues that are zero but for rounding (|s| < 1e-12 of the largest, and not
        # all well below the 1e-15 at which Kaldi warns) may fall either side of 1e-15.
        s = parse_log_vector(k.stderr, 'Eigenvalues in PCA are') if k.rc == 0 else None
        rounding = s is not None and np.any(
            (np.abs(s) < 1e-12 * s.max()) & (np.abs(s) > 1e-16))
        if not check_behaviour(k, o, unsure=r'very tiny variance' if rounding else None):
            continue
        mine, theirs = read_matrix(inp.path('ours_pca.mat')), read_matrix(
            inp.path('kaldi_pca.mat'))
        full = read_matrix(inp.path('kaldi_pca_full.mat'))
        assert mine.shape == theirs.shape
        if '--normalize-variance=true' in opts:
            # Rows scaled by 1/sqrt(eigenvalue). Their scales are defined where the
            # eigenvalue is (above double rounding of the largest: 1e-10 of it); the
            # directions everywhere, as a subspace.
            norm_k = np.linalg.norm(theirs[:, :-1], axis=1)
            norm_o = np.linalg.norm(mine[:, :-1], axis=1)
            defined = s[:len(norm_k)] > 1e-10 * s.max()
            assert_close(norm_o[defined], norm_k[defined])
            mine, theirs = mine / norm_o[:, None], theirs / norm_k[:, None]
            full = full / np.linalg.norm(full[:, :-1], axis=1)[:, None]
        assert_same_rows_up_to_rotation(mine, theirs, s, full)
    return outcomes(results)


def train_kaldi_plda(inp, name='kaldi_plda'):
    """Kaldi's PLDA on this input if Kaldi trains one, else on a well-behaved input of
    the same dimension (so that scoring and adapting are tested on every kind)."""
    spk2utt, vectors = 'ark:spk2utt', 'ark:vectors.ark'
    proc = subprocess.run([kaldi_oracle.binary('ivector-compute-plda'), spk2utt, vectors,
                           name], cwd=inp.dir, env=env(), capture_output=True, text=True)
    if proc.returncode != 0:
        rng = np.random.default_rng(1)
        spk = _speakers(rng, 16, 3, 8)
        x = _xvector_like(rng, spk, dim=inp.dim) * np.abs(inp.vectors).max(initial=3) / 3
        keys = ['s%02d-u%03d' % (s, i) for i, s in enumerate(spk)]
        kt.write_vectors('ark:' + inp.path('plda_train.ark'), keys, x)
        with open(inp.path('plda_spk2utt'), 'w') as f:
            for s in sorted(set(spk)):
                f.write('s%02d %s\n' % (s, ' '.join(k for k, t in zip(keys, spk) if t == s)))
        subprocess.run([kaldi_oracle.binary('ivector-compute-plda'), 'ark:plda_spk2utt',
                        'ark:plda_train.ark', name], cwd=inp.dir, env=env(),
                       capture_output=True, check=True)
    return name


def kaldi_scores_with(inp, plda, out):
    subprocess.run([kaldi_oracle.binary('ivector-plda-scoring'), '--num-utts=ark:num_utts.ark',
                    plda, 'ark:vectors.ark', 'ark:vectors.ark', 'trials_unlabelled', out],
                   cwd=inp.dir, env=env(), capture_output=True, check=True)
    return inp.path(out)


def kaldi_noise(kaldi, kaldi_again):
    """How far Kaldi's answer moves when only the order of its input changes, relative
    to the answer's magnitude (at least 1): the rounding noise of the problem itself.

    PLDA's E-M starts from unit covariances whatever the data's scale and never gets
    rid of the directions the data do not vary in (always-zero dims, rank-deficient
    scatter, fewer speakers than dims): there the covariances keep eigenvalues 1e-12
    to 1e-16 of the largest, and their inverses carry relative errors of up to ~1e-4.
    Two correct implementations can differ by that much, as Kaldi differs from itself
    on a reordered input; ours may differ from Kaldi by ten times that (a sample of the
    noise is not its maximum), on top of the usual tolerance. On well-conditioned input
    the noise is ~1e-12, so the usual tolerance holds."""
    return float(np.max(np.abs(kaldi - kaldi_again) / np.maximum(np.abs(kaldi), 1.0)))


def assert_scores_within_noise(kaldi_path, ours_path, kaldi_again_path):
    keys_k, k = read_scores(kaldi_path)
    keys_o, o = read_scores(ours_path)
    assert keys_o == keys_k
    noise = kaldi_noise(k, read_scores(kaldi_again_path)[1])
    # 2e-6: the scores are printed to 7 significant digits.
    tol = 1e-3 + max(10 * noise, 2e-6) * np.maximum(np.abs(k), 1.0)
    worst = np.argmax(np.abs(o - k) - tol)
    assert np.all(np.abs(o - k) <= tol), (
        'score %d: ours %g, Kaldi %g (Kaldi\'s own noise %g relative)'
        % (worst, o[worst], k[worst], noise))


def check_ivector_compute_plda(inp):
    k, o = run_both(inp.dir, 'ivector-compute-plda', ['ark:spk2utt', 'ark:vectors.ark',
                                                       '{o}plda'])
    if check_behaviour(k, o):
        # Kaldi again with the speakers in reverse order, for its rounding noise.
        with open(inp.path('spk2utt')) as f, open(inp.path('spk2utt_reversed'), 'w') as g:
            g.writelines(reversed(f.readlines()))
        subprocess.run([kaldi_oracle.binary('ivector-compute-plda'), 'ark:spk2utt_reversed',
                        'ark:vectors.ark', 'kaldi_plda_again'], cwd=inp.dir, env=env(),
                       capture_output=True, check=True)
        # Our model, scored by Kaldi's scorer, against Kaldi's model. Where the
        # covariances are ill-conditioned the model's directions in the null space are
        # not defined, but every score is.
        assert_scores_within_noise(
            kaldi_scores_with(inp, 'kaldi_plda', 'kaldi_plda.scores'),
            kaldi_scores_with(inp, 'ours_plda', 'ours_plda.scores'),
            kaldi_scores_with(inp, 'kaldi_plda_again', 'kaldi_plda_again.scores'))
        theirs, mine = read_plda(inp.path('kaldi_plda')), read_plda(inp.path('ours_plda'))
        again = read_plda(inp.path('kaldi_plda_again'))
        assert_close(mine.mean, theirs.mean)
        noise = kaldi_noise(theirs.psi / theirs.psi.max(), again.psi / theirs.psi.max())
        assert_close(mine.psi, theirs.psi, rtol=1e-4 + 10 * noise)
    return outcome(k, o)


def check_ivector_copy_plda(inp):
    plda = train_kaldi_plda(inp)
    k, o = run_both(inp.dir, 'ivector-copy-plda', ['--smoothing=0.1', '--binary=false',
                                                    plda, '{o}plda.txt'])
    if check_behaviour(k, o):
        theirs, mine = read_plda(inp.path('kaldi_plda.txt')), read_plda(inp.path('ours_plda.txt'))
        for name in ('mean', 'transform', 'psi'):
            assert_close(getattr(mine, name), getattr(theirs, name))
    return outcome(k, o)


def check_ivector_plda_scoring(inp):
    plda = train_kaldi_plda(inp)
    results = ''
    for opts, trials in (([], 'trials_unlabelled'),
                         (['--num-utts=ark:num_utts.ark', '--simple-length-normalization=true'],
                          'trials_unlabelled'),
                         (['--normalize-length=false'], 'trials_unknown_keys')):
        k, o = run_both(inp.dir, 'ivector-plda-scoring', opts + [
            plda, 'ark:vectors.ark', 'ark:vectors.ark', trials, '{o}scores'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            assert_scores_close(inp.path('kaldi_scores'), inp.path('ours_scores'))
    return outcomes(results)


def check_ivector_adapt_plda(inp):
    plda = train_kaldi_plda(inp)
    k, o = run_both(inp.dir, 'ivector-adapt-plda', [plda, 'ark:vectors.ark', '{o}adapted'])
    if check_behaviour(k, o):
        # Kaldi again on the vectors in reverse order, for its rounding noise (the
        # model adapted may be ill-conditioned: see kaldi_noise).
        inp.write_table('vectors_reversed.ark', inp.keys[::-1], inp.vectors[::-1], 'double')
        subprocess.run([kaldi_oracle.binary('ivector-adapt-plda'), plda,
                        'ark:vectors_reversed.ark', 'kaldi_adapted_again'], cwd=inp.dir,
                       env=env(), capture_output=True, check=True)
        assert_scores_within_noise(
            kaldi_scores_with(inp, 'kaldi_adapted', 'kaldi_adapted.scores'),
            kaldi_scores_with(inp, 'ours_adapted', 'ours_adapted.scores'),
            kaldi_scores_with(inp, 'kaldi_adapted_again', 'kaldi_adapted_again.scores'))
    return outcome(k, o)


def check_ivector_compute_dot_products(inp):
    results = ''
    for trials in ('trials_unknown_keys',):    # 20 trials, and 2 naming unknown keys
        k, o = run_both(inp.dir, 'ivector-compute-dot-products', [
            trials, 'ark:vectors.ark', 'ark:vectors.ark', '{o}dot.scores'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            # Kaldi sums the products in single precision: its error grows with |a||b|.
            keys_k, sk = read_scores(inp.path('kaldi_dot.scores'))
            keys_o, so = read_scores(inp.path('ours_dot.scores'))
            assert keys_o == keys_k
            norm2 = np.abs(inp.vectors).max() ** 2 * inp.dim
            np.testing.assert_allclose(so, sk, rtol=0, atol=1e-3 + 1e-5 * norm2)
    return outcomes(results)


def labelled_scores(inp):
    """Scores to rate: dot products of the input's trials (ties and magnitudes included)."""
    x = {k: v for k, v in zip(inp.keys, inp.vectors)}
    with open(inp.path('eer_input'), 'w') as f:
        for a, b, label in inp.trials:
            f.write('%.9g %s\n' % (float(x[a] @ x[b]), label))
    with open(inp.path('dcf_scores'), 'w') as f:
        for a, b, label in inp.trials:
            f.write('%s %s %.9g\n' % (a, b, float(x[a] @ x[b])))


def check_compute_eer(inp):
    labelled_scores(inp)
    k, o = run_both(inp.dir, 'compute-eer', ['eer_input'])
    if check_behaviour(k, o):
        assert o.stdout == k.stdout
    return outcome(k, o)


def check_compute_min_dcf(inp):
    labelled_scores(inp)
    results = ''
    for p in ('0.01', '0.5'):
        k, o = run_both(inp.dir, 'compute_min_dcf.py', ['--p-target', p, '--c-miss', '1',
                                                          '--c-fa', '1', 'dcf_scores', 'trials'])
        results += outcome(k, o)
        if check_behaviour(k, o):
            assert o.stdout == k.stdout
    return outcomes(results)


def check_copy_vector(inp):
    results = ''
    for opts, out in ((['--binary=false', '--change-dim=5'], 'ark,t:{o}copy.txt'),
                      (['--binary=true'], 'ark:{o}copy.ark'),
                      (['--change-dim=%d' % (inp.dim + 3), '--scale=-2.5'], 'ark:{o}copy.ark')):
        k, o = run_both(inp.dir, 'copy-vector', opts + ['ark:vectors.ark', out])
        results += outcome(k, o)
        if check_behaviour(k, o):
            name = out.split(':')[1].replace('{o}', '')
            with open(inp.path('kaldi_' + name), 'rb') as a, open(inp.path('ours_' + name),
                                                                  'rb') as b:
                assert b.read() == a.read(), 'copy-vector output differs byte for byte'
    return outcomes(results)


CHECKS = {
    'ivector-mean': check_ivector_mean,
    'ivector-subtract-global-mean': check_ivector_subtract_global_mean,
    'ivector-normalize-length': check_ivector_normalize_length,
    'ivector-compute-lda': check_ivector_compute_lda,
    'transform-vec': check_transform_vec,
    'est-pca': check_est_pca,
    'ivector-compute-plda': check_ivector_compute_plda,
    'ivector-copy-plda': check_ivector_copy_plda,
    'ivector-plda-scoring': check_ivector_plda_scoring,
    'ivector-adapt-plda': check_ivector_adapt_plda,
    'ivector-compute-dot-products': check_ivector_compute_dot_products,
    'compute-eer': check_compute_eer,
    'copy-vector': check_copy_vector,
    'compute_min_dcf.py': check_compute_min_dcf,
}


# ----------------------------------------------------------------------------
# The table

def test_every_tool_in_local_bin_is_in_the_table():
    assert sorted(TOOLS) == sorted(os.listdir(OURS_BIN))


COVERAGE = {}
OPTION_SETS = {
    'ivector-mean': 'global mean; per speaker, with utts and a speaker without a vector',
    'ivector-subtract-global-mean': 'own mean; a given mean file',
    'ivector-normalize-length': '--scaleup=true; --scaleup=false',
    'ivector-compute-lda': '--dim=12; --dim=12 --total-covariance-factor=0.1; --dim=D+1',
    'transform-vec': 'random affine 12 x (D+1); linear 12 x D; 12 x (D+2) (wrong size)',
    'est-pca': '--dim=12; --normalize-mean --normalize-variance; --dim=D+1',
    'ivector-compute-plda': 'default (scores by Kaldi\'s scorer, psi, mean)',
    'ivector-copy-plda': '--smoothing=0.1 --binary=false (of Kaldi\'s model)',
    'ivector-plda-scoring': 'default; --num-utts --simple-length-normalization; '
                            '--normalize-length=false with unknown trial keys',
    'ivector-adapt-plda': 'default (of Kaldi\'s model; scores by Kaldi\'s scorer)',
    'ivector-compute-dot-products': 'trials, two of them with unknown keys',
    'compute-eer': 'dot-product scores with labels (ties where vectors are zero)',
    'copy-vector': '--change-dim=5 to ark,t; to ark; --change-dim=D+3 --scale=-2.5 to ark',
    'compute_min_dcf.py': '--p-target 0.01; --p-target 0.5',
}


@pytest.fixture(scope='module', autouse=True)
def coverage_matrix(request):
    """Print (and save to $VV_PARITY_COVERAGE) the TOOLS x KINDS outcome matrix."""
    yield
    if not COVERAGE:
        return
    kinds = list(KINDS)
    width = max(map(len, TOOLS))
    lines = ['Kaldi parity coverage (tools x input kinds; a cell lists the outcomes of the '
             'option sets run):',
             '  = same answer   W same answer, both warn about the same thing   '
             'E both fail, ours with one ERROR line   F mismatch   . not run',
             ' ' * width + ''.join('%4d' % (i + 1) for i in range(len(kinds)))]
    for tool in TOOLS:
        lines.append('%-*s' % (width, tool) + ''.join(
            '%4s' % COVERAGE.get((tool, kind), '.') for kind in kinds))
    lines += ['  %d: %s' % (i + 1, k) for i, k in enumerate(kinds)]
    lines.append('Option sets per tool:')
    lines += ['  %-*s %s' % (width, tool, OPTION_SETS[tool]) for tool in TOOLS]
    text = '\n'.join(lines) + '\n'
    if os.environ.get('VV_PARITY_COVERAGE'):
        with open(os.environ['VV_PARITY_COVERAGE'], 'w') as f:
            f.write(text)
    reporter = request.config.pluginmanager.get_plugin('terminalreporter')
    capture = request.config.pluginmanager.get_plugin('capturemanager')
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write('\n' + text)


@pytest.mark.parametrize('kind', list(KINDS))
@pytest.mark.parametrize('tool', TOOLS)
def test_parity_with_kaldi(tool, kind, inputs):
    inp = inputs(kind)
    COVERAGE[(tool, kind)] = 'F'
    COVERAGE[(tool, kind)] = CHECKS[tool](inp)
