"""copy-vector: copy a vector, or a table of vectors, changing format on the way.

  copy-vector [options] (<vector-in-rxfilename>|<vector-in-rspecifier>) (<vector-out-wxfilename>|<vector-out-wspecifier>)

As Kaldi's, it reads and writes single precision (BaseFloat): double input is
rounded to float on the way. --change-dim truncates or zero-pads each vector and
--scale multiplies it; like Kaldi's, a single vector (not a table) is only resized.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_codec import read_vector, write_vector
from kaldi_compat.cli import ToolParser, log, run_tool

NAME = 'copy-vector'


def _is_table(specifier):
    return specifier.split(':', 1)[0].split(',')[0] in ('ark', 'scp')


def change_dim(vectors, dim):
    """Rows truncated to, or zero-padded up to, `dim` columns."""
    out = np.zeros((vectors.shape[0], dim), dtype=vectors.dtype)
    keep = min(dim, vectors.shape[1])
    out[:, :keep] = vectors[:, :keep]
    return out


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('binary', True, 'write single vectors in binary mode')
    parser.add('change-dim', -1, 'truncate or zero-pad the vectors to this dimension')
    parser.add('scale', 1.0, 'scale the vectors being copied (tables only)')
    opts, args = parser.parse(argv)
    source, target = args
    if _is_table(source) != _is_table(target):
        raise UserError('both arguments must be tables (ark:/scp:) or both plain files')
    if _is_table(source):
        with kt.VectorWriter(target) as writer:
            # Read as float, as Kaldi's copy-vector holds its vectors (double input is rounded).
            for keys, vectors in kt.read_vector_chunks(source, dtype=np.float32):
                if opts.change_dim >= 0:
                    vectors = change_dim(vectors, opts.change_dim)
                if opts.scale != 1.0:
                    vectors = vectors * np.float32(opts.scale)
                writer.write(keys, vectors)
            if not writer.num_written:
                # Kaldi exits with status 1 when it copied nothing.
                raise UserError('%s: no vectors to copy' % source)
        log(NAME, 'Copied %d vectors' % writer.num_written)
    else:
        vector = read_vector(source).astype(np.float32)
        if opts.change_dim >= 0:
            vector = change_dim(vector[None, :], opts.change_dim)[0]
        write_vector(target, vector, binary=opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
