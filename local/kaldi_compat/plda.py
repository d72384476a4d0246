"""Kaldi's PLDA model (ivector/plda.{h,cc}): the object, its file format and scoring.

A model holds three things, all in double precision:
  mean       the mean of the training vectors (of the speaker means),
  transform  D x D; after subtracting the mean and applying it, the within-class
             covariance is unit and the between-class covariance diagonal,
  psi        that diagonal (between-class variances), largest first.

File format (Kaldi's Plda::Write): the token `<Plda>`, the mean as a double vector,
the transform as a double matrix, psi as a double vector, the token `</Plda>`.
Binary files start with "\\0B"; tokens are followed by one space; doubles carry
"DV "/"DM " headers and "\\4"-prefixed int32 sizes. Text files look like

    <Plda>  [ m1 m2 ... ]
     [
      t11 t12 ...
      ... ]
     [ p1 p2 ... ]
    </Plda>

Scoring (Plda::TransformIvector and Plda::LogLikelihoodRatio) is vectorised here:
all vectors are transformed with one matrix product and the log-likelihood ratios
of any number of trials come from dot products (see `score_trials`).
"""
import numpy as np

from data_utils.errors import UserError
from data_utils.kaldi_codec import (expect_token, open_input, read_matrix_obj, read_vector_obj,
                                    write_matrix_obj, write_token, write_vector_obj)
from data_utils.kaldi_streams import describe, open_output


class Plda:
    def __init__(self, mean, transform, psi):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.transform = np.asarray(transform, dtype=np.float64)
        self.psi = np.asarray(psi, dtype=np.float64).reshape(-1)
        dim = self.mean.shape[0]
        if dim == 0:
            raise UserError('PLDA model has dimension 0')
        if self.transform.shape != (dim, dim) or self.psi.shape != (dim,):
            raise UserError('inconsistent PLDA model: mean of dimension %d, transform %s, '
                             'psi of dimension %d'
                             % (dim, 'x'.join(map(str, self.transform.shape)),
                                self.psi.shape[0]))
        for name in ('mean', 'transform', 'psi'):
            if not np.all(np.isfinite(getattr(self, name))):
                raise UserError('PLDA model: %s contains NaN or Inf' % name)
        # Eigenvalues that should be zero can come out as -1e-17; larger negative
        # between-class variances would make the scores meaningless.
        if np.any(self.psi < -1e-6 * max(1.0, self.psi.max())):
            raise UserError('PLDA model: between-class variances (psi) must not be '
                             'negative; smallest is %g' % self.psi.min())
        self.psi = np.maximum(self.psi, 0.0)

    @property
    def dim(self):
        return self.mean.shape[0]

    @property
    def offset(self):
        """Kaldi's derived offset_ = -transform * mean."""
        return -(self.transform @ self.mean)

    # ------------------------------------------------------------------------
    # Plda::SmoothWithinClassCovariance

    def smooth_within_class_covariance(self, smoothing_factor):
        """Add smoothing_factor x between-class covariance to the within-class one.

        In the model's space the within-class covariance is I and the between-class
        one diag(psi); the new within-class covariance I + f*psi is made unit again
        by scaling the rows of the transform, and psi shrinks accordingly.
        """
        if not 0.0 <= smoothing_factor <= 1.0:
            raise UserError('smoothing factor must be between 0 and 1, got %g'
                             % smoothing_factor)
        within = 1.0 + smoothing_factor * self.psi
        self.psi = self.psi / within
        self.transform = self.transform * (within ** -0.5)[:, None]

    # ------------------------------------------------------------------------
    # Plda::TransformIvector, vectorised over the rows of `vectors`

    def transform_vectors(self, vectors, num_examples=1, normalize_length=True,
                          simple_length_norm=False):
        """Rows mapped into the model's space, length-normalised as Kaldi does.

        num_examples (scalar or one per row) is how many vectors each row averages:
        the expected covariance of such a row is psi + 1/n, and the default length
        normalisation scales the row so that y^T (psi + 1/n)^{-1} y = D. With
        simple_length_norm the length becomes sqrt(D) instead. Returns
        (transformed rows, normalisation factors); the factors are computed even
        when normalize_length is false, as in Kaldi.

        A row that lands exactly on the model mean has no length to normalise: it
        is left at zero (factor 1) where Kaldi would give NaN scores.
        """
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise UserError('vectors have dimension %d but the PLDA model has %d'
                             % (vectors.shape[-1], self.dim))
        out = vectors @ self.transform.T + self.offset
        dim = self.dim
        if simple_length_norm:
            norm_sq = np.einsum('ij,ij->i', out, out)
            denom = norm_sq
        else:
            n = np.broadcast_to(np.asarray(num_examples, dtype=np.float64), (out.shape[0],))
            if np.any(n <= 0):
                raise UserError('number of examples must be positive')
            inv_covar = 1.0 / (self.psi[None, :] + (1.0 / n)[:, None])
            denom = np.einsum('ij,ij->i', out * out, inv_covar)
        safe = denom > 0
        factor = np.ones(out.shape[0])
        factor[safe] = np.sqrt(dim / denom[safe])
        if normalize_length:
            out *= factor[:, None]
        return out, factor

    # ------------------------------------------------------------------------
    # Plda::LogLikelihoodRatio, vectorised

    def llr_terms(self, num_train):
        """Per-n quantities of the log-likelihood ratio for enrolment over n vectors.

        Returns (a, inv_v, const): the class-conditional mean is a * enrol, its
        variance v = 1 + psi / (n psi + 1) (inv_v = 1/v), and const = the log-det
        difference, so that

          llr(e, t) = const - 0.5 sum((t - a e)^2 / v) + 0.5 sum(t^2 / (1 + psi)).
        """
        n = np.asarray(num_train, dtype=np.float64)[..., None]
        psi = self.psi
        a = n * psi / (n * psi + 1.0)
        v = 1.0 + psi / (n * psi + 1.0)
        const = -0.5 * np.log(v).sum(axis=-1) + 0.5 * np.log1p(psi).sum()
        return a, 1.0 / v, const

    def log_likelihood_ratio(self, enrol, num_train, test):
        """Reference (row-by-row) form of Kaldi's LogLikelihoodRatio, for checking."""
        enrol = np.atleast_2d(enrol)
        test = np.atleast_2d(test)
        a, inv_v, const = self.llr_terms(np.broadcast_to(num_train, (enrol.shape[0],)))
        given = ((test - a * enrol) ** 2 * inv_v).sum(axis=1)
        without = (test ** 2 / (1.0 + self.psi)).sum(axis=1)
        return const - 0.5 * given + 0.5 * without


