"""Statistics of a training set that may stay on disk (data_utils.npz_io reads it)."""
import numpy as np

# Rows per block of the float64 statistics (8192 x 512 dims: 32 MB).
_STAT_ROWS = 8192


def column_mean_std(vectors):
    """Per-dimension mean and standard deviation, in float64 and block by block (two
    passes), so a set on disk is never copied whole into memory."""
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
