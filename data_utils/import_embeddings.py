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

import numpy as np

from data_utils import kaldi_table as kt
from data_utils import npz_io
from data_utils.datadir import check_coverage, read_pairs
from data_utils.errors import UserError, run_main

PROG = 'import_embeddings'
ID_NAMES = ('ids', 'utt_ids')
VECTOR_NAMES = ('vectors', 'embeddings')


def _check_id(utt, where):
    # Kaldi keys are whitespace-free byte strings; we keep to ASCII so that the key
    # written is the same bytes as the id in a UTF-8 utt2spk.
    if not utt or not utt.isascii() or any(c.isspace() for c in utt):
        raise UserError('%s: id %r is not a Kaldi key (empty, whitespace or non-ASCII)'
                            % (where, utt))


def _as_vector(array, where):
    """A 1-D float64 vector from an array with at most one axis longer than 1."""
    if array.dtype.kind not in 'fiu':
        raise UserError('%s: holds %s values, not numbers' % (where, array.dtype))
    if array.size == 0 or sum(n > 1 for n in array.shape) > 1:
        raise UserError('%s: shape %s is not one vector' % (where, array.shape))
    vec = array.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(vec)):
        raise UserError('%s: contains NaN or Inf' % where)
    return vec


def load_npy_dir(folder):
    """(ids, N x D matrix) from <folder>/<id>.npy, ids sorted."""
    names = sorted(n for n in os.listdir(folder) if n.endswith('.npy'))
    if not names:
        raise UserError('%s: no .npy files' % folder)
    ids, rows, first = [], [], None
    for name in names:
        path = os.path.join(folder, name)
        utt = name[:-len('.npy')]
        _check_id(utt, path)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise UserError('%s: not a readable .npy (%s)' % (path, err))
        vec = _as_vector(array, path)
        if first is None:
            first = (path, len(vec))
        elif len(vec) != first[1]:
            raise UserError('%s: dimension %d, but %s has %d' % (path, len(vec), *first))
        ids.append(utt)
        rows.append(vec)
    return ids, np.vstack(rows)


def _pick(names, choices, path):
    found = [name for name in choices if name in names]
    if len(found) != 1:
        raise UserError('%s: needs exactly one of the arrays %s, has %s'
                            % (path, ' / '.join(choices), ', '.join(sorted(names)) or 'none'))
    return found[0]


def load_npz(path):
    """(ids, N x D matrix) from an .npz, ids sorted with their rows."""
    with npz_io.open_npz(path) as archive:
        id_name = _pick(archive.files, ID_NAMES, path)
        vector_name = _pick(archive.files, VECTOR_NAMES, path)
        ids = npz_io.read_member(archive, id_name, path)
        vectors = npz_io.read_member(archive, vector_name, path)
    npz_io.check_matrix(path, vectors, vector_name)
    ids = npz_io.check_ids(path, ids, vectors.shape[0], id_name).tolist()
    for utt in ids:
        _check_id(utt, path)
    npz_io.check_finite(path, vectors, vector_name, ids)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], vectors[order].astype(np.float64)


def load_embeddings(src):
    if os.path.isdir(src):
        ids, matrix = load_npy_dir(src)
    elif os.path.isfile(src):
        ids, matrix = load_npz(src)
    else:
        raise UserError('%s: no such file or folder' % src)
    seen = set()
    for utt in ids:
        if utt in seen:
            raise UserError('%s: id %s appears twice' % (src, utt))
        seen.add(utt)
    return ids, matrix


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='folder of <utt>.npy files, or an .npz')
    parser.add_argument('wspecifier', help='e.g. ark,scp:out.ark,out.scp')
    parser.add_argument('--utt2spk', help='check that every utterance in it has a vector')
    args = parser.parse_args(argv)
    ids, matrix = load_embeddings(args.src)
    if args.utt2spk:
        # Vectors beyond those utt2spk names are kept: it may list a subset.
        check_coverage(ids, read_pairs(args.utt2spk, 'utt2spk'), args.src, args.utt2spk,
                       every_vector=False)
    kt.write_vectors(args.wspecifier, ids, matrix)
    print('%s: wrote %d vectors of dimension %d' % (PROG, matrix.shape[0], matrix.shape[1]),
          file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
