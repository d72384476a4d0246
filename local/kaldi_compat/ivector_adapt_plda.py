"""ivector-adapt-plda: adapt a PLDA model to unlabelled vectors from another domain.

  ivector-adapt-plda [options] <plda-in> <ivectors-rspecifier> <plda-out>
  e.g.: ivector-adapt-plda plda ark:ivectors.ark plda.adapted

Kaldi's PldaUnsupervisedAdaptor: in each direction where the adaptation data vary
more than the model's total covariance, the excess variance is added to the
within-class (--within-covar-scale) and between-class (--between-covar-scale)
covariances; --mean-diff-scale weighs the shift of the mean as extra variance.
"""
import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from kaldi_compat.cli import ToolParser, log, run_tool
from kaldi_compat.linalg import base_float
from kaldi_compat.plda import read_plda, write_plda
from kaldi_compat.plda_train import PldaUnsupervisedAdaptor

NAME = 'ivector-adapt-plda'


def main(argv):
    parser = ToolParser(NAME, __doc__, 3)
    parser.add('binary', True, 'Write output in binary mode')
    parser.add('mean-diff-scale', 1.0, 'Scale with which to add to the total data variance, '
               'the outer product of the difference between the original mean and the '
               'adaptation-data mean')
    parser.add('within-covar-scale', 0.3, 'Scale that determines how much of excess variance '
               'in a particular direction gets attributed to within-class covar.')
    parser.add('between-covar-scale', 0.7, 'Scale that determines how much of excess variance '
               'in a particular direction gets attributed to between-class covar.')
    opts, args = parser.parse(argv)
    plda = read_plda(args[0])
    adaptor = PldaUnsupervisedAdaptor()
    num_vectors = 0
    for keys, vectors in kt.read_vector_chunks(args[1], dtype=np.float32):
        adaptor.add_stats(vectors.astype(np.float64))
        num_vectors += len(keys)
    if not num_vectors:
        raise UserError('%s: no adaptation vectors: cannot adapt the PLDA model' % args[1])
    adapted = adaptor.update_plda(plda, mean_diff_scale=base_float(opts.mean_diff_scale),
                                  within_covar_scale=base_float(opts.within_covar_scale),
                                  between_covar_scale=base_float(opts.between_covar_scale),
                                  log=lambda m: log(NAME, m))
    write_plda(args[2], adapted, opts.binary)
    log(NAME, 'Adapted PLDA model with %d vectors' % num_vectors)


if __name__ == '__main__':
    run_tool(NAME, main)
