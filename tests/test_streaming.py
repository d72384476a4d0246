"""Streaming back-end tools: chunked readers equal the record reader, chunk boundaries
change nothing, and the streamed tools give the same results as the whole-table maths."""
import subprocess

import numpy as np
import pytest

from data_utils import ark_fast
from data_utils import scp_vectors
from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_matrix, read_vector, write_vector, write_vector_obj
from helpers import ROOT, env, one_error_line
from kaldi_compat.ivector_compute_lda import compute_lda_from_stats
from kaldi_compat.ivector_normalize_length import normalize_length
from kaldi_compat.model_means import OrderedMeans
from data_utils.key_map import KeyMap
from kaldi_compat.streaming import SpeakerSums
from kaldi_compat.trials import read_trial_pieces


def write_mixed_ark(path, rng):
    """Binary float and double records, a text record and odd whitespace between them."""
    vectors = rng.standard_normal((7, 5))
    keys = ['u%d' % i for i in range(7)]
    with open(path, 'wb') as f:
        for i, (key, vec) in enumerate(zip(keys, vectors)):
            if i == 3:
                f.write(('%s  [ %s ]\n' % (key, ' '.join(repr(float(v)) for v in vec))).encode())
            else:
                f.write(key.encode() + b' \0B')
                write_vector_obj(f, True, vec, double=(i == 5))
            if i == 1:
                f.write(b'\n')
    return keys, vectors


@pytest.mark.parametrize('block_bytes', [7, 64, 1 << 22])
def test_fast_reader_equals_record_reader(tmp_path, monkeypatch, block_bytes):
    rng = np.random.default_rng(0)
    keys, vectors = write_mixed_ark(tmp_path / 'm.ark', rng)
    monkeypatch.setattr(ark_fast, 'BLOCK_BYTES', block_bytes)
    reference = list(kt.read_vectors('ark:%s' % (tmp_path / 'm.ark')))
    chunks = list(kt.read_vector_chunks('ark:%s' % (tmp_path / 'm.ark'), chunk_rows=3))
    assert [len(k) for k, _ in chunks] == [3, 3, 1]
    got_keys = [k for ks, _ in chunks for k in ks]
    got = np.vstack([m for _, m in chunks])
    assert got_keys == [k for k, _ in reference] == keys
    np.testing.assert_array_equal(got, np.vstack([v.astype(np.float64) for _, v in reference]))
    # float32 records hold the float32 of the value, double records the value itself.
    np.testing.assert_allclose(got, vectors, rtol=1e-6)
    assert got[5].tolist() == vectors[5].tolist()


def write_records(ark, keys, vectors, double_at, newline_after):
    """Binary float records, one double record, and a newline between two records."""
    with open(ark, 'wb') as f:
        for i, (key, vec) in enumerate(zip(keys, vectors)):
            f.write(key.encode('latin1') + b' \0B')
            kt.write_vector_obj(f, True, vec, double=(i == double_at))
            if i == newline_after:
                f.write(b'\n')
    return ark


def copied_batches(ark):
    """vector_batches as a list: each batch's rows copied, since they may be a view of
    the reader's buffer that the next batch overwrites."""
    return [(keys, dtype, dim, np.array(rows)) for keys, dtype, dim, rows
            in ark_fast.vector_batches(str(ark))]


@pytest.mark.parametrize('block_bytes', [64, 1000])
def test_fast_reader_records_longer_than_its_block(tmp_path, monkeypatch, block_bytes):
    """Records of 800+ bytes read through a 64 or 1000-byte block: the buffer grows and
    refills, and every key and value is as the record reader gives them."""
    keys = ['utt%d' % i for i in range(30)]
    vectors = np.random.default_rng(8).standard_normal((30, 200))
    ark = write_records(tmp_path / 'long.ark', keys, vectors, double_at=12, newline_after=20)
    monkeypatch.setattr(ark_fast, 'BLOCK_BYTES', block_bytes)
    batches = copied_batches(ark)
    reference = list(kt.read_vectors('ark:%s' % ark))
    assert [k for b in batches for k in b[0]] == [k for k, _ in reference]
    np.testing.assert_array_equal(np.vstack([b[3].astype(np.float64) for b in batches]),
                                  np.vstack([v.astype(np.float64) for _, v in reference]))


