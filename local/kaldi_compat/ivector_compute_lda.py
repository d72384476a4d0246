"""ivector-compute-lda: LDA transform for vectors, from speaker labels.

  ivector-compute-lda [options] <ivector-rspecifier> <utt2spk-rspecifier> <lda-matrix-out>
  e.g.: ivector-compute-lda ark:ivectors.ark ark:utt2spk lda.mat

As Kaldi's: the mean is subtracted; with total covariance T and within-class
covariance W (both per utterance), the matrix
    S = f T + (1 - f) W          (f = --total-covariance-factor, default 0)
is made unit by P = diag(s)^-1/2 U^T from its eigen-decomposition, eigenvalues
floored at --covariance-floor times the largest; the between-class covariance
T - W, projected by P, is diagonalised and the --dim directions with the largest
eigenvalues are kept. The output is the affine dim x (D+1) matrix [A, -A mean],
so it also removes the mean (transform-vec applies it). Eigenvector signs are
arbitrary, in Kaldi as here.
"""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.linalg import base_float, sorted_eig, symmetric

NAME = 'ivector-compute-lda'


def normalizing_transform(covar, floor):
    """P with P covar P^T = I, eigenvalues floored relative to the largest."""
    s, u = sorted_eig(covar)
    floor_value = floor * s[0]
    if not s[0] > 0:
        raise kt.KaldiError('the covariance to normalise is zero or negative (largest '
                            'eigenvalue %g): the vectors do not vary' % s[0])
    num_floored = int((s < floor_value).sum())
    if num_floored:
        warn(NAME, 'Floored %d eigenvalues of covariance to %g' % (num_floored, floor_value))
    s = np.maximum(s, floor_value)
    return (s ** -0.5)[:, None] * u.T


def compute_lda(vectors, speakers, lda_dim, total_covariance_factor, covariance_floor):
    """vectors: N x D (mean removed), speakers: list of row-index arrays."""
    num_utt, dim = vectors.shape
    num_spk = len(speakers)
    tot_scatter = vectors.T @ vectors
    spk_means = np.vstack([vectors[rows].mean(axis=0) for rows in speakers])
    spk_counts = np.array([len(rows) for rows in speakers], dtype=np.float64)
    between_scatter = (spk_means * spk_counts[:, None]).T @ spk_means
    log(NAME, 'Stats have %d speakers, %d utterances.' % (num_spk, num_utt))
    if num_utt == num_spk:
        raise kt.KaldiError('every speaker has a single utterance: the within-class '
                            'covariance would be zero')
    if num_utt < dim:
        raise kt.KaldiError('Too little data for iVector dimension: %d utterances for '
                            'dimension %d (the total covariance would be singular)'
                            % (num_utt, dim))
    total_covar = symmetric(tot_scatter / num_utt)
    within_covar = symmetric((tot_scatter - between_scatter) / num_utt)
    to_normalize = (total_covariance_factor * total_covar
                    + (1.0 - total_covariance_factor) * within_covar)
    proj = normalizing_transform(to_normalize, covariance_floor)
    between_covar = total_covar - within_covar
    between_proj = symmetric(proj @ between_covar @ proj.T)
    s, u = sorted_eig(between_proj, by_absolute_value=False)
    log(NAME, 'Singular values of between-class covariance after projecting with '
        'interpolated [total/within] covariance with a weight of %g on the total '
        'covariance, are: [ %s ]' % (total_covariance_factor, ' '.join('%g' % v for v in s)))
    return u[:, :lda_dim].T @ proj


def main(argv):
    parser = ToolParser(NAME, __doc__, 3)
    parser.add('dim', 100, 'Dimension we keep with the LDA transform')
    parser.add('total-covariance-factor', 0.0, 'If this is 0.0 we normalize to make the '
               'within-class covariance unit; if 1.0, the total covariance; if between, we '
               'normalize an interpolated matrix.')
    parser.add('covariance-floor', 1.0e-06, 'Floor the eigenvalues of the interpolated '
               'covariance matrix to the product of its largest eigenvalue and this number.')
    parser.add('binary', True, 'Write output in binary mode')
    opts, args = parser.parse(argv)
    ivector_rspecifier, utt2spk_rspecifier, lda_wxfilename = args
    tcf = base_float(opts.total_covariance_factor)
    floor = base_float(opts.covariance_floor)
    if floor < 0:
        raise kt.KaldiError('--covariance-floor must be >= 0, got %g' % floor)

    utt2spk = {}
    for utt, fields in kt.read_token_table(utt2spk_rspecifier):
        if len(fields) != 1:
            raise kt.KaldiError('%s: utterance %s: expected one speaker, got %d fields'
                                % (utt2spk_rspecifier, utt, len(fields)))
        utt2spk[utt] = fields[0]

    rows, seen, spk_rows = [], set(), {}
    num_err, dim = 0, None
    for utt, vec in kt.read_vectors(ivector_rspecifier):
        if utt in seen:
            warn(NAME, 'Duplicate iVector found for utterance %s, ignoring it.' % utt)
            num_err += 1
            continue
        if utt not in utt2spk:
            warn(NAME, 'utt2spk has no entry for utterance %s, skipping it.' % utt)
            num_err += 1
            continue
        if dim is None:
            dim = vec.shape[0]
        elif vec.shape[0] != dim:
            raise kt.KaldiError('%s: utterance %s has dimension %d, earlier ones %d'
                                % (ivector_rspecifier, utt, vec.shape[0], dim))
        seen.add(utt)
        spk_rows.setdefault(utt2spk[utt], []).append(len(rows))
        rows.append(vec)
    log(NAME, 'Read %d utterances, %d with errors.' % (len(rows), num_err))
    if not rows:
        raise kt.KaldiError('Did not read any utterances.')
    if not 0 < opts.dim <= dim:
        raise kt.KaldiError('--dim=%d must be between 1 and the vector dimension %d'
                            % (opts.dim, dim))

    # Kaldi keeps the vectors (and their mean) in single precision.
    vectors = np.vstack(rows).astype(np.float32)
    mean = (vectors.astype(np.float64).sum(axis=0) / len(rows)).astype(np.float32)
    log(NAME, '2-norm of iVector mean is %g' % np.linalg.norm(mean))
    centred = (vectors - mean).astype(np.float64)
    speakers = [np.array(spk_rows[spk]) for spk in sorted(spk_rows)]
    linear = compute_lda(centred, speakers, opts.dim, tcf, floor).astype(np.float32)
    offset = -(linear.astype(np.float64) @ mean.astype(np.float64))
    lda = np.hstack([linear.astype(np.float64), offset[:, None]]).astype(np.float32)
    kt.write_matrix(lda_wxfilename, lda, binary=opts.binary)
    log(NAME, 'Wrote LDA transform to %s' % lda_wxfilename)


if __name__ == '__main__':
    run_tool(NAME, main)
