"""The npz form of a vector table that the TF trainer reads.

Arrays: vectors (float32, N x D), utt_ids (str, N), and for labelled sets
spk_index (int32, N, indexes spk_labels) and spk_labels (str, S). Keys keep the
order of the source table, so converting back writes the same keys in the same order.
"""
import os

import numpy as np

from data_utils.atomic import atomic_write

from data_utils import kaldi_table as kt


def save_npz(path, utt_ids, vectors, utt2spk=None):
    """Write atomically; spk_labels sorted, spk_index per utterance when utt2spk is given."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(utt_ids):
        raise kt.UserError('%s: %d ids for vectors of shape %s' % (path, len(utt_ids), vectors.shape))
    arrays = {'vectors': vectors, 'utt_ids': np.array(utt_ids, dtype=str)}
    if utt2spk is not None:
        labels = sorted(set(utt2spk[u] for u in utt_ids))
        index = {spk: i for i, spk in enumerate(labels)}
        arrays['spk_index'] = np.array([index[utt2spk[u]] for u in utt_ids], dtype=np.int32)
        arrays['spk_labels'] = np.array(labels, dtype=str)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path):
    """dict of arrays, checked: vectors 2-D finite, ids matching, speaker index in range."""
    if not os.path.isfile(path):
        raise kt.UserError('%s: no such file' % path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise kt.UserError('%s: not a readable npz (%s)' % (path, err))
    for name in ('vectors', 'utt_ids'):
        if name not in arrays:
            raise kt.UserError('%s: has no array %r' % (path, name))
    vectors = arrays['vectors']
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise kt.UserError('%s: vectors must be a non-empty N x D array, got shape %s'
                            % (path, vectors.shape))
    if len(arrays['utt_ids']) != vectors.shape[0]:
        raise kt.UserError('%s: %d utt_ids for %d vectors' % (path, len(arrays['utt_ids']),
                                                              vectors.shape[0]))
    if not np.all(np.isfinite(vectors)):
        raise kt.UserError('%s: vectors contain NaN or Inf' % path)
    if 'spk_index' in arrays:
        index, labels = arrays['spk_index'], arrays.get('spk_labels', np.array([]))
        if len(index) != vectors.shape[0] or index.min() < 0 or index.max() >= len(labels):
            raise kt.UserError('%s: spk_index does not index spk_labels' % path)
    return arrays
