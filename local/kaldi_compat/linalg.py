"""Small linear-algebra helpers shared by the LDA, PCA and PLDA tools.

They follow the conventions of Kaldi's matrix library where these matter for the
results: eigenvalues sorted from largest to smallest (Kaldi's SortSvd), the
"normalising transform" of a covariance as the inverse of its Cholesky factor,
and options declared as BaseFloat in Kaldi rounded to single precision.
Eigenvector signs are arbitrary, in Kaldi as here.
"""
import numpy as np

from data_utils.errors import UserError


def base_float(value):
    """An option Kaldi declares as BaseFloat (float32), as the double it becomes."""
    return float(np.float32(value))


def symmetric(mat):
    """Kaldi stores covariances as packed symmetric matrices; keep ours exactly symmetric."""
    return 0.5 * (mat + mat.T)


def sorted_eig(mat, by_absolute_value=True):
    """Eigen-decomposition of a symmetric matrix: (s, U) with mat = U diag(s) U^T.

    Eigenvalues come largest first, as Kaldi's SortSvd leaves them; by default it
    sorts on absolute value (only differs when an eigenvalue is negative).
    """
    if not np.all(np.isfinite(mat)):
        raise UserError('cannot take the eigenvalues of a matrix with NaN or Inf entries')
    s, u = np.linalg.eigh(symmetric(mat))
    key = np.abs(s) if by_absolute_value else s
    order = np.argsort(-key, kind='stable')
    return s[order], u[:, order]


def inverse_cholesky(covar, what):
    """C^{-1} where covar = C C^T (C lower triangular): makes `covar` unit.

    Raises a one-line UserError naming `what` when the matrix is not positive
    definite (singular covariance: too few data, or data in a subspace).
    """
    try:
        chol = np.linalg.cholesky(symmetric(covar))
    except np.linalg.LinAlgError:
        raise UserError('%s is singular (not positive definite); too few data for the '
                         'dimension %d, or the data lie in a subspace' % (what, covar.shape[0]))
    # (scipy's triangular solver would do, but importing scipy costs each tool 0.3 s.)
    inv = np.tril(np.linalg.solve(chol, np.eye(covar.shape[0])))
    if not np.all(np.isfinite(inv)):
        raise UserError('%s is numerically singular' % what)
    return inv


def inverse_symmetric(mat, what):
    """Inverse of a symmetric matrix, however badly conditioned, as Kaldi's SpMatrix::Invert:
    an error only when it is exactly singular or the result is not finite.

    PLDA's E-M inverts covariances whose eigenvalues shrink towards zero in directions
    the data do not vary in (always-zero dimensions, rank-deficient scatter); they stay
    positive in exact arithmetic, and Kaldi goes on with them, so we must too. A
    Cholesky factorisation would refuse them as soon as rounding makes a pivot negative.
    """
    try:
        inv = np.linalg.inv(symmetric(mat))
    except np.linalg.LinAlgError:
        raise UserError('%s is singular: cannot invert it' % what)
    if not np.all(np.isfinite(inv)):
        raise UserError('%s is numerically singular: its inverse is not finite' % what)
    return symmetric(inv)
