"""ivector-subtract-global-mean: centre vectors with their own mean or a given one.

  ivector-subtract-global-mean [options] <ivector-rspecifier> <ivector-wspecifier>
  ivector-subtract-global-mean [options] <mean-rxfilename> <ivector-rspecifier> <ivector-wspecifier>
"""
from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool

NAME = 'ivector-subtract-global-mean'


def main(argv):
    parser = ToolParser(NAME, __doc__, 2, 3)
    parser.add('subtract-mean', True, 'if false, only copy the vectors')
    opts, args = parser.parse(argv)
    rspecifier, wspecifier = args[-2], args[-1]
    keys, vectors = kt.read_vector_table(rspecifier)
    if not keys:
        # Kaldi exits with status 1 when it wrote nothing, with a mean given or not.
        raise kt.KaldiError('%s: no vectors to %s' % (
            rspecifier, 'subtract the mean from' if len(args) == 3 else 'take the mean of'))
    if len(args) == 3:
        mean = kt.read_vector(args[0])
        if mean.shape[0] != vectors.shape[1]:
            raise kt.KaldiError('%s: mean has dimension %d, vectors in %s have %d'
                                % (args[0], mean.shape[0], rspecifier, vectors.shape[1]))
    else:
        mean = vectors.mean(axis=0)
    if opts.subtract_mean:
        vectors = vectors - mean
    kt.write_vectors(wspecifier, keys, vectors)
    log(NAME, 'Wrote %d mean-subtracted vectors' % len(keys))


if __name__ == '__main__':
    run_tool(NAME, main)
