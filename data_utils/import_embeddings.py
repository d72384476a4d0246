"""Embeddings from other toolkits (WeSpeaker, SpeechBrain, ...) as a Kaldi vector table.

  python -m data_utils.import_embeddings SRC ark,scp:out.ark,out.scp [--utt2spk FILE]

SRC is either a folder of .npy files, one embedding each, named <utt-id>.npy, or an
.npz with the ids in `ids` or `utt_ids` (a string array) and the N x D embeddings in
`vectors` or `embeddings`. An embedding stored with extra axes of length 1 (e.g. a
1 x 1 x 192 tensor) is taken as the vector it holds. Everything is checked before
anything is written: one dimension for all, finite values, unique ids, ids without
whitespace (Kaldi keys), and with --utt2spk that every utterance it lists has a vector.
The table is written sorted by id, as Kaldi's random-access readers expect.
"""
import argparse
import os
import sys
import zipfile

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.datadir import read_pairs

PROG = 'import_embeddings'
ID_NAMES = ('ids', 'utt_ids')
VECTOR_NAMES = ('vectors', 'embeddings')


def _check_id(utt, where):
    # Kaldi keys are whitespace-free byte strings; we keep to ASCII so that the key
    # written is the same bytes as the id in a UTF-8 utt2spk.
    if not utt or not utt.isascii() or any(c.isspace() for c in utt):
        raise kt.UserError('%s: id %r is not a Kaldi key (empty, whitespace or non-ASCII)'
                            % (where, utt))


def _as_vector(array, where):
    """A 1-D float64 vector from an array with at most one axis longer than 1."""
    if array.dtype.kind not in 'fiu':
        raise kt.UserError('%s: holds %s values, not numbers' % (where, array.dtype))
    if array.size == 0 or sum(n > 1 for n in array.shape) > 1:
        raise kt.UserError('%s: shape %s is not one vector' % (where, array.shape))
    vec = array.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(vec)):
        raise kt.UserError('%s: contains NaN or Inf' % where)
    return vec


def load_npy_dir(folder):
    """(ids, N x D matrix) from <folder>/<id>.npy, ids sorted."""
    names = sorted(n for n in os.listdir(folder) if n.endswith('.npy'))
    if not names:
        raise kt.UserError('%s: no .npy files' % folder)
    ids, rows, first = [], [], None
    for name in names:
        path = os.path.join(folder, name)
        utt = name[:-len('.npy')]
        _check_id(utt, path)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise kt.UserError('%s: not a readable .npy (%s)' % (path, err))
        vec = _as_vector(array, path)
        if first is None:
            first = (path, len(vec))
        elif len(vec) != first[1]:
            raise kt.UserError('%s: dimension %d, but %s has %d' % (path, len(vec), *first))
        ids.append(utt)
        rows.append(vec)
    return ids, np.vstack(rows)


def _pick(arrays, choices, path):
    found = [name for name in choices if name in arrays]
    if len(found) != 1:
        raise kt.UserError('%s: needs exactly one of the arrays %s, has %s'
                            % (path, ' / '.join(choices), ', '.join(sorted(arrays)) or 'none'))
    return arrays[found[0]]


def load_npz(path):
    """(ids, N x D matrix) from an .npz, ids sorted with their rows."""
    try:
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, 'files'):
            raise ValueError('a single array, not an archive of named arrays')
        with data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        # Object arrays (e.g. a list of Python strings saved as-is) need pickle, which we
        # refuse for files from elsewhere; they land here too.
        raise kt.UserError('%s: not a readable npz without pickle (%s)' % (path, err))
    ids, vectors = _pick(arrays, ID_NAMES, path), _pick(arrays, VECTOR_NAMES, path)
    if ids.ndim != 1 or ids.dtype.kind not in 'US':
        raise kt.UserError('%s: ids must be a 1-D string array, got %s of shape %s'
                            % (path, ids.dtype, ids.shape))
    if vectors.dtype.kind not in 'fiu' or vectors.ndim != 2 or vectors.shape[0] == 0:
        raise kt.UserError('%s: vectors must be a non-empty N x D numeric array, got %s of shape %s'
                            % (path, vectors.dtype, vectors.shape))
    if len(ids) != vectors.shape[0]:
        raise kt.UserError('%s: %d ids for %d vectors' % (path, len(ids), vectors.shape[0]))
    ids = [i.decode('utf-8') if isinstance(i, bytes) else str(i) for i in ids.tolist()]
    for utt in ids:
        _check_id(utt, path)
    bad = np.flatnonzero(~np.all(np.isfinite(vectors), axis=1))
    if len(bad):
        raise kt.UserError('%s: vector of %s contains NaN or Inf' % (path, ids[bad[0]]))
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], vectors[order].astype(np.float64)


def load_embeddings(src):
    if os.path.isdir(src):
        ids, matrix = load_npy_dir(src)
    elif os.path.isfile(src):
        ids, matrix = load_npz(src)
    else:
        raise kt.UserError('%s: no such file or folder' % src)
    seen = set()
    for utt in ids:
        if utt in seen:
            raise kt.UserError('%s: id %s appears twice' % (src, utt))
        seen.add(utt)
    return ids, matrix


def check_coverage(ids, utt2spk_path, src):
    """Every utterance of utt2spk must have a vector."""
    have = set(ids)
    missing = [u for u in read_pairs(utt2spk_path, 'utt2spk') if u not in have]
    if missing:
        raise kt.UserError('%s: names %d utterances with no vector in %s (first: %s)'
                            % (utt2spk_path, len(missing), src, missing[0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='folder of <utt>.npy files, or an .npz')
    parser.add_argument('wspecifier', help='e.g. ark,scp:out.ark,out.scp')
    parser.add_argument('--utt2spk', help='check that every utterance in it has a vector')
    args = parser.parse_args(argv)
    try:
        ids, matrix = load_embeddings(args.src)
        if args.utt2spk:
            check_coverage(ids, args.utt2spk, args.src)
        kt.write_vectors(args.wspecifier, ids, matrix)
    except kt.UserError as err:
        print('ERROR (%s): %s' % (PROG, err), file=sys.stderr)
        sys.exit(1)
    print('%s: wrote %d vectors of dimension %d' % (PROG, matrix.shape[0], matrix.shape[1]),
          file=sys.stderr)


if __name__ == '__main__':
    main()
