"""Kaldi table I/O: round trips in binary and text, through scp offsets, pipes, and bad input."""
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from data_utils import ark_fast
from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_matrix, write_matrix


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    keys = ['utt%03d' % i for i in range(7)][::-1]       # deliberately not sorted
    return keys, rng.standard_normal((7, 13)).astype(np.float32) * 10


def test_binary_round_trip_through_scp_offsets(tmp_path, table):
    keys, vectors = table
    ark, scp = tmp_path / 'x.ark', tmp_path / 'x.scp'
    kt.write_vectors('ark,scp:%s,%s' % (ark, scp), keys, vectors)
    got_keys, got = kt.read_vector_table('scp:%s' % scp, dtype=np.float32)
    assert got_keys == keys
    assert np.array_equal(got, vectors)
    # Each scp offset points just past "key ", at the record's binary marker, as in Kaldi.
    data = ark.read_bytes()
    for line in scp.read_text().splitlines():
        key, location = line.split()
        offset = int(location.rsplit(':', 1)[1])
        assert data[offset - len(key) - 1:offset] == (key + ' ').encode()
        assert data[offset:offset + 5] == b'\0BFV '
    # The ark read sequentially gives the same.
    assert kt.read_vector_table('ark:%s' % ark, dtype=np.float32)[0] == keys


def test_text_round_trip_keeps_seven_significant_digits(tmp_path, table):
    keys, vectors = table
    path = tmp_path / 'x.txt'
    kt.write_vectors('ark,t:%s' % path, keys, vectors)
    first = path.read_text().splitlines()[0]
    assert first.startswith(keys[0] + '  [ ') and first.endswith(' ]')
    got_keys, got = kt.read_vector_table('ark:%s' % path)
    assert got_keys == keys
    np.testing.assert_allclose(got, vectors, rtol=6e-7, atol=0)


def test_text_scp_offsets_and_double_vectors(tmp_path, table):
    keys, vectors = table
    kt.write_vectors('ark,scp,t:%s,%s' % (tmp_path / 't.ark', tmp_path / 't.scp'), keys, vectors)
    assert kt.read_vector_table('scp:%s' % (tmp_path / 't.scp'))[0] == keys
    kt.write_vectors('ark:%s' % (tmp_path / 'd.ark'), keys, vectors.astype(np.float64) / 3, double=True)
    assert b'\0BDV ' in (tmp_path / 'd.ark').read_bytes()
    got = kt.read_vector_table('ark:%s' % (tmp_path / 'd.ark'))[1]
    assert np.array_equal(got, vectors.astype(np.float64) / 3)


def test_pipes_and_stdin(tmp_path, table):
    keys, vectors = table
    ark = tmp_path / 'x.ark'
    kt.write_vectors('ark:%s' % ark, keys, vectors)
    assert np.array_equal(kt.read_vector_table('ark:cat %s |' % ark, np.float32)[1], vectors)
    code = ('import sys; from data_utils import kaldi_table as kt; '
            'k, m = kt.read_vector_table("ark:-"); print(len(k), m.shape[1])')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', code], stdin=open(ark, 'rb'), cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ['7', '13']
    with pytest.raises(UserError, match="exit status 3"):
        list(kt.read_vectors('ark:cat %s; exit 3 |' % ark))


def test_matrices_round_trip(tmp_path):
    mat = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    for binary in (True, False):
        path = str(tmp_path / ('m.%d' % binary))
        write_matrix(path, mat, binary=binary)
        np.testing.assert_allclose(read_matrix(path), mat, rtol=1e-6)
    write_matrix(str(tmp_path / 'dm'), mat, binary=True, double=True)
    assert np.array_equal(read_matrix(str(tmp_path / 'dm')), mat)
    assert (tmp_path / 'dm').read_bytes()[:5] == b'\0BDM '


def test_truncated_binary_record_names_key_and_file(tmp_path, table):
    keys, vectors = table
    ark = tmp_path / 'x.ark'
    kt.write_vectors('ark:%s' % ark, keys, vectors)
    ark.write_bytes(ark.read_bytes()[:-10])
    with pytest.raises(UserError) as err:
        kt.read_vector_table('ark:%s' % ark)
    message = str(err.value)
    assert str(ark) in message and keys[-1] in message and 'truncated' in message
    assert '\n' not in message


def test_text_vector_without_closing_bracket(tmp_path):
    path = tmp_path / 'bad.txt'
    path.write_text('a  [ 1 2 3 ]\nb  [ 1 2 3\nc  [ 4 5 6 ]\n')
    with pytest.raises(UserError, match=r"bad.txt: key b: .*closing"):
        kt.read_vector_table('ark:%s' % path)
    path.write_text('a  [ 1 2 3 ]\nb  [ 1 2')
    with pytest.raises(UserError, match=r"key b: text vector has no closing"):
        kt.read_vector_table('ark:%s' % path)