class PldaScorer:
    """Log-likelihood ratios of trials between transformed enrolment and test vectors.

    enrol: transformed enrolment vectors (M x D), num_train: utterances per model
    (M,), test: transformed test vectors (T x D). Expanding the square in Kaldi's
    LogLikelihoodRatio,

      llr = e'.t + r(e) + q_n(t),   e' = e a/v,   r(e) = const(n) - 0.5 sum(a^2 e^2 / v),
                                    q_n(t) = 0.5 sum(t^2 (1/(1+psi) - 1/v(n)))

    so each trial costs one dot product. When the trials cover a good part of the
    M x T grid (expected_trials >= grid / 4, grid at most max_dense entries) the
    whole grid comes from matrix products and trials are picked from it;
    otherwise the dot products are taken trial by trial (in chunks).

    The vectors are kept as given (the tools give float32, as Kaldi keeps them):
    e' and every product are computed in float64 a block of rows at a time, so
    no double-precision copy of either table is ever held.
    """

    def __init__(self, plda, enrol, num_train, test, expected_trials=None,
                 max_dense=16_000_000, block=4096):
        self.enrol, self.test = np.asarray(enrol), np.asarray(test)
        num_train = np.asarray(num_train, dtype=np.int64)
        distinct_n, self.n_index = np.unique(num_train, return_inverse=True)
        a, inv_v, const = plda.llr_terms(distinct_n)            # (K x D), (K x D), (K,)
        self.a, self.inv_v = a, inv_v
        self.enrol_const = np.empty(self.enrol.shape[0])
        for sel in _blocks(self.enrol.shape[0], block):
            enrol_a, scaled = self._scaled_enrol(sel)
            self.enrol_const[sel] = (const[self.n_index[sel]]
                                     - 0.5 * np.einsum('ij,ij->i', enrol_a, scaled))
        test_weights = 0.5 * (1.0 / (1.0 + plda.psi)[None, :] - inv_v)   # (K x D)
        self.test_const = np.empty((self.test.shape[0], len(distinct_n)))   # (T x K)
        for sel in _blocks(self.test.shape[0], block):
            rows = self.test[sel].astype(np.float64)
            self.test_const[sel] = (rows * rows) @ test_weights.T
        grid = self.enrol.shape[0] * self.test.shape[0]
        self.dense = grid <= max_dense and (expected_trials is None
                                            or grid <= max(4 * expected_trials, 1 << 16))
        self.block = block
        self.grid = None

    def _scaled_enrol(self, rows):
        """(e a, e a / v) in float64 for the enrolment rows `rows` (a slice or indices)."""
        n = self.n_index[rows]
        enrol_a = self.enrol[rows].astype(np.float64) * self.a[n]
        return enrol_a, enrol_a * self.inv_v[n]

    @property
    def enrol_scaled(self):
        """e a / v of every enrolment vector, M x D float64 (a whole copy: for small sets)."""
        return self._scaled_enrol(slice(None))[1]

    def _dense_grid(self):
        grid = np.empty((self.enrol.shape[0], self.test.shape[0]))
        for sel_e in _blocks(self.enrol.shape[0], self.block):
            scaled = self._scaled_enrol(sel_e)[1]
            for sel_t in _blocks(self.test.shape[0], self.block):
                grid[sel_e, sel_t] = scaled @ self.test[sel_t].astype(np.float64).T
        return grid

    def score(self, rows_enrol, rows_test, chunk=32768):
        rows_enrol = np.asarray(rows_enrol, dtype=np.int64)
        rows_test = np.asarray(rows_test, dtype=np.int64)
        scores = self.enrol_const[rows_enrol] + self.test_const[rows_test,
                                                                self.n_index[rows_enrol]]
        if rows_enrol.size == 0:
            return scores
        if self.dense:
            if self.grid is None:
                self.grid = self._dense_grid()
            scores += self.grid[rows_enrol, rows_test]
        else:
            for sel in _blocks(rows_enrol.size, chunk):
                scores[sel] += np.einsum('ij,ij->i', self._scaled_enrol(rows_enrol[sel])[1],
                                         self.test[rows_test[sel]].astype(np.float64))
        return scores


