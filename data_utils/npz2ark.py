"""Convert an npz of vectors (vectors, utt_ids) back to a Kaldi table.

  python -m data_utils.npz2ark in.npz ark,scp:out.ark,out.scp
Keys and order are those of the npz; vectors are written as Kaldi float vectors.
"""
import argparse
import sys

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.npz_io import load_npz

PROG = 'npz2ark'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('npz')
    parser.add_argument('wspecifier', help='e.g. ark,scp:out.ark,out.scp or ark,t:out.txt')
    args = parser.parse_args(argv)
    try:
        arrays = load_npz(args.npz)
        kt.write_vectors(args.wspecifier, [str(k) for k in arrays['utt_ids']], arrays['vectors'])
    except UserError as err:
        print('ERROR (%s): %s' % (PROG, err), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
