"""ivector-copy-plda: copy a PLDA model, optionally smoothing its within-class covariance.

  ivector-copy-plda [options] <plda-in> <plda-out>
  e.g.: ivector-copy-plda --smoothing=0.1 plda plda.smooth0.1

--smoothing=f adds f times the between-class covariance to the within-class
covariance (0 <= f <= 1). Converts between binary and text with --binary.
"""
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.linalg import base_float
from kaldi_compat.plda import plda_config_options, read_plda, write_plda

NAME = 'ivector-copy-plda'


def main(argv):
    parser = ToolParser(NAME, __doc__, 2)
    parser.add('smoothing', 0.0, 'Factor used in smoothing within-class covariance '
               '(add this factor times between-class covar)')
    parser.add('binary', True, 'Write output in binary mode')
    plda_config_options(parser)   # accepted (and unused) as in Kaldi
    opts, args = parser.parse(argv)
    plda = read_plda(args[0])
    smoothing = base_float(opts.smoothing)
    if smoothing != 0.0:
        log(NAME, 'Smoothing within-class covariance by %g' % smoothing)
        plda.smooth_within_class_covariance(smoothing)
    write_plda(args[1], plda, opts.binary)


if __name__ == '__main__':
    run_tool(NAME, main)
