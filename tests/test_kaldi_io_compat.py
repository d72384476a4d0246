"""What we write reads back identically through kaldi_io's own readers, and we read
what kaldi_io writes.

kaldi_io (a listed dependency) is no longer imported by our tools, so this is where it
serves: a second, independent reader of Kaldi's formats. Without it these tests fail;
they do not skip.
"""
import importlib
import os

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.kaldi_codec import read_matrix, read_vector, write_matrix, write_vector


@pytest.fixture(scope='module')
def kaldi_io(tmp_path_factory):
    """kaldi_io, imported without its side effects: at import it sets KALDI_ROOT to a
    path of its author's when unset, prints a banner when that path is missing and
    prepends Kaldi dirs to PATH. We point KALDI_ROOT at a dir that exists and put the
    environment back after."""
    saved = {key: os.environ.get(key) for key in ('KALDI_ROOT', 'PATH')}
    os.environ['KALDI_ROOT'] = str(tmp_path_factory.mktemp('kaldi-root'))
    try:
        module = importlib.import_module('kaldi_io')
    except ImportError as err:
        pytest.fail('kaldi_io (in requirements.txt) cannot be imported: %s' % err)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    keys = ['spk%d-utt%02d' % (i % 3, i) for i in range(11)][::-1]   # not sorted
    return keys, (rng.standard_normal((11, 17)) * 100).astype(np.float32)


def write_in_two_chunks(wspecifier, keys, matrix, **kwargs):
    """Through VectorWriter in two pieces, as the tools stream their output."""
    with kt.VectorWriter(wspecifier, **kwargs) as writer:
        writer.write(keys[:4], matrix[:4])
        writer.write(keys[4:], matrix[4:])


@pytest.mark.parametrize('double', [False, True])
def test_binary_ark_and_scp_read_back_bit_for_bit(kaldi_io, tmp_path, table, double):
    keys, vectors = table
    vectors = vectors.astype(np.float64) / 7 if double else vectors
    ark, scp = str(tmp_path / 'x.ark'), str(tmp_path / 'x.scp')
    write_in_two_chunks('ark,scp:%s,%s' % (ark, scp), keys, vectors, double=double)
    for records in (kaldi_io.read_vec_flt_ark(ark), kaldi_io.read_vec_flt_scp(scp)):
        theirs = list(records)
        assert [key for key, _ in theirs] == keys
        for (_, got), want in zip(theirs, vectors):
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_text_ark_and_scp_read_back_as_we_read_them(kaldi_io, tmp_path, table):
    keys, vectors = table
    ark, scp = str(tmp_path / 't.ark'), str(tmp_path / 't.scp')
    write_in_two_chunks('ark,scp,t:%s,%s' % (ark, scp), keys, vectors)
    ours_keys, ours = kt.read_vector_table('ark:' + ark)
    assert ours_keys == keys
    np.testing.assert_allclose(ours, vectors, rtol=6e-7, atol=0)   # 7 significant digits
    for records in (kaldi_io.read_vec_flt_ark(ark), kaldi_io.read_vec_flt_scp(scp)):
        theirs = list(records)
        assert [key for key, _ in theirs] == keys
        # Both parse the same decimal text into float64: the same numbers exactly.
        assert np.array_equal(np.array([vec for _, vec in theirs]), ours)


def test_empty_vectors(kaldi_io, tmp_path):
    for spec in ('ark:%s', 'ark,t:%s'):
        path = str(tmp_path / 'empty.ark')
        kt.write_vectors(spec % path, ['a', 'b'], np.zeros((2, 0), np.float32))
        theirs = list(kaldi_io.read_vec_flt_ark(path))
        assert [key for key, _ in theirs] == ['a', 'b']
        assert all(vec.size == 0 for _, vec in theirs)


def test_single_vectors_and_matrices(kaldi_io, tmp_path):
    vec = np.linspace(-3, 5, 9) / 3
    mat = np.arange(15, dtype=np.float64).reshape(3, 5) / 7 - 1
    for binary in (True, False):
        for double in (False, True):
            path = str(tmp_path / ('v%d%d' % (binary, double)))
            write_vector(path, vec, binary=binary, double=double)
            assert np.array_equal(kaldi_io.read_vec_flt(path), read_vector(path))
            path = str(tmp_path / ('m%d%d' % (binary, double)))
            write_matrix(path, mat, binary=binary, double=double)
            theirs = kaldi_io.read_mat(path)
            assert theirs.shape == mat.shape
            if binary:
                assert np.array_equal(theirs, read_matrix(path).astype(theirs.dtype))
            else:   # kaldi_io reads text matrices as float32
                assert np.array_equal(theirs, read_matrix(path).astype(np.float32))
    # Binary doubles are the values themselves.
    assert np.array_equal(kaldi_io.read_vec_flt(str(tmp_path / 'v11')), vec)
    assert np.array_equal(kaldi_io.read_mat(str(tmp_path / 'm11')), mat)


def test_we_read_what_kaldi_io_writes(kaldi_io, tmp_path, table):
    keys, vectors = table
    path = str(tmp_path / 'theirs.ark')
    with open(path, 'wb') as stream:
        for key, vec in zip(keys, vectors):
            kaldi_io.write_vec_flt(stream, vec, key=key)
    got_keys, got = kt.read_vector_table('ark:' + path, dtype=np.float32)
    assert got_keys == keys and np.array_equal(got, vectors)
    with open(path, 'wb') as stream:
        for key, vec in zip(keys, vectors.astype(np.float64)):
            kaldi_io.write_vec_flt(stream, vec, key=key)
    assert np.array_equal(kt.read_vector_table('ark:' + path)[1], vectors.astype(np.float64))
    mat_path = str(tmp_path / 'theirs.mat')
    kaldi_io.write_mat(mat_path, vectors[:3].astype(np.float64))
    assert np.array_equal(read_matrix(mat_path), vectors[:3].astype(np.float64))