def _blocks(size, block):
    return (slice(start, start + block) for start in range(0, size, block))


def score_trials(plda, enrol, num_train, test, rows_enrol, rows_test, **kwargs):
    """Log-likelihood ratios of trials (rows_enrol[i], rows_test[i]); see PldaScorer."""
    scorer = PldaScorer(plda, enrol, num_train, test, len(rows_enrol), **kwargs)
    return scorer.score(rows_enrol, rows_test)


# ----------------------------------------------------------------------------
# Reading and writing

def read_plda(rxfilename):
    """A Plda from a Kaldi binary or text file (or `cmd |`, `-`)."""
    where = describe(rxfilename)
    with open_input(rxfilename) as (stream, binary):
        try:
            expect_token(stream, '<Plda>')
            mean = read_vector_obj(stream, binary)
            transform = read_matrix_obj(stream, binary)
            psi = read_vector_obj(stream, binary)
            expect_token(stream, '</Plda>')
            # A pipe must be read to its end before it is closed, as Kaldi does.
            stream.read()
        except UserError as err:
            raise UserError('%s: reading PLDA model: %s' % (where, err))
    try:
        return Plda(mean, transform, psi)
    except UserError as err:
        raise UserError('%s: %s' % (where, err))


def _text_vector(vec):
    return ' [ ' + ''.join('%.7g ' % v for v in vec) + ']\n'


def _text_matrix(mat):
    rows = ['\n  ' + ''.join('%.7g ' % v for v in row) for row in mat]
    return ' [' + ''.join(rows) + ']\n'


def write_plda(wxfilename, plda, binary=True):
    """Write as Kaldi's Plda::Write does: byte-identical layout in binary and text."""
    with open_output(wxfilename, binary) as stream:
        if binary:
            write_token(stream, '<Plda>')
            write_vector_obj(stream, binary, plda.mean, double=True)
            write_matrix_obj(stream, binary, plda.transform, double=True)
            write_vector_obj(stream, binary, plda.psi, double=True)
            write_token(stream, '</Plda>')
        else:
            # Kaldi's text layout: every number followed by a space, matrix rows on
            # their own lines, no newline after the closing token.
            text = ('<Plda> ' + _text_vector(plda.mean) + _text_matrix(plda.transform)
                    + _text_vector(plda.psi) + '</Plda> ')
            stream.write(text.encode('ascii'))


def plda_config_options(parser):
    """Kaldi's PldaConfig options, registered by the tools that accept them."""
    parser.add('normalize-length', True,
               'If true, do length normalization as part of PLDA: scale each vector so '
               'that its inner product with the inverse of its expected covariance '
               '(which depends on how many utterances it averages) equals the dimension')
    parser.add('simple-length-normalization', False,
               'If true, replace the default length normalization by one that makes the '
               'length of each vector equal to the square root of the dimension')
