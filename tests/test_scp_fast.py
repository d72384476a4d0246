"""scp blocks read with one read of their ark (scp_fast) equal the entry-by-entry reader,
and blocks that do not fit fall back to it, errors included."""
import numpy as np
import pytest

from data_utils import ark_fast
from data_utils import kaldi_table as kt
from data_utils import scp_fast
from data_utils import scp_vectors
from data_utils.errors import UserError


def _matrix(rspecifier, **kw):
    chunks = list(kt.read_vector_chunks(rspecifier, chunk_rows=5, dtype=None, **kw))
    return [k for ks, _ in chunks for k in ks], np.vstack([m.astype(np.float64) for _, m in chunks])


def _reference(scp):
    records = list(scp_vectors.scp_vector_records(str(scp)))
    rows = [np.frombuffer(d, t) if isinstance(d, bytes) else d for _, t, _, d in records]
    return [r[0] for r in records], np.vstack([r.astype(np.float64) for r in rows])


@pytest.fixture
def two_arks(tmp_path):
    rng = np.random.default_rng(2)
    scp_lines = []
    for name, n, double in (('a', 9, False), ('b', 4, True)):
        ark, scp = tmp_path / (name + '.ark'), tmp_path / (name + '.scp')
        keys = ['%s%d' % (name, i) for i in range(n)]
        kt.write_vectors('ark,scp:%s,%s' % (ark, scp), keys, rng.standard_normal((n, 6)),
                         double=double)
        scp_lines += scp.read_text().splitlines()
    return tmp_path, scp_lines


@pytest.mark.parametrize('size', [1, 3, 1024])
@pytest.mark.parametrize('order', ['as written', 'shuffled', 'sparse', 'interleaved'])
def test_blocks_equal_entry_by_entry(two_arks, monkeypatch, size, order):
    tmp_path, lines = two_arks
    if order == 'shuffled':
        lines = [lines[i] for i in np.random.default_rng(0).permutation(len(lines))]
    elif order == 'sparse':
        lines = lines[::4] + lines[:2]
    elif order == 'interleaved':
        lines = [x for pair in zip(lines[:4], lines[9:]) for x in pair] + lines[4:9]
    scp = tmp_path / 'all.scp'
    scp.write_text('\n'.join(lines) + '\n')
    monkeypatch.setattr(scp_vectors.scp_batches, '__defaults__', (size,))
    keys, got = _matrix('scp:%s' % scp)
    ref_keys, ref = _reference(scp)
    assert keys == ref_keys == [line.split()[0] for line in lines]
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize('damage, message', [
    (lambda lines: lines[:3] + ['badline'] + lines[3:], 'line 4'),
    (lambda lines: lines[:2] + [lines[2].rsplit(':', 1)[0] + ':5'] + lines[3:], 'key a2'),
    (lambda lines: lines[:2] + ['a2 %s:1' % lines[0].split()[1].rsplit(':', 1)[0]], 'key a2'),
])
def test_errors_as_entry_by_entry(two_arks, damage, message):
    tmp_path, lines = two_arks
    scp = tmp_path / 'bad.scp'
    scp.write_text('\n'.join(damage(lines)) + '\n')
    with pytest.raises(UserError, match=message):
        _matrix('scp:%s' % scp)


def test_truncated_ark_reported(two_arks):
    tmp_path, lines = two_arks
    ark = tmp_path / 'a.ark'
    ark.write_bytes(ark.read_bytes()[:-5])
    scp = tmp_path / 'a.scp'
    with pytest.raises(UserError, match='a8'):
        _matrix('scp:%s' % scp)


def test_block_reader_takes_one_file_and_declines_the_rest(two_arks):
    tmp_path, lines = two_arks
    entries = [tuple(line.split()) for line in lines]
    reader = scp_fast.BlockReader()
    try:
        keys, dtype, dim, rows = reader.read(entries[:9])
        assert keys == ['a%d' % i for i in range(9)] and dtype == np.float32 and rows.shape == (9, 6)
        assert reader.read(entries[8:10]) is None            # two files
        assert reader.read(entries[9:])[1] == np.float64
        assert reader.read([('x', 'a.ark')]) is None         # no offset
    finally:
        reader.close()


def _per_line(lines):
    """What the line-by-line parse gives: (keys, path, offsets), or None if not plain."""
    from data_utils.kaldi_records import scp_entry
    entries = [scp_entry('x', i, line) for i, line in enumerate(lines, 1)]
    if None in entries:
        return None
    parts = [loc.rpartition(':') for _, loc in entries]
    if len({p[0] for p in parts}) != 1 or not all(p[2].isdigit() for p in parts):
        return None
    return [k for k, _ in entries], parts[0][0], [int(p[2]) for p in parts]


@pytest.mark.parametrize('lines, plain', [
    ([b'a /x/y.ark:12\n', b'bb /x/y.ark:7\n', b'c /x/y.ark:123456789012\n'], True),
    ([b'a\t/x/y.ark:12\r\n', b'  bb /x/y.ark:7  \n', b'c /x/y.ark:3'], True),
    ([b'a c:/y.ark:12\n', b'b c:/y.ark:0\n'], True),                  # a colon in the path
    ([b'a /x/y.ark:12\n', b'\n', b'b /x/y.ark:7\n'], False),            # a blank line
    ([b'a /x/y.ark:12\n', b'b gunzip -c f.ark.gz |\n'], False),         # a command
    ([b'a /x/y.ark:12 c\n', b'b\n'], False),                            # 3 + 1 fields
    ([b'a /x/y.ark:12\n', b'b /x/z.ark:7\n'], False),                   # another file
    ([b'a /x/y.ark:12\n', b'b /x/y.ark:7[0:3]\n'], False),              # a range
    ([b'a /x/y.ark:12\n', b'b /x/y.ark:\n'], False),                    # no offset
    ([b'a /x/y.ark\n'], False),                                         # no colon
    ([b'a /x/y.ark:1234567890123456789\n'], False),                     # 19 digits
    ([b'a\xa0b /x/y.ark:12\n'], False),                                 # not ASCII
    ([b'a\x1cb /x/y.ark:12\n'], False),                                 # str.split space
])
def test_plain_block_agrees_with_the_line_parse(lines, plain):
    """plain_block takes a block only where every line is "key path:offset" with one path,
    and then gives what the line-by-line parse gives; anything else is left to it."""
    got = scp_fast.plain_block(lines)
    if not plain:
        assert got is None
        return
    keys, path, first_location, offsets = got
    assert (keys, path, offsets.tolist()) == _per_line(lines)
    assert first_location == lines[0].split()[1].decode()


def test_keys_of_varying_length_read_through_the_gathering_path(tmp_path):
    """Records whose keys differ in length are not evenly spaced: gathered, not strided."""
    keys = ['k' * (1 + i % 4) + str(i) for i in range(11)]
    rng = np.random.default_rng(9)
    kt.write_vectors('ark,scp:%s,%s' % (tmp_path / 'v.ark', tmp_path / 'v.scp'), keys,
                     rng.standard_normal((11, 5)))
    got_keys, got = _matrix('scp:%s' % (tmp_path / 'v.scp'))
    ref_keys, ref = _reference(tmp_path / 'v.scp')
    assert got_keys == ref_keys == keys
    np.testing.assert_array_equal(got, ref)
