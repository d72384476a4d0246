"""Training and adapting Kaldi's PLDA (PldaStats, PldaEstimator, PldaUnsupervisedAdaptor).

The maths follow Kaldi's ivector/plda.cc:

* Statistics per class (speaker): its number of examples n, its mean, and the
  scatter of its examples around that mean, summed over classes.
* E-M (Ioffe-style, as derived in Kaldi): start from within = between = I. Each
  iteration, for a class mean m (the global mean of class means removed) split
  m = x + y with x ~ N(0, between), y ~ N(0, within / n). With
  mixed = (between^-1 + n within^-1)^-1 and w = mixed n within^-1 m,
      between_stats += mixed + w w^T                 (count 1)
      within_stats  += n mixed + n (m - w)(m - w)^T  (count 1)
  on top of within_stats = the scatter (count = #examples - #classes).
  Classes with the same n share one matrix inversion; here they are also handled
  with one matrix product.
* Output: mean = mean of the class means; transform = U^T C^-1 where within = C C^T
  and C^-1 between C^-T = U diag(psi) U^T, psi sorted largest first.
"""
import numpy as np

from data_utils.errors import UserError
from kaldi_compat.linalg import inverse_cholesky, inverse_symmetric, sorted_eig, symmetric
from kaldi_compat.plda import Plda

_CLASS_BLOCK = 2048     # class means centred and transformed at a time in the E-M


class PldaStats:
    """Per-class statistics: example counts, means and the scatter around the class
    means, added class by class as the streaming reader accumulates them."""

    def __init__(self, dim):
        self.dim = dim
        self.counts = []
        self.means = []             # blocks of class means, as they were added
        self.offset_scatter = np.zeros((dim, dim))

    def add_class_stats(self, counts, means, offset_scatter):
        """Classes given by their statistics, as a streaming reader accumulates them:
        example counts (K), means (K x D) and the scatter of the examples around
        their class means, summed over the K classes (D x D)."""
        self.counts.extend(int(n) for n in counts)
        self.means.append(np.asarray(means, dtype=np.float64).reshape(-1, self.dim))
        self.offset_scatter += offset_scatter

    def class_means(self):
        """K x D, without a copy when the classes were added in one block."""
        return self.means[0] if len(self.means) == 1 else np.vstack(self.means)

    @property
    def num_classes(self):
        return len(self.counts)

    @property
    def num_examples(self):
        return int(sum(self.counts))


def estimate_plda(stats, num_em_iters=10, log=None):
    """Kaldi's PldaEstimator::Estimate: E-M for the two covariances, then GetOutput."""
    log = log or (lambda message: None)
    if stats.num_classes == 0:
        raise UserError('cannot estimate PLDA with no statistics')
    if stats.num_examples <= stats.dim:
        # As Kaldi: fewer vectors than dimensions leave the scatter singular for sure.
        raise UserError('%d training vectors for dimension %d: PLDA needs more vectors '
                            'than dimensions' % (stats.num_examples, stats.dim))
    dim = stats.dim
    counts = np.asarray(stats.counts, dtype=np.int64)
    means = stats.class_means()
    global_mean = means.sum(axis=0) / stats.num_classes
    # Classes of one size share their posterior covariance; their means are centred a
    # block at a time, so that the E-M needs no second copy of them all.
    groups = [(int(n), np.flatnonzero(counts == n)) for n in np.unique(counts)]

    within = np.eye(dim)
    between = np.eye(dim)
    for it in range(num_em_iters):
        log('Plda estimation iteration %d of %d' % (it, num_em_iters))
        within_stats = stats.offset_scatter.copy()
        within_count = float(stats.num_examples - stats.num_classes)
        between_stats = np.zeros((dim, dim))
        between_count = 0.0
        between_inv = inverse_symmetric(between, 'between-class covariance')
        within_inv = inverse_symmetric(within, 'within-class covariance')
        for n, classes in groups:
            k = classes.size
            mixed = inverse_symmetric(between_inv + n * within_inv,
                                      'PLDA posterior covariance (n = %d)' % n)
            to_w = (n * within_inv) @ mixed            # w = m to_w, a row for each class
            between_stats += k * mixed
            within_stats += (n * k) * mixed
            for start in range(0, k, _CLASS_BLOCK):
                m = means[classes[start:start + _CLASS_BLOCK]] - global_mean
                w = m @ to_w
                between_stats += w.T @ w
                m -= w
                within_stats += n * (m.T @ m)
            between_count += k
            within_count += k
        within = symmetric(within_stats / within_count)
        between = symmetric(between_stats / between_count)
        if not (np.all(np.isfinite(within)) and np.all(np.isfinite(between))):
            raise UserError('PLDA estimation diverged (NaN or Inf in the covariances)')
        log('Trace of within-class variance is %g' % np.trace(within))
        log('Trace of between-class variance is %g' % np.trace(between))

    log('Norm of mean of iVector distribution is %g' % np.linalg.norm(global_mean))
    transform, psi = diagonalising_transform(within, between, log)
    log('Diagonal of between-class variance in normalized space is [ %s ]'
        % ' '.join('%g' % p for p in psi))
    return Plda(global_mean, transform, psi)


