"""How Gaussian an embedding is: skewness and kurtosis, as in Table 2 of the paper.

  python local/analysis/gaussianity.py --front-end NAME --vectors RSPEC --utt2spk FILE \\
      --out-tsv exp/results/gaussianity.tsv

For each dimension we take the skewness and the excess kurtosis (both 0 for a
Gaussian) and average them over dimensions, at two levels: the utterance level
uses every vector, the speaker level the mean vector of each speaker. Positive and
negative skewness cancel in that average, so the mean absolute skewness is given
as well. The two rows of the front-end replace its earlier rows in the TSV (so a
re-run updates rather than appends), and the markdown twin gaussianity.md beside
it is regenerated; both files are replaced atomically.
"""
import argparse
import contextlib
import fcntl
import os
import sys

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.datadir import check_coverage, read_pairs
from data_utils.errors import UserError, file_errors, run_main
from analysis.results_table import FRONT_ENDS, write_atomic

PROG = 'gaussianity.py'
COLUMNS = ['front_end', 'level', 'skewness', 'abs_skewness', 'kurtosis']
LEVELS = ['utterance', 'speaker']
# The recipes name front-ends by model (xvector, ae, vae, cvae); people say x-vector etc.
ALIASES = {label: name for name, label in FRONT_ENDS}


