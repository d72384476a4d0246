"""Our Kaldi back-end tools against the outputs of real Kaldi (issue 3).

The reference (../shared/kaldi-reference, see its README.md) holds what Kaldi's
binaries wrote for every command in its COMMANDS.txt. We run the same command
lines, pipes included, with `sh -c` in a scratch copy of its layout and our
local/bin first on PATH, and compare every output file:
  vectors and matrices within 1e-4 relative (LDA/PCA/PLDA eigenvector signs are
  arbitrary: rows are sign-aligned, and the signs of an LDA/PCA carry over to the
  columns of a PLDA trained after it), scores within 1e-3 absolute, EER and minDCF
  as printed, PLDA binaries byte-identical outside the numbers, and Kaldi-written
  PLDA models (binary and text) scored by our scorer.
The tools' maths and bad input, which need no reference files, are in test_kaldi_tools.py.
"""
import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.kaldi_codec import read_matrix, read_vector
from helpers import SHARED, env, read_scores

REFERENCE = os.path.join(SHARED, 'kaldi-reference')
if not os.path.isfile(os.path.join(REFERENCE, 'COMMANDS.txt')):
    pytest.skip('Kaldi reference outputs not found at %s (../shared/kaldi-reference '
                'relative to the repository); the Kaldi comparison tests need them'
                % REFERENCE, allow_module_level=True)

from kaldi_compat.plda import Plda, read_plda  # noqa: E402

REF_OUT = os.path.join(REFERENCE, 'output')
SCORE_FILES = ['scores_plda', 'scores_plda_simple', 'scores_lda_plda', 'scores_lda_plda_simple',
               'scores_pca_plda', 'scores_pca_plda_simple', 'scores_lda_plda_nolnorm',
               'scores_cosine']
PLDA_MODELS = {          # model -> the projection applied before it (its signs carry over)
    'plda': None, 'lda_plda': 'lda_cf0.0.mat', 'pca_plda': 'pca.mat',
    'lda_plda_smooth0.1': 'lda_cf0.0.mat', 'lda_plda_adapted': 'lda_cf0.0.mat',
    'lda_plda_adapted_w0.5_b0.5_m0.8': 'lda_cf0.0.mat'}


def sh(command, cwd, check=True):
    proc = subprocess.run(['sh', '-c', command], cwd=cwd, env=env(), capture_output=True,
                          text=True)
    if check:
        assert proc.returncode == 0, '%s\nfailed (%d):\n%s' % (command, proc.returncode,
                                                              proc.stderr[-3000:])
    return proc


def reference_commands():
    with open(os.path.join(REFERENCE, 'COMMANDS.txt')) as f:
        lines = [l.strip() for l in f if l.strip()]
    # The last lines describe how eer.txt and mindcf.txt were made; they are not commands.
    return [l for l in lines if not re.match(r'^(compute-eer input|minDCF):', l)]


@pytest.fixture(scope='module')
def ours(tmp_path_factory):
    """A copy of the reference layout in which every command ran with our tools."""
    work = str(tmp_path_factory.mktemp('kaldi-reference'))
    shutil.copytree(os.path.join(REFERENCE, 'input'), os.path.join(work, 'input'))
    os.makedirs(os.path.join(work, 'output'))
    results = []
    for command in reference_commands():
        proc = sh(command, work, check=False)
        results.append((command, proc.returncode, proc.stderr))
    return work, results


def out(work, name):
    return os.path.join(work, 'output', name)


# ----------------------------------------------------------------------------
# Helpers for comparing

def read_vectors(path):
    keys, mat = kt.read_vector_table('ark:' + path)
    return keys, mat


def row_signs(mine, theirs):
    return np.sign(np.einsum('ij,ij->i', mine, theirs))


def max_rel(mine, theirs):
    return np.abs(mine - theirs).max() / np.abs(theirs).max()


def projection_signs(work, name):
    """Signs that turn our LDA/PCA rows into Kaldi's (None: no projection)."""
    if name is None:
        return None
    return row_signs(read_matrix(out(work, name)), read_matrix(os.path.join(REF_OUT, name)))


def assert_plda_close(mine, theirs, col_signs=None, rtol=1e-4):
    """Same model up to eigenvector signs: PLDA rows, and columns from an LDA/PCA."""
    d = np.ones(theirs.dim) if col_signs is None else col_signs
    np.testing.assert_allclose(mine.psi, theirs.psi, rtol=rtol, atol=rtol * theirs.psi.max())
    assert max_rel(mine.mean * d, theirs.mean) < rtol
    transform = mine.transform * d[None, :]
    transform *= row_signs(transform, theirs.transform)[:, None]
    assert max_rel(transform, theirs.transform) < rtol


# ----------------------------------------------------------------------------
# The reference commands

