"""Kaldi-style option parsing of our tools, and the simple tools' own edge cases."""
import os
import subprocess

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import write_matrix
from helpers import ROOT, env, one_error_line
from kaldi_compat.cli import ToolParser


def parser():
    p = ToolParser('tool', 'usage', 1, 2)
    p.add('binary', True).add('dim', -1).add('scale', 1.0).add('name', 'x')
    return p


def test_kaldi_option_syntax():
    opts, args = parser().parse(['--binary=false', '--dim=3', '--scale=0.5', '--name=y', 'a', '--dim=9'])
    assert (opts.binary, opts.dim, opts.scale, opts.name) == (False, 3, 0.5, 'y')
    assert args == ['a', '--dim=9']          # options stop at the first positional argument
    opts, _ = parser().parse(['--binary', 'a'])
    assert opts.binary is True


def test_standard_options_and_config_file(tmp_path):
    conf = tmp_path / 'tool.conf'
    conf.write_text('# a comment\n--dim=7   # trailing comment\n--binary=false\n')
    opts, _ = parser().parse(['--verbose=2', '--print-args=false', '--config=%s' % conf, '--dim=8', 'a'])
    assert opts.dim == 8 and opts.binary is False      # later options override the file


@pytest.mark.parametrize('argv, message', [
    (['--dimm=3', 'a'], 'invalid option --dimm'),
    (['--dim', 'a'], 'needs a value'),
    (['--binary=maybe', 'a'], "invalid value 'maybe'"),
    (['--dim=three', 'a'], "invalid value 'three'"),
    ([], 'expected 1 to 2 arguments, got 0'),
])
def test_bad_command_lines(argv, message):
    with pytest.raises(UserError, match=message):
        parser().parse(argv)


def test_dot_products_warn_and_count_missing_keys(tmp_path):
    kt.write_vectors('ark:%s' % (tmp_path / 'a.ark'), ['m1', 'm2'], np.eye(2))
    kt.write_vectors('ark:%s' % (tmp_path / 'b.ark'), ['t1'], np.array([[3.0, 4.0]]))
    (tmp_path / 'trials').write_text('m1 t1\nm9 t1\nm2 t1\nm1 t9\n')
    out = subprocess.run(['ivector-compute-dot-products', str(tmp_path / 'trials'),
                          'ark:%s' % (tmp_path / 'a.ark'), 'ark:%s' % (tmp_path / 'b.ark'),
                          str(tmp_path / 'scores')], cwd=ROOT, env=env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / 'scores').read_text() == 'm1 t1 3\nm2 t1 4\n'
    assert 'Key m9 not present' in out.stderr and 'Key t9 not present' in out.stderr
    assert 'Processed 4 trials, 2 had errors' in out.stderr
    (tmp_path / 'trials').write_text('m1 t1 target\n')
    out = subprocess.run(['ivector-compute-dot-products', str(tmp_path / 'trials'),
                          'ark:%s' % (tmp_path / 'a.ark'), 'ark:%s' % (tmp_path / 'b.ark'),
                          str(tmp_path / 's2')], cwd=ROOT, env=env(), capture_output=True, text=True)
    assert out.returncode == 1 and 'expected "enroll test"' in one_error_line(out.stderr)
    assert not (tmp_path / 's2').exists()


