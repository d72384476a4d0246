"""ark <-> npz conversion, data-dir and trials checks, and the demo corpus."""
import functools
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from data_utils import ark2npz
from data_utils import kaldi_table as kt
from data_utils.datadir import check_coverage
from data_utils.demo_corpus import DemoConfig, make_corpus
from data_utils.errors import UserError
from data_utils.file_rows import FileRows
from data_utils.npz_io import NpzWriter, load_npz, save_npz, speaker_arrays, write_npz
from helpers import env, one_error_line, run_module, write_data_dir


def small_dir(path, dim=37, speakers=4, utts=3, seed=0):
    rng = np.random.default_rng(seed)
    utt2spk = {'s%d-u%d' % (s, u): 's%d' % s for s in range(speakers) for u in range(utts)}
    vectors = rng.standard_normal((len(utt2spk), dim)).astype(np.float32)
    write_data_dir(str(path), utt2spk, vectors)
    return list(utt2spk), vectors


def test_ark_npz_ark_round_trip_is_exact(tmp_path):
    keys, vectors = small_dir(tmp_path / 'd', dim=37)
    assert run_module('data_utils.ark2npz', '--data-dir', tmp_path / 'd', tmp_path / 'd.npz').returncode == 0
    with np.load(tmp_path / 'd.npz') as npz:
        assert list(npz['utt_ids']) == keys
        assert npz['vectors'].shape == (12, 37) and np.array_equal(npz['vectors'], vectors)
        labels = npz['spk_labels']
        assert [labels[i] for i in npz['spk_index']] == [k.split('-')[0] for k in keys]
    out = run_module('data_utils.npz2ark', tmp_path / 'd.npz',
                     'ark,scp:%s,%s' % (tmp_path / 'b.ark', tmp_path / 'b.scp'))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / 'b.ark').read_bytes() == (tmp_path / 'd' / 'xvector.ark').read_bytes()
    # Text arks in, the same vectors out (to 7 digits, as Kaldi prints them).
    kt.write_vectors('ark,t:%s' % (tmp_path / 't.txt'), keys, vectors)
    assert run_module('data_utils.ark2npz', '--vectors', 'ark:%s' % (tmp_path / 't.txt'),
                      tmp_path / 't.npz').returncode == 0
    with np.load(tmp_path / 't.npz') as npz:
        assert list(npz['utt_ids']) == keys and 'spk_index' not in npz
        np.testing.assert_allclose(npz['vectors'], vectors, rtol=1e-6)


@pytest.mark.parametrize('problem, expected', [
    ('missing', r'd: no such data directory'),
    ('empty_ark', r'xvector.ark: no vectors'),
    ('utt2spk_extra', r'utt2spk: names 1 utterances with no vector'),
    ('nan', r'key s0-u1: contains NaN'),
    ('utt2spk_repeat', r'utt2spk: line 14: s0-u1 appears twice'),
    ('spk2utt_other', r'spk2utt: does not match utt2spk'),
])
def test_ark2npz_rejects_bad_dirs(tmp_path, problem, expected):
    if problem != 'missing':
        small_dir(tmp_path / 'd')
    d = tmp_path / 'd'
    if problem == 'empty_ark':
        (d / 'xvector.scp').unlink()
        (d / 'xvector.ark').write_bytes(b'')
    elif problem == 'utt2spk_extra':
        with open(d / 'utt2spk', 'a') as f:
            f.write('ghost s0\n')
    elif problem == 'utt2spk_repeat':
        with open(d / 'utt2spk', 'a') as f:
            f.write('\ns0-u1 s1\n')
    elif problem == 'spk2utt_other':
        (d / 'spk2utt').write_text((d / 'spk2utt').read_text().replace('s0-u1', 's1-u1', 1))
    elif problem == 'nan':
        (d / 'xvector.scp').unlink()
        kt.write_vectors('ark,t:%s' % (d / 'xvector.ark'), ['s0-u0'], np.ones((1, 3)))
        with open(d / 'xvector.ark', 'a') as f:
            f.write('s0-u1  [ 1 nan 2 ]\n')
    out = run_module('data_utils.ark2npz', '--data-dir', d, tmp_path / 'o.npz')
    assert out.returncode != 0
    assert 'ERROR (ark2npz)' in one_error_line(out.stderr)
    assert pytest.importorskip('re').search(expected, one_error_line(out.stderr)), out.stderr
    assert not (tmp_path / 'o.npz').exists()