def test_every_reference_command_runs(ours):
    work, results = ours
    failed = ['%s\n  -> exit %d: %s' % (c, rc, err.strip().splitlines()[-1] if err.strip() else '')
              for c, rc, err in results if rc != 0]
    assert not failed, '\n'.join(failed)
    assert sorted(os.listdir(os.path.join(work, 'output'))) == sorted(
        f for f in os.listdir(REF_OUT) if f not in ('eer.txt', 'mindcf.txt'))


@pytest.mark.parametrize('name', ['enroll_model.txt', 'train_centered.txt', 'test_centered.txt',
                                  'train_lnorm.txt', 'train_lnorm_unit.txt'])
def test_vector_tables_match(ours, name):
    work, _ = ours
    keys, mine = read_vectors(out(work, name))
    ref_keys, theirs = read_vectors(os.path.join(REF_OUT, name))
    assert keys == ref_keys
    assert max_rel(mine, theirs) < 1e-4


def test_mean_and_num_utts_match(ours):
    work, _ = ours
    mine, theirs = read_vector(out(work, 'mean.vec')), read_vector(
        os.path.join(REF_OUT, 'mean.vec'))
    assert max_rel(mine, theirs) < 1e-4
    assert (list(kt.read_int_table('ark:' + out(work, 'num_utts.ark')))
            == list(kt.read_int_table('ark:' + os.path.join(REF_OUT, 'num_utts.ark'))))


@pytest.mark.parametrize('name', ['lda_cf0.0.mat', 'lda_cf0.1.mat', 'pca.mat'])
def test_lda_and_pca_matrices_match_up_to_row_signs(ours, name):
    work, _ = ours
    mine = read_matrix(out(work, name))
    theirs = read_matrix(os.path.join(REF_OUT, name))
    # LDA is affine (offset column), PCA with --normalize-mean=false is not.
    assert mine.shape == theirs.shape == ((24, 65) if name.startswith('lda') else (24, 64))
    aligned = mine * row_signs(mine, theirs)[:, None]
    assert max_rel(aligned, theirs) < 1e-4
    # Row by row too, so that a small row cannot hide behind a large one.
    for a, b in zip(aligned, theirs):
        assert np.abs(a - b).max() < 1e-4 * np.abs(b).max()


def test_lda_projected_vectors_match(ours):
    work, _ = ours
    signs = projection_signs(work, 'lda_cf0.0.mat')
    keys, mine = read_vectors(out(work, 'train_lda.txt'))
    ref_keys, theirs = read_vectors(os.path.join(REF_OUT, 'train_lda.txt'))
    assert keys == ref_keys
    assert max_rel(mine * signs, theirs) < 1e-4


@pytest.mark.parametrize('model', sorted(PLDA_MODELS))
def test_plda_text_models_match(ours, model):
    work, _ = ours
    mine = read_plda(out(work, model + '.plda.txt'))
    theirs = read_plda(os.path.join(REF_OUT, model + '.plda.txt'))
    assert_plda_close(mine, theirs, projection_signs(work, PLDA_MODELS[model]))
    # The text layout is Kaldi's: same tokens, brackets and line structure.
    shape = lambda text: re.sub(r'[-+0-9.e]+', 'N', text)  # noqa: E731
    with open(out(work, model + '.plda.txt')) as a, \
            open(os.path.join(REF_OUT, model + '.plda.txt')) as b:
        assert shape(a.read()) == shape(b.read())


def binary_layout(data, dim):
    """(non-number bytes, numbers) of a binary PLDA of dimension dim."""
    pieces, numbers, pos = [], [], 0
    for head, count in ((2 + 7 + 3 + 5, dim), (3 + 10, dim * dim), (3 + 5, dim)):
        pieces.append(data[pos:pos + head])
        pos += head
        numbers.append(np.frombuffer(data[pos:pos + 8 * count], dtype='<f8'))
        pos += 8 * count
    pieces.append(data[pos:])
    return pieces, numbers


@pytest.mark.parametrize('model', ['plda', 'lda_plda', 'pca_plda'])
def test_plda_binary_layout_is_kaldis(ours, model):
    work, _ = ours
    with open(out(work, model + '.plda.bin'), 'rb') as f:
        mine = f.read()
    with open(os.path.join(REF_OUT, model + '.plda.bin'), 'rb') as f:
        theirs = f.read()
    dim = read_plda(os.path.join(REF_OUT, model + '.plda.bin')).dim
    assert len(mine) == len(theirs)
    my_pieces, my_numbers = binary_layout(mine, dim)
    their_pieces, their_numbers = binary_layout(theirs, dim)
    assert my_pieces == their_pieces        # "\0B<Plda> DV \4<dim>", "DM \4..\4..", "</Plda> "
    assert my_pieces[0].startswith(b'\0B<Plda> DV \x04') and my_pieces[-1] == b'</Plda> '
    assert struct.unpack('<i', my_pieces[0][-4:])[0] == dim
    mean, transform, psi = my_numbers
    assert_plda_close(Plda(mean, transform.reshape(dim, dim), psi),
                      Plda(their_numbers[0], their_numbers[1].reshape(dim, dim), their_numbers[2]),
                      projection_signs(work, PLDA_MODELS[model]))