def test_mixed_dims_nan_and_duplicates_are_errors(tmp_path):
    path = tmp_path / 'x.txt'
    path.write_text('a  [ 1 2 3 ]\nb  [ 1 2 ]\n')
    with pytest.raises(UserError, match=r"x.txt: key b has dimension 2, earlier vectors have 3"):
        kt.read_vector_table('ark:%s' % path)
    path.write_text('a  [ 1 nan 3 ]\n')
    with pytest.raises(UserError, match=r"x.txt: key a: contains NaN or Inf"):
        kt.read_vector_table('ark:%s' % path)
    path.write_text('a  [ 1 2 ]\na  [ 1 2 ]\n')
    with pytest.raises(UserError, match=r"key a appears twice"):
        kt.read_vector_table('ark:%s' % path)


def test_failed_write_leaves_nothing(tmp_path, table):
    keys, vectors = table
    bad_keys = keys[:3] + ['has space'] + keys[4:]
    with pytest.raises(UserError, match='invalid key'):
        kt.write_vectors('ark,scp:%s,%s' % (tmp_path / 'x.ark', tmp_path / 'x.scp'), bad_keys, vectors)
    assert os.listdir(tmp_path) == []
    nan = vectors.copy()
    nan[2, 1] = np.nan
    with pytest.raises(UserError, match='NaN'):
        kt.write_vectors('ark:%s' % (tmp_path / 'y.ark'), keys, nan)
    assert os.listdir(tmp_path) == []


def test_int_tables_text_and_binary(tmp_path):
    kt.write_int_table('ark,t:%s' % (tmp_path / 'n.txt'), ['m1', 'm2'], [3, 1])
    assert (tmp_path / 'n.txt').read_text() == 'm1 3 \nm2 1 \n'
    kt.write_int_table('ark:%s' % (tmp_path / 'n.ark'), ['m1', 'm2'], [3, 1])
    assert (tmp_path / 'n.ark').read_bytes() == b'm1 \0B\x04' + struct.pack('<i', 3) + b'm2 \0B\x04' + struct.pack('<i', 1)
    for name in ('n.txt', 'n.ark'):
        assert list(kt.read_int_table('ark:%s' % (tmp_path / name))) == [('m1', 3), ('m2', 1)]


def test_specifier_errors():
    with pytest.raises(UserError, match='not an rspecifier'):
        kt.parse_rspecifier('foo.ark')
    assert kt.parse_wspecifier('ark,scp,t:a.ark,a.scp') == ('a.ark', 'a.scp', False)
    assert kt.parse_wspecifier('scp,ark:a.scp,a.ark')[:2] == ('a.ark', 'a.scp')
    with pytest.raises(UserError, match='scp alone'):
        kt.parse_wspecifier('scp:a.scp')


class _Trickle(__import__('io').RawIOBase):
    """A raw stream that returns at most `chunk` bytes per read, like a slow pipe."""

    def __init__(self, data, chunk):
        self.data, self.pos, self.chunk = data, 0, chunk

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self.data[self.pos:self.pos + min(self.chunk, len(buffer))]
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


@pytest.mark.parametrize('chunk', [1, 2, 3, 5])
def test_records_split_across_pipe_buffer_edges(tmp_path, table, monkeypatch, chunk):
    import contextlib
    import io
    keys, vectors = table
    kt.write_vectors('ark:%s' % (tmp_path / 'x.ark'), keys, vectors)
    data = (tmp_path / 'x.ark').read_bytes()

    @contextlib.contextmanager
    def trickling(_):
        yield io.BufferedReader(_Trickle(data, chunk), buffer_size=8)
    monkeypatch.setattr(ark_fast, 'open_rx', trickling)   # the ark reader's opener
    got_keys, got = kt.read_vector_table('ark:anything', dtype=np.float32)
    assert got_keys == keys and np.array_equal(got, vectors)


def test_pipes_we_read_are_widened_to_a_megabyte():
    """A pipe read as 'ark:-' or 'cmd |' gets a 1 MB buffer (Linux's 64 kB default made
    the reader wake for every 64 kB); a regular file is left alone."""
    import fcntl
    import os
    from data_utils import kaldi_streams
    if not hasattr(fcntl, 'F_GETPIPE_SZ'):
        pytest.skip('pipe sizes are Linux-only')
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, 'rb') as stream:
            assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) < kaldi_streams.PIPE_BYTES
            kaldi_streams.widen_pipe(stream)
            assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) == kaldi_streams.PIPE_BYTES
    finally:
        os.close(write_end)
    with kaldi_streams.open_rx('echo hello |') as stream:
        assert fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ) == kaldi_streams.PIPE_BYTES
        assert stream.read() == b'hello\n'
