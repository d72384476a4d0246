"""The npz form of a vector table: the one module that reads, checks and writes it.

Arrays: vectors (float32, N x D), utt_ids (str, N), and for labelled sets
spk_index (int32, N, indexes spk_labels) and spk_labels (str, S). Keys keep the
order of the source table, so converting back writes the same keys in the same order.
The trainer leaves `vectors` in the file and reads the rows of each batch from it
(load_npz(on_disk=True), data_utils.file_rows), so a VoxCeleb-size set (1.2M x 512)
trains without a copy in memory, and without the file's pages in its resident set.

The pieces the reader is built from (open_npz, read_member, check_matrix, check_ids,
check_finite) also read npz files from other toolkits whose members have other names
(data_utils.import_embeddings). Every problem is a UserError naming the file. Only
numpy is needed here: bad input is rejected before TensorFlow's slow import.
"""
import dataclasses
import os
import struct
import zipfile
from typing import Optional

import numpy as np

from data_utils.atomic import atomic_open, atomic_write, make_temp_beside
from data_utils.errors import UserError
from data_utils.file_rows import FileRows

# Bytes copied per step from the raw rows into the archive.
_COPY_BYTES = 4 << 20
# Ids decoded and written per step by NpzWriter (64k ids of 16 characters: 4 MB).
_DECODE_ROWS = 65536
# Bytes of rows checked per step by the finiteness test: keeps the rows read from
# disk and the temporary boolean array small instead of the size of the whole matrix.
_CHECK_BYTES = 16 << 20


@dataclasses.dataclass
class TrainingSet:
    """The arrays of a checked npz: what the trainer and the extractor read."""
    vectors: np.ndarray                    # float32, N x D (a FileRows with on_disk=True)
    utt_ids: Optional[np.ndarray] = None   # str, N
    spk_index: Optional[np.ndarray] = None  # int32, N
    spk_labels: Optional[np.ndarray] = None  # str

    @property
    def num_vectors(self):
        return self.vectors.shape[0]

    @property
    def dim(self):
        return self.vectors.shape[1]


# ----------------------------------------------------------------------------
# Writing

