"""Lines of our own tools in an rspecifier run in children forked from the reading tool
(kaldi_compat/pipes.py): the same bytes as through the shell, no Python started per
command, any failed command fails the read, and anything else still goes to the shell."""
import os
import subprocess

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.kaldi_codec import read_matrix, read_vector, write_matrix
from helpers import ROOT, env
from kaldi_compat import pipes


@pytest.fixture
def vectors(tmp_path):
    rng = np.random.default_rng(5)
    keys = ['utt%03d' % i for i in range(60)]
    kt.write_vectors('ark,scp:%s/v.ark,%s/v.scp' % (tmp_path, tmp_path), keys,
                     rng.normal(size=(60, 12)) * 3 + 1)
    return tmp_path


def counting_env(tmp_path, **extra):
    """env() with a python3 first on PATH that counts its starts in tmp_path/starts."""
    shim = tmp_path / 'shim'
    shim.mkdir(exist_ok=True)
    real = subprocess.run(['sh', '-c', 'command -v python3'], env=env(), capture_output=True,
                          text=True).stdout.strip()
    (shim / 'python3').write_text('#!/bin/sh\necho x >> %s/starts\nexec %s "$@"\n'
                                  % (tmp_path, real))
    (shim / 'python3').chmod(0o755)
    e = env()
    e['PATH'] = str(shim) + os.pathsep + e['PATH']
    e.update(extra)
    return e


def starts(tmp_path):
    path = tmp_path / 'starts'
    count = len(path.read_text().split()) if path.exists() else 0
    if path.exists():
        path.unlink()
    return count


def mean_of_line(tmp_path, line, **extra):
    """ivector-mean of the rspecifier `line` to tmp_path/mean.vec (text)."""
    out = tmp_path / 'mean.vec'
    proc = subprocess.run(['ivector-mean', line, out.as_posix()],
                          cwd=tmp_path, env=counting_env(tmp_path, **extra),
                          capture_output=True, text=True)
    return proc, (out.read_bytes() if out.exists() else None)


LINE = ('ark:ivector-subtract-global-mean scp:v.scp ark:- | transform-vec lda.mat ark:- ark:- | '
        'ivector-normalize-length --scaleup=false ark:- ark:- |')


@pytest.fixture
def lda(vectors):
    write_matrix(str(vectors / 'lda.mat'), np.random.default_rng(6).normal(size=(4, 12)))
    return vectors


def test_a_line_of_our_tools_is_forked_and_gives_the_shells_bytes(lda):
    tmp = lda
    forked, forked_mean = mean_of_line(tmp, LINE)
    assert forked.returncode == 0, forked.stderr
    assert starts(tmp) == 1          # ivector-mean alone; its three commands were forked
    shell, shell_mean = mean_of_line(tmp, LINE, VV_PIPES='shell')
    assert shell.returncode == 0, shell.stderr
    assert starts(tmp) == 4
    assert forked_mean == shell_mean
    # The commands' own lines reach the log as through the shell: each echoed, each LOG.
    for out in (forked, shell):
        assert 'ivector-normalize-length --scaleup=false ark:- ark:-' in out.stderr
        assert 'LOG (ivector-normalize-length) Processed 60 vectors' in out.stderr
    # The mean of the centred vectors, projected and scaled to unit length: the line ran, in
    # that order (float32 tables: a relative tolerance of float's rounding, with margin).
    table = kt.read_vector_table('scp:%s/v.scp' % tmp)[1]
    projected = (table - table.mean(axis=0)) @ read_matrix(str(tmp / 'lda.mat')).T
    unit = projected / np.linalg.norm(projected, axis=1, keepdims=True)
    np.testing.assert_allclose(read_vector(str(tmp / 'mean.vec')), unit.mean(axis=0),
                               rtol=1e-4, atol=1e-6)


def test_a_failed_first_command_fails_the_read(lda):
    """The shell would report only the last command's status; the forked line reports any."""
    line = LINE.replace('scp:v.scp', 'scp:missing.scp')
    proc, mean = mean_of_line(lda, line)
    assert proc.returncode == 1 and mean is None, proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith('ERROR')]
    assert errors[0].startswith('ERROR (ivector-subtract-global-mean): missing.scp'), proc.stderr
    assert errors[-1].startswith('ERROR (ivector-mean): command'), proc.stderr
    assert 'failed with exit status 1' in errors[-1]


@pytest.mark.parametrize('line', [
    'ark:cat v.ark | ivector-normalize-length ark:- ark:- |',            # not our tool
    "ark:ivector-normalize-length 'scp:v.scp' ark:- |",                  # quotes
    'ark:ivector-normalize-length scp:v.scp ark:- 2>/dev/null |',         # a redirection
])
def test_other_lines_go_to_the_shell(vectors, line):
    assert pipes.parse(line[4:-1]) is None
    proc, mean = mean_of_line(vectors, line)
    assert proc.returncode == 0 and mean is not None, proc.stderr


def test_kaldis_binary_of_the_same_name_is_not_ours(tmp_path, monkeypatch):
    """With a compiled Kaldi first on PATH its binaries run, through the shell."""
    kaldi = tmp_path / 'kaldi'
    kaldi.mkdir()
    (kaldi / 'transform-vec').write_text('#!/bin/sh\nexit 0\n')
    (kaldi / 'transform-vec').chmod(0o755)
    monkeypatch.setenv('PATH', env()['PATH'])
    assert pipes.our_tool('transform-vec') == 'kaldi_compat.transform_vec'
    assert pipes.parse('transform-vec m ark:- ark:- | ivector-normalize-length ark:- ark:-') == [
        ('kaldi_compat.transform_vec', ['m', 'ark:-', 'ark:-']),
        ('kaldi_compat.ivector_normalize_length', ['ark:-', 'ark:-'])]
    monkeypatch.setenv('PATH', str(kaldi) + os.pathsep + env()['PATH'])
    assert pipes.our_tool('transform-vec') is None
    assert pipes.parse('transform-vec m ark:- ark:-') is None


def test_every_wrapper_in_local_bin_names_its_module():
    """pipes.our_tool reads the module from the wrapper: each one must say it plainly."""
    bin_dir = os.path.join(ROOT, 'local', 'bin')
    for name in sorted(os.listdir(bin_dir)):
        text = open(os.path.join(bin_dir, name)).read()
        match = pipes.WRAPPED_MODULE.search(text)
        assert match, name
        module = __import__(match.group(1), fromlist=['NAME'])
        assert module.NAME == name


def test_any_failed_command_fails_the_line():
    """The status is the first non-zero one of the line (a signal as the shell gives it,
    128 + its number), not the last command's: an early command that died would otherwise
    hand on a truncated table that the next ones take for the whole."""
    def children(*codes):
        pids = []
        for code in codes:
            pid = os.fork()
            if pid == 0:
                if code == 'TERM':
                    os.kill(os.getpid(), 15)
                os._exit(code)
            pids.append(pid)
        return pipes.ForkedPipeline(pids, None)
    assert children(0, 0, 0).wait() == 0
    assert children(3, 0, 0).wait() == 3
    assert children(0, 5, 7).wait() == 5
    assert children('TERM', 0).wait() == 143