def test_transform_vec_linear_affine_and_mismatch(tmp_path):
    vectors = np.array([[1.0, 2.0], [3.0, -1.0]])
    kt.write_vectors('ark:%s' % (tmp_path / 'v.ark'), ['a', 'b'], vectors)
    linear = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    affine = np.hstack([linear, [[1.0], [0.0], [5.0]]])
    for name, mat, expected in (('lin', linear, vectors @ linear.T),
                                ('aff', affine, vectors @ linear.T + [1.0, 0.0, 5.0])):
        write_matrix(str(tmp_path / name), mat)
        out = subprocess.run(['transform-vec', str(tmp_path / name), 'ark:%s' % (tmp_path / 'v.ark'),
                              'ark:%s' % (tmp_path / ('o' + name))], cwd=ROOT, env=env(),
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        np.testing.assert_allclose(kt.read_vector_table('ark:%s' % (tmp_path / ('o' + name)))[1],
                                   expected, rtol=1e-6)
    write_matrix(str(tmp_path / 'bad'), np.ones((2, 5)))
    out = subprocess.run(['transform-vec', str(tmp_path / 'bad'), 'ark:%s' % (tmp_path / 'v.ark'),
                          'ark:%s' % (tmp_path / 'obad')], cwd=ROOT, env=env(), capture_output=True, text=True)
    assert out.returncode == 1 and 'matrix has 5 columns, vectors have dimension 2' in one_error_line(out.stderr)
    assert not (tmp_path / 'obad').exists()


def test_text_matrix_layout_is_kaldis(tmp_path):
    write_matrix(str(tmp_path / 'm'), np.array([[1.5, -2.0], [0.25, 3.0]]), binary=False)
    assert (tmp_path / 'm').read_text() == ' [\n  1.5 -2 \n  0.25 3 ]\n'


def test_plda_adaptation_against_its_formula(tmp_path):
    """A hand-made case of Kaldi's unsupervised adaptation, through ivector-adapt-plda.

    Model: within-class covariance W = I and between-class B = R diag(3, 0) R^T (R a
    rotation), mean 0, so its total covariance is R diag(4, 1) R^T. Adaptation data: mean
    R [1, 0] and covariance R diag(8, 1) R^T, so with --mean-diff-scale=1 the data's
    variance is R diag(9, 1) R^T: an excess of 5 along R's first axis and none along the
    second. The excess goes to W times --within-covar-scale and to B times
    --between-covar-scale: W' = R diag(1 + 5 * 0.3, 1) R^T, B' = R diag(3 + 5 * 0.7, 0) R^T,
    and the mean moves to the data's mean.
    """
    from kaldi_compat.plda import Plda, read_plda, write_plda
    angle = 0.6
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    write_plda(str(tmp_path / 'plda'), Plda(np.zeros(2), R.T, np.array([3.0, 0.0])))
    # Points with exactly that mean and covariance: +-sqrt(8) and +-1 along the axes.
    local = np.array([[np.sqrt(8), 0], [-np.sqrt(8), 0], [0, 1], [0, -1]]) * np.sqrt(2)
    points = (local + [1.0, 0.0]) @ R.T
    kt.write_vectors('ark:%s' % (tmp_path / 'adapt.ark'), ['a%d' % i for i in range(4)], points)
    out = subprocess.run(['ivector-adapt-plda', '--within-covar-scale=0.3',
                          '--between-covar-scale=0.7', '--mean-diff-scale=1.0', str(tmp_path / 'plda'),
                          'ark:%s' % (tmp_path / 'adapt.ark'), str(tmp_path / 'adapted')],
                         cwd=ROOT, env=env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    adapted = read_plda(str(tmp_path / 'adapted'))
    inverse = np.linalg.inv(adapted.transform)
    within = inverse @ inverse.T
    between = inverse @ np.diag(adapted.psi) @ inverse.T
    np.testing.assert_allclose(adapted.mean, R @ [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(within, R @ np.diag([2.5, 1.0]) @ R.T, atol=1e-9)
    np.testing.assert_allclose(between, R @ np.diag([6.5, 0.0]) @ R.T, atol=1e-9)


@pytest.mark.parametrize('damage, message', [
    ('truncate', r"x.ark: key b: truncated binary vector"),
    ('mixed', r"x.ark: key c has dimension 2, earlier vectors have 3"),
    ('nobracket', r"x.ark: key b: text vector has no closing"),
])
def test_tools_report_bad_tables_in_one_line(tmp_path, damage, message):
    import re
    ark = tmp_path / 'x.ark'
    if damage == 'truncate':
        kt.write_vectors('ark:%s' % ark, ['a', 'b'], np.ones((2, 3)))
        ark.write_bytes(ark.read_bytes()[:-3])
    elif damage == 'mixed':
        ark.write_text('a  [ 1 2 3 ]\nb  [ 1 2 3 ]\nc  [ 1 2 ]\n')
    else:
        ark.write_text('a  [ 1 2 3 ]\nb  [ 1 2 3\nc  [ 1 2 3 ]\n')
    out = subprocess.run(['ivector-mean', 'ark:%s' % ark, str(tmp_path / 'mean.vec')], cwd=ROOT,
                         env=env(), capture_output=True, text=True)
    assert out.returncode == 1
    line = one_error_line(out.stderr)
    assert line.startswith('ERROR (ivector-mean): ') and re.search(message, line), line
    assert not (tmp_path / 'mean.vec').exists()


def test_every_tool_starts_one_blas_thread_unless_the_caller_chose(tmp_path):
    """The wrappers in local/bin set OPENBLAS_NUM_THREADS=1 (as Kaldi's own OpenBLAS
    build) and keep a value the caller gave; a stand-in python3 reports what it got."""
    fake = tmp_path / 'python3'
    fake.write_text('#!/bin/sh\necho "$OPENBLAS_NUM_THREADS"\n')
    fake.chmod(0o755)
    tools = sorted(os.listdir(os.path.join(ROOT, 'local', 'bin')))
    for given, expected in ((None, '1'), ('3', '3')):
        run_env = dict(env(), PATH='%s:%s' % (tmp_path, env()['PATH']))
        run_env.pop('OPENBLAS_NUM_THREADS', None)
        if given:
            run_env['OPENBLAS_NUM_THREADS'] = given
        for tool in tools:
            out = subprocess.run([os.path.join(ROOT, 'local', 'bin', tool)], env=run_env,
                                 capture_output=True, text=True)
            assert out.stdout.strip() == expected, tool