@pytest.mark.parametrize('block_bytes', [64, 1000, 1 << 22])
def test_fast_reader_runs_of_same_layout_equal_record_reader(tmp_path, monkeypatch, block_bytes):
    """Runs of records with one layout are taken as one matrix; a key of another length,
    a double record or whitespace between records ends a run, and nothing is lost."""
    rng = np.random.default_rng(3)
    keys = ['k%d' % i for i in range(40)]                   # k0..k9, then k10..k39: two lengths
    vectors = rng.standard_normal((40, 6))
    ark = write_records(tmp_path / 'r.ark', keys, vectors, double_at=25, newline_after=30)
    monkeypatch.setattr(ark_fast, 'BLOCK_BYTES', block_bytes)
    batches = copied_batches(ark)
    assert [k for b in batches for k in b[0]] == keys
    if block_bytes == 1 << 22:
        assert [len(b[0]) for b in batches] == [10, 15, 1, 5, 9]
    reference = list(kt.read_vectors('ark:%s' % ark))
    chunks = list(kt.read_vector_chunks('ark:%s' % ark, chunk_rows=7))
    assert [k for ks, _ in chunks for k in ks] == [k for k, _ in reference]
    np.testing.assert_array_equal(np.vstack([m for _, m in chunks]),
                                  np.vstack([v.astype(np.float64) for _, v in reference]))


@pytest.mark.parametrize('block_bytes', [64, 700, 1 << 22])
def test_fast_reader_keys_of_varying_length_equal_record_reader(tmp_path, monkeypatch, block_bytes):
    """Keys whose lengths change from record to record are read as runs of mixed keys;
    whitespace between records, a double record and a key with a NUL end such a run."""
    rng = np.random.default_rng(4)
    keys = ['u%d' % (7 ** (i % 5) + i) for i in range(60)]
    keys[33] = 'nul\0key'
    vectors = rng.standard_normal((60, 3))
    ark = write_records(tmp_path / 'm.ark', keys, vectors, double_at=20, newline_after=45)
    monkeypatch.setattr(ark_fast, 'BLOCK_BYTES', block_bytes)
    batches = copied_batches(ark)
    if block_bytes == 1 << 22:
        assert max(len(b[0]) for b in batches) >= 12       # runs of mixed keys, not of 1-3
    reference = list(kt.read_vectors('ark:%s' % ark))
    assert [k for b in batches for k in b[0]] == [k for k, _ in reference]
    np.testing.assert_array_equal(np.vstack([b[3].astype(np.float64) for b in batches]),
                                  np.vstack([v.astype(np.float64) for _, v in reference]))


@pytest.mark.parametrize('chunk_bytes, rows', [(None, 7), (60, 2), (1, 1)])
def test_stored_precision_chunks_are_exact_and_bounded(tmp_path, chunk_bytes, rows):
    """dtype None: float32 chunks until a double record, float64 from then on, every value
    as stored; chunk_bytes caps the rows of a chunk (6 floats: 24 bytes a row)."""
    keys = ['k%d' % i for i in range(12)]
    vectors = np.random.default_rng(5).standard_normal((12, 6))
    ark = tmp_path / 's.ark'
    with open(ark, 'wb') as f:
        for i, (key, vec) in enumerate(zip(keys, vectors)):
            f.write(key.encode() + b' \0B')
            kt.write_vector_obj(f, True, vec, double=(i == 9))
    chunks = list(kt.read_vector_chunks('ark:%s' % ark, chunk_rows=7, dtype=None,
                                        chunk_bytes=chunk_bytes))
    assert [len(ks) for ks, _ in chunks][:-1] == [rows] * (len(chunks) - 1)
    assert [k for ks, _ in chunks for k in ks] == keys
    widened = next(i for i, (ks, _) in enumerate(chunks) if 'k9' in ks)
    assert [m.dtype for _, m in chunks] == [np.float32] * widened + [np.float64] * (len(chunks) - widened)
    got = np.vstack([m.astype(np.float64) for _, m in chunks])
    np.testing.assert_array_equal(got, np.vstack([v.astype(np.float64) for _, v in
                                                  kt.read_vectors('ark:%s' % ark)]))
    assert got[9].tolist() == vectors[9].tolist()