def test_ark2npz_keeps_the_vectors_keys_and_speakers_only(tmp_path):
    """--vectors with an utt2spk naming more (and longer) utterances, keys not in order
    and beyond ASCII: the npz is np.savez's of the vectors' keys and their speakers."""
    keys = ['u3', 'caf\xe9', 'u1', 'u10']
    utt2spk = {'a-very-long-utterance-id': 'zz', 'u1': 's2', 'u3': 's1', 'caf\xe9': 's2',
               'u10': 's1', 'u2': 'unused'}
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    kt.write_vectors('ark:%s' % (tmp_path / 'v.ark'), keys, vectors)
    with open(tmp_path / 'utt2spk', 'w', encoding='utf-8') as f:   # as read_pairs reads it
        f.writelines('%s %s\n' % pair for pair in utt2spk.items())
    assert ark2npz.convert(str(tmp_path / 'o.npz'), vectors='ark:%s' % (tmp_path / 'v.ark'),
                           utt2spk_path=str(tmp_path / 'utt2spk')) == (4, 2)
    write_npz(tmp_path / 'saved.npz', vectors, keys, *speaker_arrays(keys, utt2spk))
    with zipfile.ZipFile(tmp_path / 'o.npz') as ours, zipfile.ZipFile(tmp_path / 'saved.npz') as saved:
        assert ours.namelist() == saved.namelist()
        for name in saved.namelist():
            assert ours.read(name) == saved.read(name), name
    # Without utt2spk every key is checked for repeats.
    kt.write_vectors('ark:%s' % (tmp_path / 'r.ark'), keys + ['u1'], np.zeros((5, 2)))
    with pytest.raises(UserError, match=r'r.ark: key u1 appears twice'):
        ark2npz.convert(str(tmp_path / 'r.npz'), vectors='ark:%s' % (tmp_path / 'r.ark'))


def test_ark2npz_memory_grows_by_a_few_dozen_bytes_a_vector(tmp_path):
    """Peak RSS of ark2npz on 50k and 150k vectors: keys and utt2spk kept as Python strings
    cost about 370 bytes a vector here (240 at 1.2M x 512); kept compactly, about 110
    (30 at 1.2M x 512: the rest is the Python objects of a table read in chunks)."""
    child = ("import sys; from data_utils import ark2npz; ark2npz.convert(sys.argv[2], "
             "data_dir=sys.argv[1]); print([line.split()[1] for line in open('/proc/self/status')"
             " if line.startswith('VmHWM')][0])")
    peaks = []
    for count in (50000, 150000):
        utt2spk = {'spk%03d-utt%06d' % (i % 300, i): 'spk%03d' % (i % 300) for i in range(count)}
        write_data_dir(str(tmp_path / str(count)), utt2spk, np.ones((count, 8), np.float32))
        out = subprocess.run([sys.executable, '-c', child, tmp_path / str(count),
                              tmp_path / ('%d.npz' % count)], env=env(), capture_output=True,
                             text=True, check=True)
        peaks.append(int(out.stdout) * 1024)
    assert (peaks[1] - peaks[0]) / 100000 < 200, peaks


def read_in_chunks_of(monkeypatch, rows):
    """Make every table reader of ark2npz read `rows` vectors at a time."""
    monkeypatch.setattr(kt, 'read_vector_chunks',
                        functools.partial(kt.read_vector_chunks, chunk_rows=rows))


@pytest.mark.parametrize('count, dim, dead', [(23, 13, [0, 5, 12]), (1, 4, []), (14, 1, [])])
def test_streamed_npz_equals_in_memory_writer(tmp_path, monkeypatch, count, dim, dead):
    # Odd sizes: 23 rows read 7 at a time ends on a part chunk, 14 on a whole one.
    rng = np.random.default_rng(count)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    vectors[:, dead] = 0.0
    utt2spk = {'spk%d-utt%02d' % (i % 3, i): 'spk%d' % (i % 3) for i in range(count)}
    write_data_dir(str(tmp_path / 'd'), utt2spk, vectors)
    read_in_chunks_of(monkeypatch, 7)
    assert ark2npz.convert(str(tmp_path / 'streamed.npz'), data_dir=str(tmp_path / 'd')) == (count, dim)
    keys = list(utt2spk)
    write_npz(tmp_path / 'saved.npz', vectors, keys, *speaker_arrays(keys, utt2spk))
    with np.load(tmp_path / 'streamed.npz') as streamed, np.load(tmp_path / 'saved.npz') as saved:
        assert streamed.files == saved.files == ['vectors', 'utt_ids', 'spk_index', 'spk_labels']
        for name in saved.files:
            assert streamed[name].dtype == saved[name].dtype, name
            np.testing.assert_array_equal(streamed[name], saved[name])
    # Member by member the same bytes (.npy headers included) as np.savez's.
    with zipfile.ZipFile(tmp_path / 'streamed.npz') as streamed, \
            zipfile.ZipFile(tmp_path / 'saved.npz') as saved:
        for info in saved.infolist():
            assert streamed.getinfo(info.filename).compress_type == zipfile.ZIP_STORED
            assert streamed.read(info.filename) == saved.read(info.filename), info.filename
    data = load_npz(str(tmp_path / 'streamed.npz'), on_disk=True)
    assert isinstance(data.vectors, FileRows)
    np.testing.assert_array_equal(data.vectors, vectors)


