"""copy-vector: copy a vector, or a table of vectors, changing format on the way.

  copy-vector [options] (<vector-in-rxfilename>|<vector-in-rspecifier>) (<vector-out-wxfilename>|<vector-out-wspecifier>)
"""
from data_utils import kaldi_table as kt
from kaldi_compat.cli import ToolParser, log, run_tool

NAME = 'copy-vector'


def _is_table(specifier):
    return specifier.split(':', 1)[0].split(',')[0] in ('ark', 'scp')


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('binary', True, 'write single vectors in binary mode')
    opts, args = parser.parse(argv)
    source, target = args
    if _is_table(source) != _is_table(target):
        raise kt.KaldiError('both arguments must be tables (ark:/scp:) or both plain files')
    if _is_table(source):
        with kt.VectorWriter(target) as writer:
            for keys, vectors in kt.read_vector_chunks(source):
                writer.write(keys, vectors)
        log(NAME, 'Copied %d vectors' % writer.num_written)
    else:
        kt.write_vector(target, kt.read_vector(source), binary=opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
