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
from data_utils.errors import UserError
from data_utils.kaldi_codec import write_matrix
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.linalg import base_float, sorted_eig, symmetric
from kaldi_compat.streaming import SpeakerSums, read_utt2spk

NAME = 'ivector-compute-lda'


def normalizing_transform(covar, floor):
    """P with P covar P^T = I, eigenvalues floored relative to the largest."""
    s, u = sorted_eig(covar)
    floor_value = floor * s[0]
    if not s[0] > 0:
        raise UserError('the covariance to normalise is zero or negative (largest '
                            'eigenvalue %g): the vectors do not vary' % s[0])
    num_floored = int((s < floor_value).sum())
    if num_floored:
        warn(NAME, 'Floored %d eigenvalues of covariance to %g' % (num_floored, floor_value))
    s = np.maximum(s, floor_value)
    return (s ** -0.5)[:, None] * u.T


def compute_lda_from_stats(tot_scatter, spk_means, spk_counts, num_utt, lda_dim,
                           total_covariance_factor, covariance_floor):
    """LDA from accumulated statistics of mean-removed vectors: their scatter
    (D x D), the speakers' means (S x D) and utterance counts (S)."""
    dim = tot_scatter.shape[0]
    num_spk = len(spk_counts)
    between_scatter = np.zeros((dim, dim))
    for start in range(0, num_spk, 1024):      # in blocks: no temporary of every speaker
        some = slice(start, start + 1024)
        between_scatter += (spk_means[some] * spk_counts[some, None]).T @ spk_means[some]
    log(NAME, 'Stats have %d speakers, %d utterances.' % (num_spk, num_utt))
    if num_utt == num_spk:
        raise UserError('every speaker has a single utterance: the within-class '
                            'covariance would be zero')
    if num_utt < dim:
        raise UserError('Too little data for iVector dimension: %d utterances for '
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
        raise UserError('--covariance-floor must be >= 0, got %g' % floor)

    speakers, utt_map, owner = read_utt2spk(utt2spk_rspecifier)
    seen = np.zeros(len(utt_map), dtype=bool)
    stats = None
    num_err = 0
    for keys, chunk in kt.read_vector_chunks(ivector_rspecifier, dtype=np.float32):
        entries = utt_map.find_last(keys)
        first = np.zeros(len(keys), dtype=bool)
        first[np.unique(entries, return_index=True)[1]] = True
        ok = (entries >= 0) & first
        ok[ok] = ~seen[entries[ok]]
        for i in np.flatnonzero(~ok):
            if entries[i] < 0:
                warn(NAME, 'utt2spk has no entry for utterance %s, skipping it.' % keys[i])
            else:
                warn(NAME, 'Duplicate iVector found for utterance %s, ignoring it.' % keys[i])
        num_err += int((~ok).sum())
        seen[entries[ok]] = True
        if stats is None:
            stats = SpeakerSums(len(speakers), chunk.shape[1])
        # Kaldi reads BaseFloat and accumulates in double (SpeakerSums widens).
        stats.add(chunk if ok.all() else chunk[ok], owner[entries[ok]])
    num_read = stats.count if stats else 0
    log(NAME, 'Read %d utterances, %d with errors.' % (num_read, num_err))
    if not num_read:
        raise UserError('Did not read any utterances.')
    dim = stats.dim
    if not 0 < opts.dim <= dim:
        raise UserError('--dim=%d must be between 1 and the vector dimension %d'
                            % (opts.dim, dim))

    # Kaldi keeps the mean in single precision.
    mean = stats.mean().astype(np.float32)
    log(NAME, '2-norm of iVector mean is %g' % np.linalg.norm(mean))
    present = np.flatnonzero(stats.spk_counts > 0)
    tot_scatter = stats.scatter_around(mean)
    spk_means = stats.pop_speaker_means(present, mean)
    linear = compute_lda_from_stats(tot_scatter, spk_means,
                                    stats.spk_counts[present].astype(np.float64), num_read,
                                    opts.dim, tcf, floor).astype(np.float32)
    offset = -(linear.astype(np.float64) @ mean.astype(np.float64))
    lda = np.hstack([linear.astype(np.float64), offset[:, None]]).astype(np.float32)
    write_matrix(lda_wxfilename, lda, binary=opts.binary)
    log(NAME, 'Wrote LDA transform to %s' % lda_wxfilename)


if __name__ == '__main__':
    run_tool(NAME, main)