@pytest.mark.parametrize('problem, message', [
    ('nan_in_chunk_3', r'key u15: contains NaN'),
    ('repeated_key', r'key u3 appears twice'),
    ('no_speaker', r'v.ark: 1 vectors have no speaker in .*utt2spk \(first: u19\)'),
])
def test_failed_conversion_leaves_no_output_and_no_temp_file(tmp_path, monkeypatch, problem,
                                                             message):
    keys = ['u%d' % i for i in range(20)]
    rows = ['%s  [ %s ]\n' % (k, ' '.join(['1'] * 4)) for k in keys]
    if problem == 'nan_in_chunk_3':
        rows[15] = 'u15  [ 1 nan 2 3 ]\n'
    elif problem == 'repeated_key':
        rows[12] = rows[3]
    (tmp_path / 'v.ark').write_text(''.join(rows))
    (tmp_path / 'utt2spk').write_text(''.join('u%d s\n' % i for i in range(19)))
    read_in_chunks_of(monkeypatch, 6)
    before = sorted(os.listdir(tmp_path))
    for out in (tmp_path / 'o.npz', tmp_path / 'new' / 'dir' / 'o.npz'):
        with pytest.raises(UserError, match=message):
            ark2npz.convert(str(out), vectors='ark:%s' % (tmp_path / 'v.ark'),
                            utt2spk_path=str(tmp_path / 'utt2spk'))
        assert sorted(os.listdir(tmp_path)) == before


def test_npz_writer_refuses_a_change_of_dimension_and_an_unwritable_path(tmp_path):
    (tmp_path / 'file').write_text('')
    for bad in ('file/o.npz', 'file/sub/o.npz'):
        with pytest.raises(UserError, match=r'%s: cannot write: (File exists|Not a directory)' % bad):
            NpzWriter(str(tmp_path / bad))
    (tmp_path / 'file').unlink()
    with NpzWriter(str(tmp_path / 'o.npz')) as writer:
        writer.append(np.zeros((3, 4)))
        with pytest.raises(UserError, match=r'o.npz: rows of shape \(2, 5\) after rows of dimension 4'):
            writer.append(np.zeros((2, 5)))
    assert os.listdir(tmp_path) == []


def test_coverage_check_names_the_first_gap_each_way():
    utt2spk = {'a': 's1', 'b': 's1', 'c': 's2'}
    check_coverage(['c', 'b', 'a'], utt2spk, 'x.scp', 'utt2spk')
    with pytest.raises(UserError,
                       match=r'^utt2spk: names 1 utterances with no vector in x.scp \(first: c\)$'):
        check_coverage(['a', 'b'], utt2spk, 'x.scp', 'utt2spk')
    with pytest.raises(UserError, match=r'^x.scp: 2 vectors have no speaker in utt2spk \(first: d\)$'):
        check_coverage(['a', 'b', 'c', 'd', 'e'], utt2spk, 'x.scp', 'utt2spk')
    # Each direction can be left out where the tool allows a subset.
    check_coverage(['a', 'b'], utt2spk, 'x.scp', 'utt2spk', every_utterance=False)
    check_coverage(['a', 'b', 'c', 'd'], utt2spk, 'x.scp', 'utt2spk', every_vector=False)


