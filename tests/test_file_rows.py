"""The training set left on disk (data_utils.file_rows): rows read as numpy would index
them, the same batches as from memory, and the file's pages kept out of the process."""
import numpy as np
import pytest

from data_utils.errors import UserError
from data_utils.file_rows import FileRows
from data_utils.npz_io import load_npz, write_npz
from model.epochs import epoch_order


def stored(tmp_path, rows=50, dim=7, offset=13, seed=0):
    """A matrix written at ``offset`` in a file, and the file's path."""
    matrix = np.random.RandomState(seed).randn(rows, dim).astype(np.float32)
    path = str(tmp_path / 'rows.bin')
    with open(path, 'wb') as f:
        f.write(b'x' * offset + matrix.tobytes() + b'tail')
    return matrix, path


def test_rows_are_indexed_as_numpy_indexes_them(tmp_path):
    matrix, path = stored(tmp_path)
    rows = FileRows(path, 13, matrix.shape)
    assert (rows.shape, rows.ndim, rows.dtype, len(rows)) == ((50, 7), 2, np.float32, 50)
    keys = [0, 49, -1, -50, np.int64(7), slice(None), slice(3, 9), slice(-5, None), slice(40, 99),
            slice(9, 3), slice(None, None, 7), slice(None, None, -3), [4, 4, 0, -2],
            np.array([], np.int64), np.random.RandomState(1).permutation(50)[:16],
            (slice(2, 5), 3), ([1, 0], slice(1, 3))]
    for key in keys:
        got, expected = rows[key], matrix[key]
        assert got.dtype == np.float32 and got.shape == expected.shape, key
        assert got.tobytes() == expected.tobytes(), key
    assert np.asarray(rows).tobytes() == matrix.tobytes()
    for bad in (50, -51, [0, 50], np.array([True, False]), np.array([1.0]), np.zeros((2, 2), int)):
        with pytest.raises(IndexError):
            rows[bad]


def test_short_file_is_an_error(tmp_path):
    matrix, path = stored(tmp_path)
    with pytest.raises(UserError, match='shorter than the 60 x 7 matrix'):
        FileRows(path, 13, (60, 7))
    rows = FileRows(path, 13, matrix.shape)
    with open(path, 'r+b') as f:    # cut short after opening
        f.truncate(13 + 10 * 7 * 4)
    assert rows[:10].tobytes() == matrix[:10].tobytes()
    with pytest.raises(UserError, match='ended while reading its rows'):
        rows[[3, 20]]


def resident_file_pages(path):
    """Bytes of ``path`` mapped in this process, and the process's resident file-backed
    and shared memory (what a mapping's touched pages count in) in bytes."""
    with open('/proc/self/maps') as maps:
        mapped = [line for line in maps if line.rstrip().endswith(path)]
    with open('/proc/self/status') as status:
        fields = dict(line.split(':', 1) for line in status)
    kb = sum(int(fields.get(name, '0 kB').split()[0]) for name in ('RssFile', 'RssShmem'))
    return mapped, kb * 1024


def test_an_epoch_of_batches_is_fed_from_disk_unchanged_and_unmapped(tmp_path):
    """Every batch of a shuffled epoch, read from the file a slice at a time into the
    trainer's resident block (model.feeding, here 2 MB: 8 slices), has the bytes it has in
    memory; reading them all maps no page of the npz into the process (a memory map of it
    kept every page touched resident: the 2.4 GB of a 1.2M x 512 set)."""
    import tensorflow as tf          # before the first measure: its libraries are file pages
    from model.feeding import ResidentBatches
    rng = np.random.RandomState(0)
    n, dim = 8192, 512                          # 16 MB
    vectors = rng.randn(n, dim).astype(np.float32)
    spk_index = rng.randint(0, 40, n)
    path = str(tmp_path / 'train.npz')
    write_npz(path, vectors, ['u%d' % i for i in range(n)], spk_index,
              ['s%02d' % s for s in range(40)])
    with tf.Graph().as_default():
        feeder = ResidentBatches(tf, n, dim, 128, num_spk=40, means_dim=3,
                                 resident_bytes=2 << 20)
        with tf.compat.v1.Session() as sess:
            data = load_npz(path, need_speakers=True, load_utt_ids=False, on_disk=True)
            assert isinstance(data.vectors, FileRows)
            feeder.start_training(sess, data.vectors, data.spk_index)
            assert not feeder.whole and feeder.capacity == 1024
            means = rng.randn(40, 3).astype(np.float32)
            for epoch in (1, 2):   # the first pages in TensorFlow's own code; then measure
                _, before = resident_file_pages(path)
                order = epoch_order(5, epoch, n)
                feeder.start_epoch(sess, order, means)
                for start in range(0, n, 128):
                    rows = order[start:start + 128]
                    x, spk = sess.run([feeder.x, feeder.spk_idx],
                                      feeder.batch_feed(sess, start, 128))
                    assert x.tobytes() == vectors[rows].tobytes()
                    np.testing.assert_array_equal(spk, spk_index[rows])
                mapped, after = resident_file_pages(path)
    assert mapped == []
    assert after - before < 4 << 20, 'resident file pages grew by %d bytes' % (after - before)
