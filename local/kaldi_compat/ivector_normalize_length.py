"""ivector-normalize-length: scale each vector to length sqrt(dim) (or 1 without scaleup).

  ivector-normalize-length [options] <ivector-rspecifier> <ivector-wspecifier>
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from kaldi_compat.cli import ToolParser, log, run_tool, warn
from kaldi_compat.streaming import stored_chunks

NAME = 'ivector-normalize-length'


def normalize_length(vectors, scaleup=True):
    """Rows scaled to norm sqrt(dim) (scaleup) or 1; zero rows are left as they are.

    In the vectors' own precision: float vectors in float, as Kaldi's binary does
    (norm, then a scale by the float of 1/ratio), doubles in double.
    """
    norms = np.sqrt(np.einsum('ij,ij->i', vectors, vectors))
    if vectors.dtype != np.float64 and not np.all(np.isfinite(norms) & (norms > 0)):
        # A square overflowed or underflowed in float (or a row is zero): in double.
        return normalize_length(vectors.astype(np.float64), scaleup)
    ratios = norms / norms.dtype.type(np.sqrt(vectors.shape[1])) if scaleup else norms
    safe = np.where(ratios == 0.0, 1.0, ratios)
    scales = (1.0 / safe.astype(np.float64)).astype(vectors.dtype)
    return vectors * scales[:, None], ratios.astype(np.float64)


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('normalize', True, 'if false, only report the lengths')
    parser.add('scaleup', True, 'scale to length sqrt(dim) rather than 1')
    opts, args = parser.parse(argv)
    num_done = num_zero = 0
    ratio_sum = 0.0
    with kt.VectorWriter(args[1]) as writer:
        for keys, vectors in stored_chunks(args[0]):
            normalized, ratios = normalize_length(vectors, opts.scaleup)
            num_zero += int(np.sum(ratios == 0.0))
            ratio_sum += float(ratios.sum())
            num_done += len(keys)
            writer.write(keys, normalized if opts.normalize else vectors)
        if not num_done:
            # Kaldi exits with status 1 when it processed nothing.
            raise UserError('%s: no vectors to normalise' % args[0])
    if num_zero:
        warn(NAME, '%d zero-length vectors left unscaled' % num_zero)
    if num_done:
        log(NAME, 'Processed %d vectors; average ratio of norm to %s is %g'
            % (num_done, 'sqrt(dim)' if opts.scaleup else '1', ratio_sum / num_done))


if __name__ == '__main__':
    run_tool(NAME, main)