def test_npz_written_is_read_back_on_disk_and_checked(tmp_path):
    path = str(tmp_path / 'sub' / 'v.npz')
    vectors = np.arange(12, dtype=np.float64).reshape(4, 3)
    save_npz(path, ['u2', 'u1', 'u3', 'u4'], vectors, {'u1': 'b', 'u2': 'a', 'u3': 'b', 'u4': 'c'})
    data = load_npz(path, need_utt_ids=True, need_speakers=True, on_disk=True)
    assert isinstance(data.vectors, FileRows) and data.vectors.dtype == np.float32
    np.testing.assert_array_equal(data.vectors, vectors)
    assert list(data.utt_ids) == ['u2', 'u1', 'u3', 'u4']
    assert [data.spk_labels[i] for i in data.spk_index] == ['a', 'b', 'b', 'c']
    assert load_npz(path).utt_ids is not None and load_npz(path, load_utt_ids=False).utt_ids is None
    vectors[2, 1] = np.inf
    write_npz(path, vectors, ['u2', 'u1', 'u3', 'u4'])
    with pytest.raises(UserError, match=r"v.npz: 'vectors' has a non-finite value .* row 2 \(id u3\)"):
        load_npz(path)
    write_npz(path, np.zeros((2, 3)), ['a', 'a'])
    with pytest.raises(UserError, match=r"v.npz: id a appears twice in 'utt_ids'"):
        load_npz(path)
    with pytest.raises(UserError, match=r'v.npz: missing array\(s\): spk_index, spk_labels'):
        load_npz(path, need_speakers=True)
    with pytest.raises(UserError, match=r'nothing.npz: no such file'):
        load_npz(str(tmp_path / 'nothing.npz'))


def test_os_errors_are_one_line_naming_the_file(tmp_path):
    # A directory where a list file is expected: the OSError is reported at the file.
    out = run_module('data_utils.split_data', '--lines', tmp_path, 2, tmp_path / 'dest')
    assert out.returncode == 1
    assert one_error_line(out.stderr) == 'ERROR (split_data): %s: Is a directory' % tmp_path


def make_sets(root, dim_test=20):
    small_dir(root / 'train', dim=20, speakers=6)
    for name in ('dev',):
        small_dir(root / name / 'enroll', dim=20, speakers=2, utts=2, seed=1)
        small_dir(root / name / 'test', dim=dim_test, speakers=2, utts=3, seed=2)
        (root / name / 'trials').write_text('s0 s0-u0 target\ns0 s1-u1 nontarget\n')


@pytest.mark.parametrize('problem, expected', [
    ('ok', None),
    ('missing_set', r'nosuch: no such evaluation set'),
    ('dims', r'test: vectors have dimension 21, the training set .* has 20'),
    ('unknown_model', r'trials: line 2: unknown model s9'),
    ('unknown_utt', r'trials: line 2: unknown test utterance ghost'),
    ('only_targets', r'trials: needs both target and nontarget'),
])
def test_check_sets(tmp_path, problem, expected):
    make_sets(tmp_path, dim_test=21 if problem == 'dims' else 20)
    trials = tmp_path / 'dev' / 'trials'
    if problem == 'unknown_model':
        trials.write_text('s0 s0-u0 target\ns9 s1-u1 nontarget\n')
    elif problem == 'unknown_utt':
        trials.write_text('s0 s0-u0 target\ns1 ghost nontarget\n')
    elif problem == 'only_targets':
        trials.write_text('s0 s0-u0 target\n')
    sets = 'dev nosuch' if problem == 'missing_set' else 'dev'
    out = run_module('data_utils.check_sets', '--data', tmp_path, '--eval-sets', sets)
    if expected is None:
        assert out.returncode == 0, out.stderr
        assert '2 models, 6 test utterances, 2 trials (1 target)' in out.stdout
    else:
        assert out.returncode == 1
        assert pytest.importorskip('re').search(expected, one_error_line(out.stderr)), out.stderr


