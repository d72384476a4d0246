"""Check a recipe's data before any work starts: train set and evaluation sets.

  python -m data_utils.check_sets --data data/demo --train-set train --eval-sets "sitw_dev sitw_eval"
      [--model-dirs "exp/vae exp/cvae"]

Every set must exist, hold vectors of one dimension shared by all sets, agree with its
utt2spk/spk2utt, and each trials list may name only known models and utterances. With
--model-dirs, each must hold a trained model (config.json) whose input dimension is the
data's, so eval.sh finds a mismatch before it extracts anything.
Prints a one-line summary per set; the first problem is one ERROR line and exit 1.
"""
import argparse
import json
import os

from data_utils.datadir import load_data_dir, read_spk2utt, read_trials
from data_utils.errors import UserError, run_main

PROG = 'check_sets'


def check_model_dim(model_dir, dim, data_dir):
    """The model's input dimension (config.json) must be the data's."""
    path = os.path.join(model_dir, 'config.json')
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise UserError('%s: no trained model (no config.json); run train.sh first'
                            % model_dir)
    except (OSError, ValueError) as err:
        raise UserError('%s: cannot read: %s' % (path, err))
    model = config.get('model') if isinstance(config, dict) else None
    input_dim = model.get('input_dim') if isinstance(model, dict) else None
    # A kind of model that records no input_dim is left to its own extractor to check.
    if input_dim is not None and input_dim != dim:
        raise UserError('%s: model input dimension %s, but the vectors of %s have dimension %d; '
                            'train it on this data, or point --exp at the models of this data'
                            % (model_dir, input_dim, data_dir, dim))


def check(data, train_set, eval_sets, model_dirs=()):
    train = load_data_dir(os.path.join(data, train_set))
    print('%s: %d utterances, %d speakers, dim %d'
          % (train.dir, len(train.keys), len(set(train.utt2spk.values())), train.dim))
    for name in eval_sets:
        base = os.path.join(data, name)
        if not os.path.isdir(base):
            raise UserError('%s: no such evaluation set' % base)
        enroll = load_data_dir(os.path.join(base, 'enroll'))
        test = load_data_dir(os.path.join(base, 'test'))
        for part in (enroll, test):
            if part.dim != train.dim:
                raise UserError('%s: vectors have dimension %d, the training set %s has %d'
                                    % (part.dir, part.dim, train.dir, train.dim))
        models = read_spk2utt(os.path.join(base, 'enroll', 'spk2utt'))
        trials = read_trials(os.path.join(base, 'trials'), models, set(test.keys))
        targets = sum(t[2] for t in trials)
        print('%s: %d models, %d test utterances, %d trials (%d target)'
              % (base, len(models), len(test.keys), len(trials), targets))
    for model_dir in model_dirs:
        check_model_dim(model_dir, train.dim, train.dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--train-set', default='train')
    parser.add_argument('--eval-sets', default='', help='space-separated set names')
    parser.add_argument('--model-dirs', default='', help='space-separated trained model dirs')
    args = parser.parse_args(argv)
    check(args.data, args.train_set, args.eval_sets.split(), args.model_dirs.split())


if __name__ == '__main__':
    run_main(PROG, main)
