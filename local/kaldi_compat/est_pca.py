"""est-pca: estimate a PCA transform from vectors (or feature matrices).

  est-pca [options] (<feature-rspecifier>|<vector-rspecifier>) <pca-matrix-out>
  e.g.: est-pca --read-vectors=true --dim=200 ark:ivectors.ark pca.mat

As Kaldi's: the rows of the output are the eigenvectors of the (centred) data
covariance, largest eigenvalue first, truncated to --dim rows (all if <= 0).
--normalize-variance scales each row by 1/sqrt(eigenvalue) (eigenvalues below
1e-15 are treated as 1e-15, with a warning); --normalize-mean appends an offset
column that removes the mean. By default the input is a table of matrices (one
row per frame); --read-vectors=true reads a table of vectors.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import write_matrix
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.linalg import sorted_eig
from kaldi_compat.streaming import vector_batches

NAME = 'est-pca'


class Scatter:
    """Sum and scatter (sum of x x^T) of vectors in double, gathered 10,000 rows at a
    time so that each is one symmetric rank-k product (numpy's a.T @ a is BLAS syrk)."""

    def __init__(self, dim, rows=10000):
        self.dim = dim
        self.total = np.zeros(dim)
        self.sumsq = np.zeros((dim, dim))
        self.buffer = np.empty((rows, dim))
        self.pending = 0
        self.added = 0

    def add(self, rows):
        start = 0
        while start < rows.shape[0]:
            take = min(self.buffer.shape[0] - self.pending, rows.shape[0] - start)
            self.buffer[self.pending:self.pending + take] = rows[start:start + take]
            self.pending += take
            start += take
            if self.pending == self.buffer.shape[0]:
                self._flush()

    def _flush(self):
        mat = self.buffer[:self.pending]
        self.total += mat.sum(axis=0)
        self.sumsq += mat.T @ mat
        self.added += self.pending
        self.pending = 0

    def count(self):
        """The number of rows (those still buffered are accumulated first)."""
        self._flush()
        return self.added


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('binary', True, 'Write accumulators in binary mode.')
    parser.add('dim', -1, 'Feature dimension requested (if <= 0, uses full feature dimension')
    parser.add('read-vectors', False, 'If true, read in single vectors instead of feature '
               'matrices')
    parser.add('normalize-variance', False, 'If true, make a transform that normalizes '
               'variance to one.')
    parser.add('normalize-mean', False, 'If true, output an affine transform that subtracts '
               'the data mean.')
    parser.add('write-full-matrix', '', 'Write full version of the matrix to this location '
               '(including rejected rows)')
    opts, args = parser.parse(argv)
    rspecifier, pca_wxfilename = args

    num_done = num_err = 0
    stats = None
    what = 'vector' if opts.read_vectors else 'feature matrix'
    # Vectors come in runs of one dimension, as the fast readers cut them out of the
    # table; matrices one by one (each is a run of frames).
    batches = (vector_batches(rspecifier) if opts.read_vectors else
               (([key], np.atleast_2d(value)) for key, value in kt.read_matrices(rspecifier)))
    for keys, rows in batches:
        if rows.size == 0:
            for key in keys:
                warn(NAME, 'Empty input %s for %s' % (what, key))
            num_err += len(keys)
            continue
        if stats is None:
            stats = Scatter(rows.shape[1])
        if rows.shape[1] != stats.dim:
            for _ in keys:
                warn(NAME, 'Feature dimension mismatch %d vs. %d' % (stats.dim, rows.shape[1]))
            num_err += len(keys)
            continue
        num_done += len(keys)
        # Kaldi reads BaseFloat and accumulates in double.
        stats.add(rows if rows.dtype == np.float32 else rows.astype(np.float32))
    count = stats.count() if stats else 0
    log(NAME, 'Accumulated stats from %d %s, %d with errors; %d frames.'
        % (num_done, 'vectors' if opts.read_vectors else 'feature files', num_err, count))
    if num_done == 0:
        raise UserError('No data accumulated.')
    mean = stats.total / count
    covar = stats.sumsq / count - np.outer(mean, mean)

    full_dim = mean.shape[0]
    dim = opts.dim if opts.dim > 0 else full_dim
    if dim > full_dim:
        raise UserError('Final dimension %d is greater than feature dimension %d'
                            % (dim, full_dim))
    s, p = sorted_eig(covar)
    log(NAME, 'Eigenvalues in PCA are [ %s ]' % ' '.join('%g' % v for v in s))
    log(NAME, 'Sum of PCA eigenvalues is %g, sum of kept eigenvalues is %g'
        % (s.sum(), s[:dim].sum()))
    transform = p.T.copy()
    if opts.normalize_variance:
        variances = s.copy()
        tiny = variances < 1.0e-15
        for v in s[tiny]:
            warn(NAME, '--normalize-variance option: very tiny variance %g encountered, '
                 'treating as 1e-15' % v)
        variances[tiny] = 1.0e-15
        transform *= (1.0 / np.sqrt(variances))[:, None]
    if opts.normalize_mean:
        transform = np.hstack([transform, -(transform @ mean)[:, None]])
    transform = transform.astype(np.float32)
    if opts.write_full_matrix:
        write_matrix(opts.write_full_matrix, transform, binary=opts.binary)
    write_matrix(pca_wxfilename, transform[:dim], binary=opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