def test_plda_binary_and_text_hold_the_same_model(ours):
    work, _ = ours
    for model in ('plda', 'lda_plda', 'pca_plda'):
        binary = read_plda(out(work, model + '.plda.bin'))
        text = read_plda(out(work, model + '.plda.txt'))
        # The text has 7 significant digits.
        assert_plda_close(binary, text, rtol=2e-6)


@pytest.mark.parametrize('name', SCORE_FILES)
def test_scores_match(ours, name):
    work, _ = ours
    keys, mine = read_scores(out(work, name))
    ref_keys, theirs = read_scores(os.path.join(REF_OUT, name))
    assert keys == ref_keys
    assert np.abs(mine - theirs).max() < 1e-3


@pytest.mark.parametrize('plda_file,projection,scores', [
    ('plda.plda.bin', '', 'scores_plda'),
    ('plda.plda.txt', '', 'scores_plda'),
    ('lda_plda.plda.bin', ' | transform-vec %s/lda_cf0.0.mat ark:- ark:-', 'scores_lda_plda'),
    ('pca_plda.plda.txt', ' | transform-vec %s/pca.mat ark:- ark:-', 'scores_pca_plda'),
])
def test_kaldi_written_plda_scored_by_our_scorer(ours, plda_file, projection, scores):
    """Kaldi's own models and projections: only our reader and scorer are under test."""
    work, _ = ours
    ref = REF_OUT
    proj = projection % ref if projection else ''
    vectors = ('"ark:ivector-subtract-global-mean %s/mean.vec ark:%s ark:-%s | '
               'ivector-normalize-length ark:- ark:- |"')
    command = ('ivector-plda-scoring --normalize-length=true --num-utts=ark:%s/num_utts.ark '
               '%s/%s %s %s input/trials.keys output/kaldi_model_%s'
               % (ref, ref, plda_file, vectors % (ref, ref + '/enroll_model.txt', proj),
                  vectors % (ref, 'input/dev_test/xvector.txt', proj), plda_file))
    sh(command, work)
    keys, mine = read_scores(out(work, 'kaldi_model_' + plda_file))
    ref_keys, theirs = read_scores(os.path.join(ref, scores))
    assert keys == ref_keys
    assert np.abs(mine - theirs).max() < 1e-3


def reference_eer_lines():
    with open(os.path.join(REF_OUT, 'eer.txt')) as f:
        return dict(line.strip().split(': ', 1) for line in f if line.strip())


def reference_min_dcf():
    table = {}
    with open(os.path.join(REF_OUT, 'mindcf.txt')) as f:
        for line in f:
            name, p, value = line.split()
            table[(name, p.split('=')[1])] = value.split('=')[1]
    return table


def run_compute_eer(work, scores_path):
    """As Kaldi's recipes and the reference did: paste trials scores | awk | compute-eer -."""
    proc = sh("paste input/trials %s | awk '{print $6, $3}' | compute-eer -" % scores_path, work)
    log_line = [l for l in proc.stderr.splitlines() if 'Equal error rate is' in l]
    assert len(log_line) == 1, proc.stderr
    return proc.stdout, log_line[0].split(') ', 1)[1]


@pytest.mark.parametrize('name', SCORE_FILES)
def test_compute_eer_on_kaldi_scores_prints_kaldis_line(ours, name):
    work, _ = ours
    stdout, line = run_compute_eer(work, os.path.join(REF_OUT, name))
    expected = reference_eer_lines()[name]
    assert line == expected
    eer = float(re.search(r'is ([0-9.]+)%', expected).group(1))
    assert stdout == '%.4g' % eer          # Kaldi prints it with precision 4, no newline


@pytest.mark.parametrize('name', SCORE_FILES)
def test_compute_eer_on_our_scores(ours, name):
    work, _ = ours
    _, line = run_compute_eer(work, out(work, name))
    expected = reference_eer_lines()[name]
    pattern = r'Equal error rate is ([0-9.]+)%, at threshold (\S+)'
    mine, theirs = re.match(pattern, line), re.match(pattern, expected)
    assert mine.group(1) == theirs.group(1)
    assert abs(float(mine.group(2)) - float(theirs.group(2))) < 1e-3


@pytest.mark.parametrize('name', SCORE_FILES)
def test_min_dcf_as_printed(ours, name):
    work, _ = ours
    expected = reference_min_dcf()
    for p in ('0.01', '0.001', '0.05'):
        for scores in (os.path.join(REF_OUT, name), out(work, name)):
            proc = sh('compute_min_dcf.py --p-target %s --c-miss 1 --c-fa 1 %s input/trials'
                      % (p, scores), work)
            assert proc.stdout == expected[(name, p)] + '\n', (scores, p)
