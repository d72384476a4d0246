"""transform-vec: multiply vectors by a linear (d x D) or affine (d x D+1) matrix.

  transform-vec [options] <transform-rxfilename> <vector-rspecifier> <vector-wspecifier>
"""
from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_matrix
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.streaming import stored_chunks

NAME = 'transform-vec'


def apply_transform(transform, vectors, where='transform'):
    """Linear when the matrix has D columns, affine (last column = offset) with D+1.

    Float vectors are transformed in float, as Kaldi's transform-vec does (a float32
    product costs half a float64 one and no widened copy); doubles in double.
    """
    dim = vectors.shape[1]
    transform = transform.astype(vectors.dtype, copy=False)
    if transform.shape[1] == dim:
        return vectors @ transform.T
    if transform.shape[1] == dim + 1:
        return vectors @ transform[:, :dim].T + transform[:, dim]
    raise UserError('%s: matrix has %d columns, vectors have dimension %d (need %d or %d)'
                        % (where, transform.shape[1], dim, dim, dim + 1))


def main(argv):
    parser = ToolParser(NAME, __doc__, 3)
    opts, args = parser.parse(argv)
    transform = read_matrix(args[0])
    with kt.VectorWriter(args[2]) as writer:
        for keys, vectors in stored_chunks(args[1]):
            writer.write(keys, apply_transform(transform, vectors, args[0]))
        if not writer.num_written:
            # Kaldi exits with status 1 when it transformed nothing.
            raise UserError('%s: no vectors to transform' % args[1])
    log(NAME, 'Applied transform to %d vectors' % writer.num_written)


if __name__ == '__main__':
    run_tool(NAME, main)