def test_demo_corpus_is_deterministic_disjoint_and_speaker_structured(tmp_path):
    cfg = DemoConfig(train_speakers=60, utts_per_train_speaker=6, eval_speakers=20,
                     test_utts_per_speaker=4, nontarget_per_model=10, domain_speakers=10)
    make_corpus(str(tmp_path / 'a'), cfg)
    make_corpus(str(tmp_path / 'b'), cfg)
    for part in ('train', 'sitw_dev/enroll', 'sitw_eval/test', 'shifted'):
        assert (tmp_path / 'a' / part / 'xvector.ark').read_bytes() == \
            (tmp_path / 'b' / part / 'xvector.ark').read_bytes()
    make_corpus(str(tmp_path / 'c'), DemoConfig(**dict(vars(cfg), seed=cfg.seed + 1)))
    assert (tmp_path / 'c' / 'train' / 'xvector.ark').read_bytes() != \
        (tmp_path / 'a' / 'train' / 'xvector.ark').read_bytes()
    out = run_module('data_utils.check_sets', '--data', tmp_path / 'a', '--eval-sets', 'sitw_dev sitw_eval')
    assert out.returncode == 0, out.stderr
    spk = lambda p: {l.split()[1] for l in open(tmp_path / 'a' / p / 'utt2spk')}
    assert not spk('train') & spk('sitw_dev/test') and not spk('sitw_dev/test') & spk('sitw_eval/test')
    keys, x = kt.read_vector_table('scp:%s' % (tmp_path / 'a' / 'train' / 'xvector.scp'))
    assert x.shape[1] == 512
    # x-vector-like: clearly non-zero mean and positively skewed in most dimensions.
    assert np.linalg.norm(x.mean(0)) > 3 * np.median(x.std(0))
    centred = x - x.mean(0)
    skew = (centred ** 3).mean(0) / x.std(0) ** 3
    assert np.mean(skew > 0.2) > 0.8
    # Speaker structure: same-speaker cosine clearly above different-speaker cosine.
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    spk_of = np.array([k.split('-')[0] for k in keys])
    same = spk_of[:, None] == spk_of[None, :]
    sims = unit @ unit.T
    off_diag = ~np.eye(len(keys), dtype=bool)
    assert sims[same & off_diag].mean() > sims[~same].mean() + 0.1


def test_relu_demo_corpus_is_sparse_unit_norm_with_dead_dims_and_pairs_the_xvector_one(tmp_path):
    """The ReLU kind: what a real ReLU encoder's length-normalised output looks like (dead
    dimensions, about half of the values zero, non-negative, unit norm), speaker-structured,
    and the same utterances and trials as the x-vector kind made with the same options."""
    cfg = dict(train_speakers=60, utts_per_train_speaker=6, eval_speakers=20,
               test_utts_per_speaker=4, nontarget_per_model=10, domain_speakers=10)
    make_corpus(str(tmp_path / 'x'), DemoConfig(**cfg))
    make_corpus(str(tmp_path / 'r'), DemoConfig(kind='relu', **cfg))
    out = run_module('data_utils.check_sets', '--data', tmp_path / 'r', '--eval-sets', 'sitw_dev sitw_eval')
    assert out.returncode == 0, out.stderr
    for part in ('train', 'sitw_dev/enroll', 'sitw_eval/test', 'shifted'):
        keys, x = kt.read_vector_table('scp:%s' % (tmp_path / 'r' / part / 'xvector.scp'))
        xkeys, _ = kt.read_vector_table('scp:%s' % (tmp_path / 'x' / part / 'xvector.scp'))
        assert keys == xkeys
        assert x.shape[1] == 256 and x.min() == 0.0
        assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
        dead = (x == 0).all(axis=0)
        assert dead.sum() == round(0.055 * 256)                      # 14 dead units
        assert 0.45 < (x == 0).mean() < 0.6, (x == 0).mean()        # about half of all values
    for name in ('sitw_dev/trials', 'sitw_eval/trials', 'train/utt2spk', 'sitw_dev/enroll/spk2utt'):
        assert (tmp_path / 'r' / name).read_text() == (tmp_path / 'x' / name).read_text()
    keys, x = kt.read_vector_table('scp:%s' % (tmp_path / 'r' / 'train' / 'xvector.scp'))
    spk_of = np.array([k.split('-')[0] for k in keys])
    same = (spk_of[:, None] == spk_of[None, :]) & ~np.eye(len(keys), dtype=bool)
    centred = x - x.mean(0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    sims = unit @ unit.T
    assert sims[same].mean() > sims[~same & ~np.eye(len(keys), dtype=bool)].mean() + 0.1
    with pytest.raises(ValueError, match='kind'):
        make_corpus(str(tmp_path / 'bad'), DemoConfig(kind='tanh', **cfg))
    assert not (tmp_path / 'bad').exists()


def test_full_demo_meets_the_size_brief():
    cfg = DemoConfig()
    assert cfg.train_speakers >= 1000 and cfg.dim == 512
    assert cfg.eval_speakers * cfg.test_utts_per_speaker >= 500    # target trials per set
