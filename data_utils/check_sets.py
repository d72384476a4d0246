"""Check a recipe's data before any work starts: train set and evaluation sets.

  python -m data_utils.check_sets --data data/demo --train-set train --eval-sets "sitw_dev sitw_eval"

Every set must exist, hold vectors of one dimension shared by all sets, agree with its
utt2spk/spk2utt, and each trials list may name only known models and utterances.
Prints a one-line summary per set; the first problem is one ERROR line and exit 1.
"""
import argparse
import os
import sys

from data_utils import kaldi_table as kt
from data_utils.datadir import load_data_dir, read_spk2utt, read_trials

PROG = 'check_sets'


def check(data, train_set, eval_sets):
    train = load_data_dir(os.path.join(data, train_set))
    print('%s: %d utterances, %d speakers, dim %d'
          % (train.dir, len(train.keys), len(set(train.utt2spk.values())), train.dim))
    for name in eval_sets:
        base = os.path.join(data, name)
        if not os.path.isdir(base):
            raise kt.KaldiError('%s: no such evaluation set' % base)
        enroll = load_data_dir(os.path.join(base, 'enroll'))
        test = load_data_dir(os.path.join(base, 'test'))
        for part in (enroll, test):
            if part.dim != train.dim:
                raise kt.KaldiError('%s: vectors have dimension %d, the training set %s has %d'
                                    % (part.dir, part.dim, train.dir, train.dim))
        models = read_spk2utt(os.path.join(base, 'enroll', 'spk2utt'))
        trials = read_trials(os.path.join(base, 'trials'), models, set(test.keys))
        targets = sum(t[2] for t in trials)
        print('%s: %d models, %d test utterances, %d trials (%d target)'
              % (base, len(models), len(test.keys), len(trials), targets))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--train-set', default='train')
    parser.add_argument('--eval-sets', default='', help='space-separated set names')
    args = parser.parse_args(argv)
    try:
        check(args.data, args.train_set, args.eval_sets.split())
    except kt.KaldiError as err:
        print('ERROR (%s): %s' % (PROG, err), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
