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

NAME = 'est-pca'


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
    count = 0
    total = sumsq = None
    pending = []        # vectors wait here to be accumulated 10k at a time (one matrix product)

    def accumulate(mat):
        nonlocal total, sumsq, count
        total += mat.sum(axis=0)
        sumsq += mat.T @ mat
        count += mat.shape[0]

    records = (kt.read_vectors(rspecifier) if opts.read_vectors
               else kt.read_matrices(rspecifier))
    for key, value in records:
        # Kaldi reads BaseFloat and accumulates in double.
        mat = np.atleast_2d(np.asarray(value, dtype=np.float32)).astype(np.float64)
        if mat.size == 0:
            warn(NAME, 'Empty input %s for %s' % ('vector' if opts.read_vectors
                                                   else 'feature matrix', key))
            num_err += 1
            continue
        if total is None:
            total = np.zeros(mat.shape[1])
            sumsq = np.zeros((mat.shape[1], mat.shape[1]))
        if mat.shape[1] != total.shape[0]:
            warn(NAME, 'Feature dimension mismatch %d vs. %d' % (total.shape[0], mat.shape[1]))
            num_err += 1
            continue
        num_done += 1
        if opts.read_vectors:
            pending.append(mat)
            if len(pending) == 10000:
                accumulate(np.vstack(pending))
                pending = []
        else:
            accumulate(mat)
    if pending:
        accumulate(np.vstack(pending))
    log(NAME, 'Accumulated stats from %d %s, %d with errors; %d frames.'
        % (num_done, 'vectors' if opts.read_vectors else 'feature files', num_err, count))
    if num_done == 0:
        raise UserError('No data accumulated.')
    mean = total / count
    covar = sumsq / count - np.outer(mean, mean)

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
