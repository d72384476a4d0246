"""ivector-subtract-global-mean: centre vectors with their own mean or a given one.

  ivector-subtract-global-mean [options] <ivector-rspecifier> <ivector-wspecifier>
  ivector-subtract-global-mean [options] <mean-rxfilename> <ivector-rspecifier> <ivector-wspecifier>
"""
import contextlib

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_vector
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.streaming import rereadable_chunks, stored_chunks

NAME = 'ivector-subtract-global-mean'


def table_mean(chunks, rspecifier):
    total, count = 0.0, 0
    for keys, chunk in chunks:
        total = total + chunk.sum(axis=0, dtype=np.float64)
        count += len(keys)
    if not count:
        raise UserError('%s: no vectors to take the mean of' % rspecifier)
    return total / count


def main(argv):
    parser = ToolParser(NAME, __doc__, 2, 3)
    parser.add('subtract-mean', True, 'if false, only copy the vectors')
    opts, args = parser.parse(argv)
    rspecifier, wspecifier = args[-2], args[-1]
    given_mean = read_vector(args[0]) if len(args) == 3 else None
    # With its own mean the table is read twice (a pipe is spooled to disk, not memory);
    # with a mean given, or none to subtract, once.
    own_mean = given_mean is None and opts.subtract_mean
    reading = (rereadable_chunks(rspecifier) if own_mean
               else contextlib.nullcontext(lambda: stored_chunks(rspecifier)))
    with reading as passes, kt.VectorWriter(wspecifier) as writer:
        mean = table_mean(passes(), rspecifier) if own_mean else given_mean
        for keys, vectors in passes():
            if given_mean is not None and mean.shape[0] != vectors.shape[1]:
                raise UserError('%s: mean has dimension %d, vectors in %s have %d'
                                    % (args[0], mean.shape[0], rspecifier, vectors.shape[1]))
            if opts.subtract_mean:
                # In float64, rounded once to the float32 written (no float64 copy).
                vectors = np.subtract(vectors, mean, out=np.empty(vectors.shape, np.float32),
                                      dtype=np.float64, casting='unsafe')
            writer.write(keys, vectors)
        if not writer.num_written:
            # Kaldi exits with status 1 when it wrote nothing, with a mean given or not.
            raise UserError('%s: no vectors to %s' % (
                rspecifier, 'subtract the mean from' if given_mean is not None
                else 'take the mean of'))
    log(NAME, 'Wrote %d mean-subtracted vectors' % writer.num_written)


if __name__ == '__main__':
    run_tool(NAME, main)
