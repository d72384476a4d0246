"""Loading and checking the ``.npz`` embedding sets written by data_utils.

Arrays: ``vectors`` (float32 N x D), ``utt_ids`` (str, N), ``spk_index``
(int, N; indexes ``spk_labels``) and ``spk_labels`` (str).  Every problem is
raised as a UserError naming the file, so the entry points can print one line.
Only numpy is needed here: bad input is rejected before TensorFlow's slow import.
"""
import dataclasses
import struct
import zipfile
from typing import Optional

import numpy as np

from data_utils.errors import UserError

# Rows checked per step by the finiteness test: keeps the temporary boolean
# array small instead of the size of the whole matrix.
_CHECK_ROWS = 65536
# Rows per block of the float64 statistics (8192 x 512 dims: 32 MB).
_STAT_ROWS = 8192


@dataclasses.dataclass
class Dataset:
    vectors: np.ndarray                    # float32, N x D
    utt_ids: Optional[np.ndarray] = None   # str, N
    spk_index: Optional[np.ndarray] = None  # int32, N
    spk_labels: Optional[np.ndarray] = None  # str

    @property
    def num_vectors(self):
        return self.vectors.shape[0]

    @property
    def dim(self):
        return self.vectors.shape[1]


def load_dataset(path, need_utt_ids=False, need_speakers=False, load_utt_ids=True, mmap=False):
    """Load and validate an npz file; optional arrays are checked when present.

    ``load_utt_ids=False`` leaves the ids on disk (training never needs them).
    ``mmap=True`` maps ``vectors`` read-only from the file instead of reading it into
    memory, when the archive stores it uncompressed as float32 (np.savez's layout, which
    data_utils writes); otherwise it is read as usual.
    """
    path = str(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(path, "no such file") from None
    except IsADirectoryError:
        raise UserError(path, "is a directory, expected an .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(path, f"cannot read as .npz: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(path, "is a single .npy array, expected an .npz archive")
    with archive:
        required = ["vectors"]
        if need_utt_ids:
            required.append("utt_ids")
        if need_speakers:
            required += ["spk_index", "spk_labels"]
        missing = [name for name in required if name not in archive.files]
        if missing:
            raise UserError(path, f"missing array(s): {', '.join(missing)} (has: {', '.join(archive.files) or 'none'})")
        mapped = _memmap_member(path, "vectors") if mmap else None
        arrays = {name: _read_array(archive, name, path)
                  for name in ("vectors", "utt_ids", "spk_index", "spk_labels")
                  if name in archive.files and (name != "utt_ids" or load_utt_ids or need_utt_ids)
                  and not (name == "vectors" and mapped is not None)}
        if mapped is not None:
            arrays["vectors"] = mapped
    return _check(path, **arrays)


def column_mean_std(vectors):
    """Per-dimension mean and standard deviation, in float64 and block by block (two
    passes), so a memory-mapped set is never copied whole into memory."""
    n = vectors.shape[0]
    total = np.zeros(vectors.shape[1])
    for start in range(0, n, _STAT_ROWS):
        total += vectors[start:start + _STAT_ROWS].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros(vectors.shape[1])
    for start in range(0, n, _STAT_ROWS):
        centred = vectors[start:start + _STAT_ROWS] - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean, np.sqrt(squares / n)


def _memmap_member(path, name):
    """A read-only memmap of the float32 array ``name`` of an uncompressed .npz, or None
    where the member cannot be mapped (compressed, another dtype, unusual header)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(path, "rb") as f:
            # The local file header: 30 bytes, then the member's name and extra field,
            # whose lengths may differ from the central directory's.
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = struct.unpack("<HH", local[26:30])
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
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, struct.error):
        return None   # the ordinary reader reports what is wrong


def _read_array(archive, name, path):
    try:
        return archive[name]
    except ValueError as exc:
        # Object arrays need pickle, which we refuse to load (it can run code).
        raise UserError(path, f"array '{name}' cannot be loaded without pickle: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(path, f"array '{name}' is unreadable: {exc}") from None


def _check(path, vectors, utt_ids=None, spk_index=None, spk_labels=None):
    if vectors.ndim != 2:
        raise UserError(path, f"'vectors' must be 2-D (N x D), got shape {vectors.shape}")
    if not (np.issubdtype(vectors.dtype, np.floating) or np.issubdtype(vectors.dtype, np.integer)):
        raise UserError(path, f"'vectors' must be numeric, got dtype {vectors.dtype}")
    n, dim = vectors.shape
    if n == 0:
        raise UserError(path, "'vectors' is empty (0 rows)")
    if dim == 0:
        raise UserError(path, "'vectors' has dimension 0")
    vectors = vectors.astype(np.float32, copy=False)  # no copy for float32 input
    for start in range(0, n, _CHECK_ROWS):
        block = vectors[start:start + _CHECK_ROWS]
        if not np.isfinite(block).all():
            row = start + int(np.argwhere(~np.isfinite(block))[0][0])
            raise UserError(path, f"'vectors' has a non-finite value (NaN/inf) in row {row}")

    if utt_ids is not None:
        utt_ids = _check_strings(path, "utt_ids", utt_ids)
        if utt_ids.shape[0] != n:
            raise UserError(path, f"'utt_ids' has {utt_ids.shape[0]} entries for {n} vectors")
        unique, counts = np.unique(utt_ids, return_counts=True)
        if (counts > 1).any():
            raise UserError(path, f"duplicate utterance id {str(unique[counts > 1][0])!r}")

    if (spk_index is None) != (spk_labels is None):
        raise UserError(path, "'spk_index' and 'spk_labels' must be present together")
    if spk_index is not None:
        spk_labels = _check_strings(path, "spk_labels", spk_labels)
        if spk_index.ndim != 1 or spk_index.shape[0] != n:
            raise UserError(path, f"'spk_index' must have shape ({n},), got {spk_index.shape}")
        if not np.issubdtype(spk_index.dtype, np.integer):
            raise UserError(path, f"'spk_index' must be integer, got dtype {spk_index.dtype}")
        low, high = int(spk_index.min()), int(spk_index.max())
        if low < 0 or high >= spk_labels.shape[0]:
            raise UserError(path, f"'spk_index' out of range [0, {spk_labels.shape[0]}): "
                                  f"min {low}, max {high}")
        spk_index = spk_index.astype(np.int32, copy=False)
    return Dataset(vectors, utt_ids, spk_index, spk_labels)


def _check_strings(path, name, array):
    if array.ndim != 1:
        raise UserError(path, f"'{name}' must be 1-D, got shape {array.shape}")
    if array.dtype.kind == "S":  # bytes from an older writer: decode once
        try:
            array = np.char.decode(array, "utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(path, f"'{name}' is not valid UTF-8: {exc}") from None
    if array.dtype.kind != "U":
        raise UserError(path, f"'{name}' must be a string array, got dtype {array.dtype}")
    return array
