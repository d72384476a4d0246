"""ivector-normalize-length: scale each vector to length sqrt(dim) (or 1 without scaleup).

  ivector-normalize-length [options] <ivector-rspecifier> <ivector-wspecifier>
"""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool, warn

NAME = 'ivector-normalize-length'


def normalize_length(vectors, scaleup=True):
    """Rows scaled to norm sqrt(dim) (scaleup) or 1; zero rows are left as they are."""
    norms = np.linalg.norm(vectors, axis=1)
    ratios = norms / np.sqrt(vectors.shape[1]) if scaleup else norms
    safe = np.where(ratios == 0.0, 1.0, ratios)
    return vectors / safe[:, None], ratios


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('normalize', True, 'if false, only report the lengths')
    parser.add('scaleup', True, 'scale to length sqrt(dim) rather than 1')
    opts, args = parser.parse(argv)
    keys, vectors = kt.read_vector_table(args[0])
    if not keys:
        # Kaldi exits with status 1 when it processed nothing.
        raise kt.KaldiError('%s: no vectors to normalise' % args[0])
    normalized, ratios = normalize_length(vectors, opts.scaleup)
    if np.any(ratios == 0.0):
        warn(NAME, '%d zero-length vectors left unscaled' % int(np.sum(ratios == 0.0)))
    if opts.normalize:
        vectors = normalized
    log(NAME, 'Processed %d vectors; average ratio of norm to %s is %g'
        % (len(keys), 'sqrt(dim)' if opts.scaleup else '1', float(ratios.mean())))
    kt.write_vectors(args[1], keys, vectors)


if __name__ == '__main__':
    run_tool(NAME, main)
