"""Convert an npz of vectors (vectors, utt_ids) back to a Kaldi table.

  python -m data_utils.npz2ark in.npz ark,scp:out.ark,out.scp
Keys and order are those of the npz; vectors are written as Kaldi float vectors.
"""
import argparse

from data_utils import kaldi_table as kt
from data_utils.errors import run_main
from data_utils.npz_io import load_npz

PROG = 'npz2ark'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('npz')
    parser.add_argument('wspecifier', help='e.g. ark,scp:out.ark,out.scp or ark,t:out.txt')
    args = parser.parse_args(argv)
    data = load_npz(args.npz, need_utt_ids=True)
    kt.write_vectors(args.wspecifier, [str(k) for k in data.utt_ids], data.vectors)


if __name__ == '__main__':
    run_main(PROG, main)
