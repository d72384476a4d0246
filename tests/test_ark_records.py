"""The chunk writer of binary vector records (ark_records) against the record-by-record writer:
the same bytes in the ark and the scp, whatever the chunks, keys and precision."""
import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.errors import UserError


def _write(tmp_path, tag, chunks, fast, binary=True, double=False):
    ark, scp = tmp_path / (tag + '.ark'), tmp_path / (tag + '.scp')
    spec = 'ark,scp:%s,%s' % (ark, scp) if binary else 'ark,t:%s' % ark
    with kt.VectorWriter(spec, double=double) as writer:
        if not fast:   # the general path, as for keys that must be checked one by one
            writer._write_chunk = lambda keys, encoded, matrix: writer._write_records(keys, matrix)
        for keys, matrix in chunks:
            writer.write(keys, matrix)
    text = scp.read_bytes().replace(tag.encode() + b'.ark', b'X') if binary else b''
    return ark.read_bytes(), text


def _chunks(keys, matrix, sizes):
    start, out = 0, []
    for size in sizes:
        out.append((keys[start:start + size], matrix[start:start + size]))
        start += size
    return out


@pytest.mark.parametrize('double', [False, True])
@pytest.mark.parametrize('sizes', [[1], [0], [3, 0, 7, 1], [11]])
@pytest.mark.parametrize('keys', ['same', 'mixed'])
def test_chunk_writer_bytes_equal_record_writer(tmp_path, double, sizes, keys):
    rng = np.random.default_rng(len(sizes))
    total = sum(sizes)
    names = (['utt%03d' % i for i in range(total)] if keys == 'same'
             else ['u' + 'x' * (i % 4) + str(i) + '\xe9' for i in range(total)])
    matrix = rng.standard_normal((total, 5)) * 1e3
    chunks = _chunks(names, matrix, sizes)
    fast = _write(tmp_path, 'fast', chunks, True, double=double)
    slow = _write(tmp_path, 'slow', chunks, False, double=double)
    assert fast == slow
    assert len(fast[0]) == sum(len(k.encode('latin1')) + 11 + 5 * (8 if double else 4)
                               for k in names)
    assert [k for k, _ in kt.read_vectors('ark:%s' % (tmp_path / 'fast.ark'))] == names


def test_chunk_writer_zero_dimension(tmp_path):
    chunks = [(['a', 'bb', 'c'], np.zeros((3, 0)))]
    assert _write(tmp_path, 'fast', chunks, True) == _write(tmp_path, 'slow', chunks, False)


def test_text_mode_is_unchanged(tmp_path):
    chunks = [(['a', 'bb'], np.array([[1.5, -2.0], [0.25, 3.0]]))]
    ark, _ = _write(tmp_path, 't', chunks, True, binary=False)
    assert ark == b'a  [ 1.5 -2 ]\nbb  [ 0.25 3 ]\n'


@pytest.mark.parametrize('bad', ['', 'has space', 'tab\tkey', 'new\nline'])
def test_bad_key_still_reported_by_name(tmp_path, bad):
    with pytest.raises(UserError, match='invalid key'):
        kt.write_vectors('ark:%s' % (tmp_path / 'x.ark'), ['ok', bad], np.ones((2, 3)))
    assert not (tmp_path / 'x.ark').exists()


def test_key_outside_latin1_fails_as_before(tmp_path):
    with pytest.raises(UnicodeEncodeError):
        kt.write_vectors('ark:%s' % (tmp_path / 'x.ark'), ['ok', 'k\u20ac'], np.ones((2, 3)))


def test_big_chunks_are_written_in_pieces_and_bytes_unchanged(tmp_path):
    """A chunk larger than WRITE_PIECE goes out as several writes of at most that size
    (Linux copies big writes slowly), and the ark is still byte for byte the same."""
    from data_utils import kaldi_streams
    sizes = []
    pieces = []

    def record(piece):
        sizes.append(memoryview(piece).nbytes)
        pieces.append(bytes(piece))

    data = np.random.default_rng(5).integers(0, 256, 3 * kaldi_streams.WRITE_PIECE + 17,
                                             dtype=np.uint8)
    kaldi_streams.write_in_pieces(record, data)
    assert b''.join(pieces) == data.tobytes()
    assert max(sizes) == kaldi_streams.WRITE_PIECE and len(sizes) == 4
    rng = np.random.default_rng(6)
    keys = ['utt%06d' % i for i in range(3000)]
    matrix = rng.standard_normal((3000, 300)).astype(np.float32)   # 3.6 MB in one chunk
    assert _write(tmp_path, 'a', [(keys, matrix)], fast=True) == \
        _write(tmp_path, 'b', [(keys, matrix)], fast=False)