@pytest.mark.parametrize('damage, message', [
    (lambda data: data[:-3], 'key c: truncated binary vector'),
    (lambda data: data.replace(b'FV', b'FX', 2), 'key a: expected a binary vector'),
    (lambda data: data[:data.rindex(b'c ')] + b'c  [ 1 nan 3 ]\n', 'key c: contains NaN or Inf'),
])
def test_fast_reader_reports_damage_as_the_record_reader(tmp_path, monkeypatch, damage, message):
    ark = tmp_path / 'x.ark'
    kt.write_vectors('ark:%s' % ark, ['a', 'b', 'c'], np.ones((3, 3)))
    ark.write_bytes(damage(ark.read_bytes()))
    for block in (5, 1 << 22):
        monkeypatch.setattr(ark_fast, 'BLOCK_BYTES', block)
        with pytest.raises(UserError, match=message):
            list(kt.read_vector_chunks('ark:%s' % ark))


def test_vector_writer_in_chunks_equals_one_write(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((25, 4))
    keys = ['k%02d' % i for i in range(25)]
    kt.write_vectors('ark,scp:%s,%s' % (tmp_path / 'one.ark', tmp_path / 'one.scp'), keys, vectors)
    with kt.VectorWriter('ark,scp:%s,%s' % (tmp_path / 'ch.ark', tmp_path / 'ch.scp')) as w:
        for start in range(0, 25, 10):
            w.write(keys[start:start + 10], vectors[start:start + 10])
    assert (tmp_path / 'one.ark').read_bytes() == (tmp_path / 'ch.ark').read_bytes()
    assert ((tmp_path / 'one.scp').read_text().replace('one.ark', 'ch.ark')
            == (tmp_path / 'ch.scp').read_text())
    # scp offsets lead to the right vectors.
    got_keys, got = kt.read_vector_table('scp:%s' % (tmp_path / 'ch.scp'))
    assert got_keys == keys
    np.testing.assert_allclose(got, vectors, rtol=1e-6)


def test_key_map_finds_all_entries_and_rejects_longer_keys():
    key_map = KeyMap(iter(['b', 'a', 'ab', 'b', 'c']))
    positions, entries = key_map.find_all(['b', 'zz', 'a', 'abc', 'ab'])
    assert sorted(zip(positions.tolist(), entries.tolist())) == [(0, 0), (0, 3), (2, 1), (4, 2)]
    assert key_map.find_last(['b', 'a', 'abc', 'x']).tolist() == [3, 1, -1, -1]
    assert [key_map.key(e) for e in range(5)] == ['b', 'a', 'ab', 'b', 'c']
    # Keys given in sorted order (Kaldi's sorted tables) are looked up the same way.
    in_order = KeyMap(iter(['a', 'ab', 'b', 'b', 'c']))
    positions, entries = in_order.find_all(['b', 'zz', 'a', 'abc', 'ab'])
    assert sorted(zip(positions.tolist(), entries.tolist())) == [(0, 2), (0, 3), (2, 0), (4, 1)]
    assert in_order.find_last(['b', 'a', 'abc', 'x', 'c']).tolist() == [3, 0, -1, -1, 4]
    assert [in_order.key(e) for e in range(5)] == ['a', 'ab', 'b', 'b', 'c']


def test_speaker_sums_equal_direct_statistics():
    rng = np.random.default_rng(2)
    vectors = 1000.0 + rng.standard_normal((50, 3))       # far from the origin
    speakers = rng.integers(0, 6, size=50)
    sums = SpeakerSums(7, 3)                               # speaker 6 has no vectors
    for start in range(0, 50, 17):
        sums.add(vectors[start:start + 17], speakers[start:start + 17])
    mean = vectors.mean(axis=0)
    np.testing.assert_allclose(sums.mean(), mean, rtol=1e-14)
    np.testing.assert_allclose(sums.scatter_around(mean), (vectors - mean).T @ (vectors - mean),
                               rtol=1e-9, atol=1e-9)
    present = np.arange(6)
    within = sum((vectors[speakers == s] - vectors[speakers == s].mean(axis=0)).T
                 @ (vectors[speakers == s] - vectors[speakers == s].mean(axis=0))
                 for s in present)
    spk_means = [vectors[speakers == s].mean(axis=0) for s in present]
    for block in (2, 1024):
        means, within_scatter = sums.class_stats(present, block)
        np.testing.assert_allclose(within_scatter, within, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(means, spk_means, rtol=1e-13)
    assert sums.spk_counts.tolist() == np.bincount(speakers, minlength=7).tolist()
    np.testing.assert_allclose(sums.pop_speaker_means(present, mean), spk_means - mean,
                               rtol=1e-9, atol=1e-12)
    assert sums.spk_sums is None


def test_trial_pieces_cover_every_line_whatever_the_piece_size(tmp_path):
    lines = ['e%d t%d' % (i % 7, i) for i in range(200)]
    (tmp_path / 'trials').write_text('\n'.join(lines))          # no final newline
    for size in (3, 50, 1 << 20):
        pieces = list(read_trial_pieces(str(tmp_path / 'trials'), 'expected two', size=size))
        assert [last for _, last in pieces] == [False] * (len(pieces) - 1) + [True]
        got = ['%s %s' % (c.token(i, 0), c.token(i, 1)) for c, _ in pieces for i in range(len(c))]
        assert got == lines
    (tmp_path / 'bad').write_text('\n'.join(lines[:150] + ['a b c'] + lines[150:]))
    with pytest.raises(UserError, match='bad: line 151: expected two'):
        list(read_trial_pieces(str(tmp_path / 'bad'), 'expected two', size=40))


def run(cmd, cwd):
    return subprocess.run(cmd, shell=True, cwd=cwd, env=env(), capture_output=True, text=True)


@pytest.fixture()
def labelled_set(tmp_path):
    """300 utterances of 30 speakers in 8 dimensions, written in a shuffled order."""
    rng = np.random.default_rng(3)
    speakers = np.repeat(np.arange(30), 10)
    vectors = 5.0 + rng.standard_normal((30, 8))[speakers] * 2 + rng.standard_normal((300, 8))
    order = rng.permutation(300)
    utts = ['s%02d-u%03d' % (speakers[i], i) for i in range(300)]
    kt.write_vectors('ark:%s' % (tmp_path / 'train.ark'), [utts[i] for i in order],
                     vectors[order])
    with open(tmp_path / 'utt2spk', 'w') as f:
        f.writelines('%s s%02d\n' % (utts[i], speakers[i]) for i in range(300))
    with open(tmp_path / 'spk2utt', 'w') as f:
        for s in range(30):
            f.write('s%02d %s\n' % (s, ' '.join(utts[i] for i in range(300) if speakers[i] == s)))
    return tmp_path, utts, speakers, vectors.astype(np.float32).astype(np.float64)


def test_streamed_tools_equal_whole_table_maths(labelled_set, monkeypatch):
    path, utts, speakers, vectors = labelled_set
    out = run('ivector-mean ark:train.ark mean.vec && '
              'ivector-mean ark:spk2utt ark:train.ark ark:spk.ark ark,t:num_utts && '
              'ivector-compute-lda --dim=5 ark:train.ark ark:utt2spk lda.mat && '
              'ivector-subtract-global-mean ark:train.ark ark:c1.ark && '
              'cat train.ark | ivector-subtract-global-mean ark:- ark:c2.ark', path)
    assert out.returncode == 0, out.stderr
    mean = vectors.mean(axis=0)
    np.testing.assert_allclose(read_vector(str(path / 'mean.vec')), mean, rtol=1e-6)
    keys, spk_means = kt.read_vector_table('ark:%s' % (path / 'spk.ark'))
    assert keys == ['s%02d' % s for s in range(30)]
    np.testing.assert_allclose(spk_means, [vectors[speakers == s].mean(axis=0) for s in range(30)],
                               rtol=1e-6)
    assert [v for _, v in kt.read_int_table('ark:%s' % (path / 'num_utts'))] == [10] * 30
    # The file is read twice, the pipe spooled: both give the centred vectors in input order.
    k1, c1 = kt.read_vector_table('ark:%s' % (path / 'c1.ark'))
    k2, c2 = kt.read_vector_table('ark:%s' % (path / 'c2.ark'))
    assert k1 == k2 and c1.tolist() == c2.tolist()
    np.testing.assert_allclose(c1, vectors[[utts.index(k) for k in k1]] - mean, atol=1e-5)
    # LDA from streamed statistics equals LDA of the whole centred matrix (up to row signs).
    lda = read_matrix(str(path / 'lda.mat'))
    centred = vectors - mean
    rows = [np.flatnonzero(speakers == s) for s in range(30)]
    expected = compute_lda_from_stats(
        centred.T @ centred, np.vstack([centred[r].mean(axis=0) for r in rows]),
        np.array([len(r) for r in rows], dtype=np.float64), len(centred), 5, 0.0, 1e-6)
    signs = np.sign(np.sum(lda[:, :8] * expected, axis=1))
    np.testing.assert_allclose(lda[:, :8] * signs[:, None], expected, rtol=1e-4, atol=1e-5)


def test_given_mean_subtracted_from_a_pipe_in_one_pass(labelled_set, monkeypatch):
    """With the mean given, a pipe is read once and not spooled to a temporary ark."""
    from kaldi_compat import ivector_subtract_global_mean as tool
    path, utts, _, vectors = labelled_set
    mean = vectors.mean(axis=0)
    write_vector(str(path / 'mean.vec'), mean)

    def no_second_pass(rspecifier):
        raise AssertionError('spooled for a second pass')
    monkeypatch.setattr(tool, 'rereadable_chunks', no_second_pass)
    tool.main([str(path / 'mean.vec'), 'ark:cat %s |' % (path / 'train.ark'),
               'ark:%s' % (path / 'c.ark')])
    keys, centred = kt.read_vector_table('ark:%s' % (path / 'c.ark'))
    np.testing.assert_allclose(centred, vectors[[utts.index(k) for k in keys]] - mean, atol=1e-5)


def test_duplicate_vector_is_one_error(labelled_set):
    path = labelled_set[0]
    out = run('cat train.ark train.ark > twice.ark && '
              'ivector-compute-plda ark:spk2utt ark:twice.ark plda', path)
    assert out.returncode == 1
    assert 'appears twice' in one_error_line(out.stderr)
    assert not (path / 'plda').exists()


@pytest.mark.parametrize('window', [30, 100, 1 << 20])
def test_scp_read_ahead_windows_equal_record_reader(tmp_path, monkeypatch, window):
    """Offsets in file order come from read-ahead windows (records straddling a window's
    end included); backward jumps and repeats are read where they point."""
    rng = np.random.default_rng(5)
    keys = ['s%d' % i for i in range(30)]
    kt.write_vectors('ark,scp:%s,%s' % (tmp_path / 'w.ark', tmp_path / 'w.scp'), keys,
                     rng.standard_normal((30, 7)))
    lines = (tmp_path / 'w.scp').read_text().splitlines()
    (tmp_path / 'x.scp').write_text('\n'.join(lines + lines[3:6] + lines[20:] + lines[:2]) + '\n')
    monkeypatch.setattr(scp_vectors._RecordFile, 'WINDOW', window)
    reference = list(kt.read_vectors('scp:%s' % (tmp_path / 'x.scp')))
    chunks = list(kt.read_vector_chunks('scp:%s' % (tmp_path / 'x.scp'), chunk_rows=8))
    assert [k for ks, _ in chunks for k in ks] == [k for k, _ in reference]
    np.testing.assert_array_equal(np.vstack([m for _, m in chunks]),
                                  np.vstack([v.astype(np.float64) for _, v in reference]))


def test_scp_reader_equals_record_reader(tmp_path):
    rng = np.random.default_rng(4)
    write_mixed_ark(tmp_path / 'm.ark', rng)
    kt.write_vectors('ark,scp:%s,%s' % (tmp_path / 'b.ark', tmp_path / 'b.scp'),
                     ['b0', 'b1'], rng.standard_normal((2, 5)))
    # Offsets into the mixed ark (binary float, text, double records), another ark, back.
    offsets, data = {}, (tmp_path / 'm.ark').read_bytes()
    for key in ('u0', 'u3', 'u5', 'u6'):
        offsets[key] = data.index(key.encode() + b' ') + len(key) + 1
    lines = ['u5 %s:%d' % (tmp_path / 'm.ark', offsets['u5'])]
    lines += (tmp_path / 'b.scp').read_text().splitlines()
    lines += ['u3 %s:%d' % (tmp_path / 'm.ark', offsets['u3']),
              'u0 %s:%d' % (tmp_path / 'm.ark', offsets['u0']),
              'u6 %s:%d' % (tmp_path / 'm.ark', offsets['u6'])]
    (tmp_path / 'x.scp').write_text('\n'.join(lines) + '\n')
    reference = list(kt.read_vectors('scp:%s' % (tmp_path / 'x.scp')))
    (keys, got), = kt.read_vector_chunks('scp:%s' % (tmp_path / 'x.scp'))
    assert keys == [k for k, _ in reference] == ['u5', 'b0', 'b1', 'u3', 'u0', 'u6']
    np.testing.assert_array_equal(got, np.vstack([v for _, v in reference]))
    # An offset past the end is the general reader's error, naming the entry.
    (tmp_path / 'bad.scp').write_text('u0 %s:%d\nu9 %s:99999\n' % (tmp_path / 'm.ark', offsets['u0'],
                                                                   tmp_path / 'm.ark'))
    with pytest.raises(UserError) as fast:
        list(kt.read_vector_chunks('scp:%s' % (tmp_path / 'bad.scp')))
    with pytest.raises(UserError) as general:
        list(kt.read_vectors('scp:%s' % (tmp_path / 'bad.scp')))
    assert str(fast.value) == str(general.value) and 'key u9' in str(fast.value)


def test_speaker_means_of_one_and_many_utterance_models(labelled_set):
    """One-utterance models (kept as their float32 vector) and many-utterance ones (summed
    in float64) side by side, with missing utterances on both kinds, in spk2utt order."""
    path, utts, speakers, vectors = labelled_set
    lists = {'one': [utts[0]], 'gone': ['no-such-utt'], 'many': utts[10:14],
             'one_of_two': [utts[20], 'no-such-utt-2'], 'also_one': [utts[299]]}
    with open(path / 'models', 'w') as f:
        f.writelines('%s %s\n' % (spk, ' '.join(u)) for spk, u in lists.items())
    out = run('ivector-mean ark:models ark:train.ark ark:m.ark ark,t:m_num', path)
    assert out.returncode == 0, out.stderr
    keys, means = kt.read_vector_table('ark:%s' % (path / 'm.ark'))
    assert keys == ['one', 'many', 'one_of_two', 'also_one']
    expected = [vectors[0], vectors[10:14].mean(axis=0), vectors[20], vectors[299]]
    np.testing.assert_array_equal(means[[0, 2, 3]], np.array(expected)[[0, 2, 3]])
    np.testing.assert_allclose(means[1], expected[1], rtol=1e-6)
    assert [v for _, v in kt.read_int_table('ark:%s' % (path / 'm_num'))] == [1, 4, 1, 1]
    assert 'Not producing output for gone' in out.stderr


@pytest.mark.parametrize('shuffled', [False, True])
def test_ordered_means_written_in_speaker_order_as_soon_as_complete(shuffled):
    """Models of 0-4 utterances (one utterance under two speakers, some never given),
    their vectors given in chunks in table order or shuffled: every model is its
    float32 mean, written once and in speaker order; in table order each is written
    by the chunk that completes it, so only a chunk's worth is ever held."""
    rng = np.random.default_rng(7)
    listed = rng.integers(0, 5, size=3000)
    listed[:1000] = 1                                        # one-utterance models first
    listed[2990] = 2
    owner = np.repeat(np.arange(listed.size), listed)
    utt_of_entry = np.arange(owner.size)
    utt_of_entry[5] = utt_of_entry[1700]                     # one utterance, two speakers
    vectors = rng.standard_normal((owner.size, 6)).astype(np.float32)
    # Speaker 2990 never gets its second vector: it holds back those after it.
    missing = {np.flatnonzero(owner == 2990)[1], np.flatnonzero(owner == 2995)[0]}
    entries = np.array([e for e in range(owner.size) if utt_of_entry[e] not in missing])
    if shuffled:
        entries = rng.permutation(entries)
    written = []
    models = OrderedMeans(listed, 6, lambda spk, means: written.append((spk.copy(), means.copy())))
    for start in range(0, entries.size, 250):
        chunk = entries[start:start + 250]
        models.add(owner[chunk], vectors[utt_of_entry[chunk]])
        if not shuffled and start + 250 < entries.size:
            # every speaker whose entries all came before the next chunk is written
            assert models.next == min(owner[entries[start + 250]], 2990)
    models.close()
    spk = np.concatenate([w[0] for w in written])
    means = np.vstack([w[1] for w in written])
    given = np.bincount(owner[entries], minlength=listed.size)
    assert spk.tolist() == np.flatnonzero(given > 0).tolist()
    assert models.counts.tolist() == given.tolist()
    sums = np.zeros((listed.size, 6))
    np.add.at(sums, owner[entries], vectors[utt_of_entry[entries]].astype(np.float64))
    np.testing.assert_allclose(means, sums[spk] / given[spk, None], rtol=1e-6)
    one = given[spk] == 1                                    # exactly their float32 vector
    np.testing.assert_array_equal(means[one], sums[spk[one]].astype(np.float32))
    if not shuffled:
        assert models.means.rows.shape[0] <= 1024 and models.sums.rows.shape[0] <= 1024


def test_row_buffer_equals_concatenation():
    from data_utils.row_buffer import RowBuffer
    rng = np.random.default_rng(6)
    chunks = [rng.standard_normal((n, 5)) for n in (3, 1, 0, 40, 7, 100)]
    buffer = RowBuffer(np.float32)
    for chunk in chunks:
        buffer.append(chunk)
    got = buffer.matrix()
    assert got.dtype == np.float32 and got.shape == (151, 5)
    np.testing.assert_array_equal(got, np.concatenate(chunks).astype(np.float32))
    assert RowBuffer().matrix(dim=4).shape == (0, 4)


def test_normalize_length_in_float_falls_back_to_double_at_the_float_range_edges():
    """Float rows are normalised in float; a row whose squares overflow or underflow in
    float (or a zero row) sends its chunk to double, so that it is still scaled."""
    rows = np.array([[3e20, 4e20], [3e-25, 4e-25], [0, 0], [3, 4]], dtype=np.float32)
    expected = [[0.6 * np.sqrt(2), 0.8 * np.sqrt(2)]] * 2 + [[0, 0], [0.6 * np.sqrt(2), 0.8 * np.sqrt(2)]]
    normalized, ratios = normalize_length(rows)
    np.testing.assert_allclose(normalized, expected, rtol=1e-6)
    np.testing.assert_allclose(ratios, [5e20 / np.sqrt(2), 5e-25 / np.sqrt(2), 0, 5 / np.sqrt(2)],
                               rtol=1e-6)
    plain, _ = normalize_length(rows[3:])
    assert plain.dtype == np.float32
    np.testing.assert_allclose(plain, expected[3:], rtol=1e-6)


HEAP_PROBE = '''
import resource, sys
import numpy as np
from data_utils.heap import keep_freed_memory
if sys.argv[1] == 'keep':
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):            # what a streaming tool does per chunk: 4 MB arrays made and freed
    chunk = np.ones(1 << 19)
    result = chunk * 2.0
    del chunk, result
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


def test_kept_heap_reuses_freed_chunks_without_page_faults():
    """With glibc's default thresholds each 4 MB chunk is mapped afresh (about 1,000 page
    faults a chunk); with keep_freed_memory (every Kaldi-named tool) it is reused."""
    import platform
    if platform.libc_ver()[0] != 'glibc':
        pytest.skip('mallopt thresholds are glibc-only; other C libraries keep their defaults')
    faults = {}
    for mode in ('default', 'keep'):
        out = subprocess.run(['python3', '-c', HEAP_PROBE, mode], env=env(), cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        faults[mode] = int(out.split()[-1])
    assert faults['default'] > 20 * 1000 and faults['keep'] < 3000, faults


@pytest.mark.parametrize('table', ['ark:vectors.ark', 'scp:vectors.scp'])
def test_est_pca_over_chunks_skips_other_dimensions_as_kaldi(tmp_path, table):
    """More vectors than one accumulation buffer (10,000), one of another dimension and
    an empty one among them: those two are warned about and skipped, as Kaldi's est-pca
    does, and the rows are the covariance's eigenvectors, largest eigenvalue first."""
    rng = np.random.default_rng(4)
    vectors = 3.0 + rng.standard_normal((23000, 6)) * np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    keys = ['u%05d' % i for i in range(23000)]
    records = list(zip(keys, vectors))
    records.insert(5, ('odd', np.ones(4)))
    records.insert(15000, ('empty', np.zeros(0)))
    with open(tmp_path / 'vectors.ark', 'wb') as ark, open(tmp_path / 'vectors.scp', 'w') as scp:
        for key, vec in records:
            ark.write(key.encode() + b' ')
            scp.write('%s %s:%d\n' % (key, tmp_path / 'vectors.ark', ark.tell()))
            ark.write(b'\0B')
            write_vector_obj(ark, True, vec)
    out = run('est-pca --read-vectors=true --normalize-mean=true %s pca.mat' % table, tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'WARNING (est-pca) Feature dimension mismatch 6 vs. 4' in out.stderr
    assert 'WARNING (est-pca) Empty input vector for empty' in out.stderr
    assert 'Accumulated stats from 23000 vectors, 2 with errors; 23000 frames.' in out.stderr
    stored = vectors.astype(np.float32).astype(np.float64)
    s, u = np.linalg.eigh(np.cov(stored.T, bias=True))
    expected = u[:, ::-1].T
    pca = read_matrix(str(tmp_path / 'pca.mat'))
    signs = np.sign(np.sum(pca[:, :6] * expected, axis=1))
    np.testing.assert_allclose(pca[:, :6] * signs[:, None], expected, atol=1e-5)
    np.testing.assert_allclose(pca[:, 6], -pca[:, :6] @ stored.mean(axis=0), rtol=1e-5)