def save_npz(path, utt_ids, vectors, utt2spk=None):
    """Write a table; spk_labels sorted, spk_index per utterance when utt2spk is given."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(utt_ids):
        raise UserError('%s: %d ids for vectors of shape %s' % (path, len(utt_ids), vectors.shape))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_npz(path, vectors, utt_ids, *speaker_arrays(utt_ids, utt2spk))


def speaker_arrays(utt_ids, utt2spk):
    """(spk_index, spk_labels): labels sorted, the index of each utterance's speaker;
    (None, None) without utt2spk."""
    if utt2spk is None:
        return None, None
    spk_labels = sorted(set(utt2spk[u] for u in utt_ids))
    index = {spk: i for i, spk in enumerate(spk_labels)}
    return [index[utt2spk[u]] for u in utt_ids], spk_labels


def write_npz(path, vectors, utt_ids, spk_index=None, spk_labels=None):
    """Write atomically (complete or not at all), uncompressed as np.savez lays it out,
    which is what load_npz(on_disk=True) can read in place."""
    arrays = {'vectors': np.asarray(vectors, dtype=np.float32)}
    arrays.update(_small_arrays(utt_ids, spk_index, spk_labels))
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as exc:
        raise UserError(path, 'cannot write: %s' % (exc.strerror or exc)) from None


def _small_arrays(utt_ids, spk_index, spk_labels):
    arrays = {'utt_ids': np.asarray(utt_ids, dtype=str)}
    if spk_index is not None:
        arrays['spk_index'] = np.asarray(spk_index, dtype=np.int32)
        arrays['spk_labels'] = np.asarray(spk_labels, dtype=str)
    return arrays


@dataclasses.dataclass
class KeyRows:
    """Ids as latin-1 bytes: ``table[index]`` (the whole table without index), never
    copied out whole."""
    table: np.ndarray                     # bytes ('S'), 1-D
    index: Optional[np.ndarray] = None    # int, 1-D

    def __len__(self):
        return len(self.table if self.index is None else self.index)

    def rows(self, start, stop):
        return self.table[start:stop] if self.index is None else self.table[self.index[start:stop]]


class NpzWriter:
    """An npz written from rows that arrive chunk by chunk, in bounded memory.

    append() writes the rows (float32) to a raw temp file beside the output;
    finish() writes the archive np.savez would write (uncompressed zip64 members,
    np.load and load_npz(on_disk=True) read it alike): `vectors.npy` by hand, its .npy
    header for the final shape and then the raw rows copied a few MB at a time, and
    the small arrays through np.lib.format. The npz appears only when complete; the
    temp files are removed whatever happens (use it as a context manager).
    """

    def __init__(self, path):
        self.path = path
        self.num_rows = self.dim = 0
        directory = os.path.dirname(os.path.abspath(path))
        self._new_dirs = _missing_dirs(directory)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, self._raw_path = make_temp_beside(path)
        except OSError as exc:
            self._remove_new_dirs()
            raise UserError(path, 'cannot write: %s' % (exc.strerror or exc)) from None
        self._raw = os.fdopen(fd, 'wb')

    def append(self, rows):
        """Rows (n x D) of the table, in order; D must stay the same."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.ndim != 2 or (self.num_rows and rows.shape[1] != self.dim):
            raise UserError(self.path, 'rows of shape %s after rows of dimension %d'
                            % (rows.shape, self.dim))
        self.dim = rows.shape[1]
        self._write(self._raw.write, memoryview(rows).cast('B'))
        self.num_rows += rows.shape[0]

    def finish(self, utt_ids, spk_index=None, spk_labels=None):
        """Write the archive: the rows appended, with their ids and speakers. The ids may
        be str, or latin-1 bytes (a table's keys as ark2npz holds them: a numpy bytes
        array, or KeyRows), written as the same str array a block at a time."""
        self._raw.close()
        if isinstance(utt_ids, np.ndarray) and utt_ids.dtype.kind == 'S':
            utt_ids = KeyRows(utt_ids)
        encoded = isinstance(utt_ids, KeyRows)
        if self.num_rows == 0 or len(utt_ids) != self.num_rows:
            raise UserError(self.path, '%d ids for %d vectors' % (len(utt_ids), self.num_rows))
        header = {'descr': np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                  'fortran_order': False, 'shape': (self.num_rows, self.dim)}
        small = _small_arrays([] if encoded else utt_ids, spk_index, spk_labels)
        try:
            with atomic_open(self.path) as stream, \
                    zipfile.ZipFile(stream, 'w', zipfile.ZIP_STORED, allowZip64=True) as archive:
                # Members as np.savez opens them (zip64 sizes, so no size limit).
                with archive.open('vectors.npy', 'w', force_zip64=True) as member, \
                        open(self._raw_path, 'rb') as raw:
                    np.lib.format.write_array_header_1_0(member, header)
                    for block in iter(lambda: raw.read(_COPY_BYTES), b''):
                        self._write(member.write, block)
                for name, array in small.items():
                    with archive.open(name + '.npy', 'w', force_zip64=True) as member:
                        if name == 'utt_ids' and encoded:
                            self._write_decoded(member, utt_ids)
                        else:
                            np.lib.format.write_array(member, array, allow_pickle=False)
        except OSError as exc:
            raise UserError(self.path, 'cannot write: %s' % (exc.strerror or exc)) from None
        self._new_dirs = []
        self.close()

    def _write_decoded(self, member, ids):
        """The .npy of the str array of the KeyRows ``ids``, as np.lib.format.write_array
        writes it: as wide as the longest id (latin-1: one byte, one character)."""
        width = max(int(np.char.str_len(ids.rows(start, start + _DECODE_ROWS)).max())
                    for start in range(0, len(ids), _DECODE_ROWS))
        dtype = np.dtype('U%d' % width)
        np.lib.format.write_array_header_1_0(member, {
            'descr': np.lib.format.dtype_to_descr(dtype), 'fortran_order': False,
            'shape': (len(ids),)})
        for start in range(0, len(ids), _DECODE_ROWS):
            block = np.char.decode(ids.rows(start, start + _DECODE_ROWS), 'latin1')
            self._write(member.write, block.astype(dtype, copy=False).tobytes())

    def _write(self, write, data):
        try:
            write(data)
        except OSError as exc:
            raise UserError(self.path, 'cannot write: %s' % (exc.strerror or exc)) from None

    def close(self):
        """Remove the raw temp file, and, if no archive was written, the dirs made for it."""
        self._raw.close()
        if os.path.exists(self._raw_path):
            os.unlink(self._raw_path)
        self._remove_new_dirs()

    def _remove_new_dirs(self):
        for directory in self._new_dirs:
            try:
                os.rmdir(directory)
            except OSError:
                break    # not empty: someone else wrote there

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _missing_dirs(directory):
    """The dirs that os.makedirs(directory) would create, deepest first."""
    missing = []
    while directory and not os.path.exists(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    return missing


# ----------------------------------------------------------------------------
# Reading

def load_npz(path, need_utt_ids=False, need_speakers=False, load_utt_ids=True, on_disk=False):
    """Load and check an npz as a TrainingSet; optional arrays are checked when present.

    ``load_utt_ids=False`` leaves the ids on disk (training never needs them).
    ``on_disk=True`` leaves ``vectors`` in the file, as a FileRows that reads the rows
    indexed, when the archive stores it uncompressed as float32 (np.savez's layout, which
    write_npz uses); otherwise it is read into memory as usual.
    """
    path = str(path)
    with open_npz(path) as archive:
        required = ['vectors']
        if need_utt_ids:
            required.append('utt_ids')
        if need_speakers:
            required += ['spk_index', 'spk_labels']
        missing = [name for name in required if name not in archive.files]
        if missing:
            raise UserError(path, f"missing array(s): {', '.join(missing)} "
                                  f"(has: {', '.join(archive.files) or 'none'})")
        vectors = _member_on_disk(path, 'vectors') if on_disk else None
        if vectors is None:
            vectors = check_matrix(path, read_member(archive, 'vectors', path))
            vectors = vectors.astype(np.float32, copy=False)  # no copy for float32
        arrays = {name: read_member(archive, name, path)
                  for name in ('utt_ids', 'spk_index', 'spk_labels')
                  if name in archive.files and (name != 'utt_ids' or load_utt_ids or need_utt_ids)}
    utt_ids = arrays.get('utt_ids')
    if utt_ids is not None:
        utt_ids = check_ids(path, utt_ids, vectors.shape[0])
    check_finite(path, vectors, ids=utt_ids)
    spk_index, spk_labels = _check_speakers(path, vectors.shape[0], arrays.get('spk_index'),
                                            arrays.get('spk_labels'))
    return TrainingSet(vectors, utt_ids, spk_index, spk_labels)


def open_npz(path):
    """np.load of an .npz archive without pickle (it can run code), as a context manager."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(path, 'no such file') from None
    except IsADirectoryError:
        raise UserError(path, 'is a directory, expected an .npz file') from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(path, f'cannot read as .npz: {exc}') from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(path, 'is a single .npy array, expected an .npz archive')
    return archive


def read_member(archive, name, path):
    """One array of an open archive."""
    try:
        return archive[name]
    except ValueError as exc:
        # Object arrays (e.g. a list of Python strings saved as-is) need pickle, which
        # we refuse to load.
        raise UserError(path, f"array '{name}' cannot be loaded without pickle: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(path, f"array '{name}' is unreadable: {exc}") from None


def _member_on_disk(path, name):
    """The float32 matrix ``name`` of an uncompressed .npz as a FileRows, or None where
    the member cannot be read in place (compressed, another dtype, unusual header)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name + '.npy')
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(path, 'rb') as f:
            # The local file header: 30 bytes, then the member's name and extra field,
            # whose lengths may differ from the central directory's.
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b'PK\x03\x04':
                return None
            name_len, extra_len = struct.unpack('<HH', local[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                return None
            shape, fortran_order, dtype = read_header(f)
            offset = f.tell()
        if dtype != np.float32 or fortran_order or len(shape) != 2 or 0 in shape:
            return None
        return FileRows(path, offset, shape, dtype)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, struct.error, UserError):
        return None   # the ordinary reader reports what is wrong


# ----------------------------------------------------------------------------
# Checks (each raises a UserError naming the file and the array)

def check_matrix(path, vectors, name='vectors'):
    """A non-empty N x D numeric array."""
    if vectors.ndim != 2:
        raise UserError(path, f"'{name}' must be 2-D (N x D), got shape {vectors.shape}")
    if not (np.issubdtype(vectors.dtype, np.floating) or np.issubdtype(vectors.dtype, np.integer)):
        raise UserError(path, f"'{name}' must be numeric, got dtype {vectors.dtype}")
    if vectors.shape[0] == 0:
        raise UserError(path, f"'{name}' is empty (0 rows)")
    if vectors.shape[1] == 0:
        raise UserError(path, f"'{name}' has dimension 0")
    return vectors


def check_finite(path, vectors, name='vectors', ids=None):
    """No NaN or Inf, checked block by block (a set on disk is never read whole); the
    first bad row is named by its id when the ids are given."""
    block_rows = max(1, _CHECK_BYTES // max(1, vectors.shape[1] * vectors.dtype.itemsize))
    for start in range(0, vectors.shape[0], block_rows):
        block = vectors[start:start + block_rows]
        if not np.isfinite(block).all():
            row = start + int(np.argwhere(~np.isfinite(block))[0][0])
            which = f"row {row}" + (f" (id {ids[row]})" if ids is not None else "")
            raise UserError(path, f"'{name}' has a non-finite value (NaN/inf) in {which}")


def check_ids(path, ids, count, name='utt_ids'):
    """1-D unique strings, one per vector; bytes are decoded. Returns the str array."""
    ids = _check_strings(path, name, ids)
    if ids.shape[0] != count:
        raise UserError(path, f"'{name}' has {ids.shape[0]} entries for {count} vectors")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise UserError(path, f"id {unique[counts > 1][0]} appears twice in '{name}'")
    return ids


def _check_speakers(path, count, spk_index, spk_labels):
    if (spk_index is None) != (spk_labels is None):
        raise UserError(path, "'spk_index' and 'spk_labels' must be present together")
    if spk_index is None:
        return None, None
    spk_labels = _check_strings(path, 'spk_labels', spk_labels)
    if spk_index.ndim != 1 or spk_index.shape[0] != count:
        raise UserError(path, f"'spk_index' must have shape ({count},), got {spk_index.shape}")
    if not np.issubdtype(spk_index.dtype, np.integer):
        raise UserError(path, f"'spk_index' must be integer, got dtype {spk_index.dtype}")
    low, high = int(spk_index.min()), int(spk_index.max())
    if low < 0 or high >= spk_labels.shape[0]:
        raise UserError(path, f"'spk_index' out of range [0, {spk_labels.shape[0]}): "
                              f"min {low}, max {high}")
    return spk_index.astype(np.int32, copy=False), spk_labels


def _check_strings(path, name, array):
    if array.ndim != 1:
        raise UserError(path, f"'{name}' must be 1-D, got shape {array.shape}")
    if array.dtype.kind == 'S':  # bytes from an older writer: decode once
        try:
            array = np.char.decode(array, 'utf-8')
        except UnicodeDecodeError as exc:
            raise UserError(path, f"'{name}' is not valid UTF-8: {exc}") from None
    if array.dtype.kind != 'U':
        raise UserError(path, f"'{name}' must be a string array, got dtype {array.dtype}")
    return array