def moments(matrix):
    """Average over dimensions of the per-dimension skewness, |skewness| and excess kurtosis.

    Population moments (scipy.stats' bias=True, fisher=True): skew = m3 / m2^1.5 and kurtosis
    = m4 / m2^2 - 3, with m_k the k-th central moment over the rows (1/n, not 1/(n-1)).
    The paper does not name its estimator; these are the textbook definitions, and the
    bias-corrected ones differ by O(1/n), far below the differences Table 2 reports.
    Dimensions with no spread (a dead unit of an auto-encoder, say) have no defined
    skewness and are left out of the averages; their number is returned so the caller
    can say so.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise UserError('need at least 2 vectors, got %d' % len(matrix))
    data = matrix[:, np.ptp(matrix, axis=0) > 0]
    # By hand rather than scipy.stats (whose import alone takes ~1.5 s of each job).
    centred = data - data.mean(axis=0)
    m2 = np.mean(centred ** 2, axis=0)
    with np.errstate(divide='ignore', invalid='ignore'):
        skew = np.mean(centred ** 3, axis=0) / m2 ** 1.5
        kurt = np.mean(centred ** 4, axis=0) / m2 ** 2 - 3
    # A spread lost in rounding error (below the resolution of the values themselves)
    # has no defined skewness either; scipy's rule, kept so the two agree.
    lost = m2 <= (np.finfo(np.float64).resolution * data.mean(axis=0)) ** 2
    skew[lost] = np.nan
    kurt[lost] = np.nan
    defined = np.isfinite(skew) & np.isfinite(kurt)
    if not np.any(defined):
        raise UserError('no dimension varies: skewness and kurtosis are undefined')
    skew, kurt = skew[defined], kurt[defined]
    return {'skewness': float(np.mean(skew)), 'abs_skewness': float(np.mean(np.abs(skew))),
            'kurtosis': float(np.mean(kurt))}, matrix.shape[1] - int(np.sum(defined))


def speaker_means(keys, matrix, utt2spk):
    """(speakers, S x D matrix of per-speaker mean vectors), speakers sorted."""
    speakers = sorted(set(utt2spk[k] for k in keys))
    index = {spk: i for i, spk in enumerate(speakers)}
    rows = np.array([index[utt2spk[k]] for k in keys])
    sums = np.zeros((len(speakers), matrix.shape[1]))
    np.add.at(sums, rows, matrix)
    counts = np.bincount(rows, minlength=len(speakers))
    return speakers, sums / counts[:, None]


def gaussianity(keys, matrix, utt2spk):
    """{level: (moments dict, number of constant dims)} for the utterance and speaker levels."""
    _, means = speaker_means(keys, matrix, utt2spk)
    results = {}
    for level, data in (('utterance', matrix), ('speaker', means)):
        try:
            results[level] = moments(data)
        except UserError as err:
            raise UserError('%s level: %s' % (level, err))
    return results


def load(rspecifier, utt2spk_path):
    """Keys, vectors and utt2spk; every vector must have a speaker."""
    keys, matrix = kt.read_vector_table(rspecifier)
    where = kt.parse_rspecifier(rspecifier)[2]
    if not keys:
        raise UserError('%s: no vectors' % where)
    utt2spk = read_pairs(utt2spk_path, 'utt2spk')
    check_coverage(keys, utt2spk, where, utt2spk_path, every_utterance=False)
    return keys, matrix, utt2spk


# ----------------------------------------------------------------------------
# The table

def canonical(front_end):
    return ALIASES.get(front_end, front_end)


def _order(row):
    names = [name for name, _ in FRONT_ENDS]
    fe = row['front_end']
    return (names.index(fe) if fe in names else len(names), fe, LEVELS.index(row['level']))


def read_table(path):
    """Rows of an existing gaussianity.tsv (none if it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [line.rstrip('\n').split('\t') for line in f if line.strip()]
    if not lines:
        return []
    if lines[0] != COLUMNS:
        raise UserError('%s: header %s, expected %s' % (path, '\t'.join(lines[0]), '\t'.join(COLUMNS)))
    rows = []
    for lineno, fields in enumerate(lines[1:], 2):
        if len(fields) != len(COLUMNS) or fields[1] not in LEVELS:
            raise UserError('%s: line %d: expected %d tab-separated fields with level %s'
                                % (path, lineno, len(COLUMNS), ' or '.join(LEVELS)))
        rows.append(dict(zip(COLUMNS, fields)))
    return rows


def update(rows, front_end, results):
    """The table with the rows of `front_end` replaced by `results`, in display order."""
    kept = [r for r in rows if r['front_end'] != front_end]
    for level in LEVELS:
        values = results[level][0]
        kept.append(dict(front_end=front_end, level=level,
                         **{k: '%.4f' % values[k] for k in COLUMNS[2:]}))
    return sorted(kept, key=_order)


def tsv_text(rows):
    lines = [COLUMNS] + [[row[c] for c in COLUMNS] for row in rows]
    return ''.join('\t'.join(fields) + '\n' for fields in lines)


def markdown(rows):
    labels = dict(FRONT_ENDS)
    out = ['| Front-end | Level | Skewness | Mean abs. skewness | Excess kurtosis |',
           '|---|---|---:|---:|---:|']
    for r in rows:
        out.append('| %s | %s | %s | %s | %s |' % (labels.get(r['front_end'], r['front_end']),
                                                  r['level'], r['skewness'], r['abs_skewness'],
                                                  r['kurtosis']))
    return '\n'.join(out) + '\n'


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock beside `path`: front-ends run in parallel must not lose rows."""
    with open(os.path.join(os.path.dirname(os.path.abspath(path)),
                           '.' + os.path.basename(path) + '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--front-end', required=True,
                        help='xvector|ae|vae|cvae (or x-vector, a-vector, v-vector, c-vector)')
    parser.add_argument('--vectors', required=True, help='rspecifier, e.g. scp:data/train/xvector.scp')
    parser.add_argument('--utt2spk', required=True)
    parser.add_argument('--out-tsv', required=True, help='e.g. exp/results/gaussianity.tsv')
    args = parser.parse_args(argv)
    front_end = canonical(args.front_end)
    md_path = os.path.join(os.path.dirname(args.out_tsv), 'gaussianity.md')
    if not front_end or any(c.isspace() for c in front_end):
        raise UserError("'%s': not a front-end name" % args.front_end)
    keys, matrix, utt2spk = load(args.vectors, args.utt2spk)
    try:
        results = gaussianity(keys, matrix, utt2spk)
    except UserError as err:
        raise UserError('%s: %s' % (kt.parse_rspecifier(args.vectors)[2], err))
    with file_errors(args.out_tsv):
        os.makedirs(os.path.dirname(os.path.abspath(args.out_tsv)), exist_ok=True)
        with locked(args.out_tsv):
            rows = update(read_table(args.out_tsv), front_end, results)
            write_atomic(args.out_tsv, tsv_text(rows))
            write_atomic(md_path, markdown(rows))
    for level in LEVELS:
        if results[level][1]:
            print('WARNING (%s): %s level: %d constant dimensions left out of the averages'
                  % (PROG, level, results[level][1]), file=sys.stderr)
    print(markdown(rows), end='')


if __name__ == '__main__':
    run_main(PROG, main)