def diagonalising_transform(within, between, log, what='within-class covariance'):
    """(transform, psi): transform within -> I and between -> diag(psi), psi descending.

    As Kaldi, any within-class covariance with a Cholesky factor will do: where the
    vectors do not vary within speakers (always-zero dimensions, rank-deficient
    scatter), E-M leaves tiny but positive variances, the transform is large there,
    and the scores are still well defined. Only a covariance that is not positive
    definite in floating point is an error.
    """
    inv_chol = inverse_cholesky(within, what)
    between_proj = symmetric(inv_chol @ between @ inv_chol.T)
    psi, u = sorted_eig(between_proj)
    # Kaldi asserts these are >= 0 and floors at 0; rounding can leave -1e-17.
    negative = psi < 0
    if np.any(psi < -1e-8 * max(1.0, psi.max())):
        raise UserError('between-class covariance is not positive semi-definite '
                            '(eigenvalue %g)' % psi.min())
    if negative.any():
        log('Floored %d eigenvalues of between-class variance to zero.' % negative.sum())
        psi = np.maximum(psi, 0.0)
        order = np.argsort(-psi, kind='stable')
        psi, u = psi[order], u[:, order]
    return u.T @ inv_chol, psi


class PldaUnsupervisedAdaptor:
    """Kaldi's PldaUnsupervisedAdaptor: adapt a PLDA model to unlabelled in-domain data."""

    def __init__(self):
        self.tot_weight = 0.0
        self.mean_stats = None
        self.variance_stats = None

    def add_stats(self, vectors, weight=1.0):
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        if self.mean_stats is None:
            dim = vectors.shape[1]
            self.mean_stats = np.zeros(dim)
            self.variance_stats = np.zeros((dim, dim))
        elif vectors.shape[1] != self.mean_stats.shape[0]:
            raise UserError('adaptation vectors have dimension %d, earlier ones %d'
                                % (vectors.shape[1], self.mean_stats.shape[0]))
        self.tot_weight += weight * vectors.shape[0]
        self.mean_stats += weight * vectors.sum(axis=0)
        self.variance_stats += weight * (vectors.T @ vectors)

    def update_plda(self, plda, mean_diff_scale=1.0, within_covar_scale=0.3,
                    between_covar_scale=0.7, log=None):
        """Return the adapted model (Kaldi's UpdatePlda).

        The adaptation data's covariance (plus mean_diff_scale times the outer
        product of its mean shift) is compared with the model's total covariance;
        in each direction where it is larger, the excess goes to the within-class
        covariance (times within_covar_scale) and the between-class covariance
        (times between_covar_scale). The model's mean becomes the data's mean.
        """
        log = log or (lambda message: None)
        if self.tot_weight <= 0:
            raise UserError('no adaptation vectors: cannot adapt the PLDA model')
        dim = self.mean_stats.shape[0]
        if dim != plda.dim:
            raise UserError('adaptation vectors have dimension %d but the PLDA model has %d'
                                % (dim, plda.dim))
        if mean_diff_scale < 0:
            raise UserError('--mean-diff-scale must be >= 0, got %g' % mean_diff_scale)
        mean = self.mean_stats / self.tot_weight
        variance = self.variance_stats / self.tot_weight - np.outer(mean, mean)
        mean_diff = mean - plda.mean
        variance += mean_diff_scale * np.outer(mean_diff, mean_diff)

        # transform_mod makes the model's total covariance (I + diag(psi)) unit.
        transform_mod = plda.transform / np.sqrt(1.0 + plda.psi)[:, None]
        variance_proj = symmetric(transform_mod @ variance @ transform_mod.T)
        s, p = sorted_eig(variance_proj)
        log('Eigenvalues of adaptation-data total-covariance in space where '
            'training-data total-covariance is unit, is: [ %s ]'
            % ' '.join('%g' % v for v in s))

        w = np.diag(1.0 / (1.0 + plda.psi))
        b = np.diag(plda.psi / (1.0 + plda.psi))
        w_proj2 = p.T @ w @ p
        b_proj2 = p.T @ b @ p
        excess = np.maximum(s - 1.0, 0.0)
        w_proj2_mod = w_proj2 + np.diag(excess * within_covar_scale)
        b_proj2_mod = b_proj2 + np.diag(excess * between_covar_scale)

        combined = p.T @ transform_mod
        try:
            combined_inv = np.linalg.inv(combined)
        except np.linalg.LinAlgError:
            raise UserError('PLDA transform is singular: cannot adapt the model')
        w_mod = symmetric(combined_inv @ w_proj2_mod @ combined_inv.T)
        b_mod = symmetric(combined_inv @ b_proj2_mod @ combined_inv.T)

        inv_chol = inverse_cholesky(w_mod, 'adapted within-class covariance')
        b_mod_proj = symmetric(inv_chol @ b_mod @ inv_chol.T)
        psi_new, q = sorted_eig(b_mod_proj)
        log('Old diagonal of between-class covar was: [ %s ], new diagonal is [ %s ]'
            % (' '.join('%g' % v for v in plda.psi), ' '.join('%g' % v for v in psi_new)))
        return Plda(mean, q.T @ inv_chol, psi_new)
