"""What a model or a results row was made from: the identity of a set of vectors.

  python -m data_utils.set_identity data-dir DIR [--trials FILE] [--out JSON]
  python -m data_utils.set_identity check-models --train-set JSON [--prog NAME] MODEL_DIR...
  python -m data_utils.set_identity check-init --train-set JSON --init-from DIR [--prog NAME]
  python -m data_utils.set_identity run --data D --train-set T --eval-sets "a b"
      [--models "exp/d/vae ..."] --out JSON

A set's identity is its vector count, dimension and two SHA-256 digests, one of its keys
(in table order) and one of its vectors (float32, little-endian): two sets are the same
when all four agree, wherever they are stored. It is computed while the vectors stream by
(one chunk in memory), so ark2npz adds it to the conversion it does anyway.

check-models: before train.sh trains, each model dir must record (train_set.json) the
training set of this run, or hold no model yet (then the record is written). A model
trained on other data is never resumed or skipped as finished: one ERROR line names both
sets and the fix. check-init: cvae's --init-from must come from the same training set.
run: the identities eval.sh and baseline.sh stamp their results rows with (the training
set, each evaluation set's enroll and test vectors and trials, each model's training set
and checkpoint); every model must have been trained on this run's training set.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.atomic import atomic_open
from data_utils.datadir import vectors_rspecifier
from data_utils.errors import UserError, file_errors, run_main

PROG = 'set_identity'
RECORD = 'train_set.json'          # in a model dir: the identity of its training set
FIELDS = ('vectors', 'dim', 'keys_sha256', 'vectors_sha256')


class VectorHasher:
    """The identity of a vector table, fed chunk by chunk as it streams."""

    def __init__(self):
        self.count = 0
        self.dim = None
        self.keys = hashlib.sha256()
        self.rows = hashlib.sha256()

    def add(self, keys, rows):
        self.count += len(keys)
        self.dim = int(rows.shape[1]) if self.dim is None else self.dim
        self.keys.update(''.join(key + '\n' for key in keys).encode('utf-8', 'surrogateescape'))
        self.rows.update(np.ascontiguousarray(rows, dtype='<f4').tobytes())

    def identity(self, source):
        return with_id({'data': source, 'vectors': self.count, 'dim': self.dim,
                        'keys_sha256': self.keys.hexdigest(),
                        'vectors_sha256': self.rows.hexdigest()})


def with_id(identity):
    """Add 'id', a short name of the identity's fields (what logs and tables print)."""
    text = ' '.join(str(identity[name]) for name in FIELDS if name in identity)
    return dict(identity, id=hashlib.sha256(text.encode()).hexdigest()[:12])


def same(a, b):
    return all(a.get(name) == b.get(name) for name in FIELDS)


def describe(identity):
    """'data/demo/train (12000 vectors x 512, id 0123456789ab)'"""
    return '%s (%s vectors x %s, id %s)' % (identity.get('data', '?'), identity.get('vectors'),
                                            identity.get('dim'), identity.get('id'))


def of_table(rspecifier, source):
    hasher = VectorHasher()
    for keys, rows in kt.read_vector_chunks(rspecifier, dtype=np.float32):
        hasher.add(keys, rows)
    if not hasher.count:
        raise UserError('%s: no vectors' % source)
    return hasher.identity(source)


def file_sha256(path):
    digest = hashlib.sha256()
    with file_errors(path), open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def of_data_dir(data_dir):
    return of_table(vectors_rspecifier(data_dir), data_dir.rstrip('/'))


def of_eval_set(set_dir):
    """An evaluation set: its enroll and test vectors and its trials, one id for all."""
    enroll = of_data_dir(os.path.join(set_dir, 'enroll'))
    test = of_data_dir(os.path.join(set_dir, 'test'))
    trials = file_sha256(os.path.join(set_dir, 'trials'))
    text = ' '.join([enroll['id'], test['id'], trials])
    return {'data': set_dir.rstrip('/'), 'enroll': enroll, 'test': test, 'trials_sha256': trials,
            'id': hashlib.sha256(text.encode()).hexdigest()[:12]}


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as err:
        raise UserError(path, err.strerror or str(err)) from None
    except ValueError as err:
        raise UserError(path, 'not JSON: %s' % err) from None


def write_json(path, value):
    with file_errors(path):
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with file_errors(path), atomic_open(path, 'w') as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write('\n')


def has_model(model_dir):
    """A checkpoint (model.train's Saver) is what a run would resume or skip."""
    return os.path.isfile(os.path.join(model_dir, 'checkpoint'))


def recorded(model_dir):
    """The training set a model dir records, or None."""
    path = os.path.join(model_dir, RECORD)
    return read_json(path) if os.path.isfile(path) else None


def fix(model_dir):
    return 'use another --exp, or remove %s to train it on this data' % model_dir


def check_model(model_dir, train_set):
    """Record this run's training set in a new model dir; refuse one trained on other data."""
    record = recorded(model_dir)
    if record is not None and same(record, train_set):
        return
    if has_model(model_dir):
        if record is None:
            raise UserError('%s: holds a model that records no training set (no %s), so it may '
                            'be of other data than %s; %s'
                            % (model_dir, RECORD, describe(train_set), fix(model_dir)))
        raise UserError('%s: trained on %s, not on this run\'s training set %s; %s'
                        % (model_dir, describe(record), describe(train_set), fix(model_dir)))
    with file_errors(model_dir):
        os.makedirs(model_dir, exist_ok=True)
    write_json(os.path.join(model_dir, RECORD), train_set)   # nothing trained yet: this run's


def check_init(init_dir, train_set):
    if not has_model(init_dir):
        raise UserError('%s: --init-from: no trained model there; train it first (train.sh --model vae)'
                        % init_dir)
    record = recorded(init_dir)
    if record is None or not same(record, train_set):
        what = describe(record) if record else 'a training set it does not record'
        raise UserError('%s: --init-from model trained on %s, not on this run\'s training set %s; '
                        'train it on this data first (train.sh --model vae), or give --init-from '
                        'a model of this data' % (init_dir, what, describe(train_set)))


def checkpoint_stamp(model_dir):
    """The newest checkpoint's name and a digest of its index (which holds a checksum of
    every variable), so rows of a retrained model differ from the old model's."""
    state = os.path.join(model_dir, 'checkpoint')
    with file_errors(state), open(state) as f:
        lines = [l.split(':', 1) for l in f if l.startswith('model_checkpoint_path:')]
    if not lines:
        raise UserError(state, 'names no checkpoint')
    name = os.path.basename(lines[0][1].strip().strip('"'))
    return '%s:%s' % (name, file_sha256(os.path.join(model_dir, name + '.index'))[:12])


def run_identity(data, train_set, eval_sets, model_dirs):
    """What a results table is made from, checked: every model trained on this training set."""
    train = of_data_dir(os.path.join(data, train_set))
    models = {}
    for model_dir in model_dirs:
        record = recorded(model_dir)
        if record is None or not same(record, train):
            what = describe(record) if record else 'a training set it does not record'
            raise UserError('%s: trained on %s, not on %s; train it on this data '
                            '(train.sh --data %s), or point --exp at the models of this data'
                            % (model_dir, what, describe(train), data))
        models[os.path.basename(model_dir.rstrip('/'))] = {
            'dir': model_dir, 'checkpoint': checkpoint_stamp(model_dir), 'train': record}
    sets = {name: of_eval_set(os.path.join(data, name)) for name in eval_sets}
    return {'data': data, 'train_set': train_set, 'train': train, 'sets': sets, 'models': models}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    one = sub.add_parser('data-dir', help='identity of a data dir\'s vectors')
    one.add_argument('dir')
    one.add_argument('--out', help='write it here (JSON); default: print it')
    models = sub.add_parser('check-models', help='record or check each model dir\'s training set')
    models.add_argument('--train-set', required=True, help='identity JSON (ark2npz --identity-out)')
    models.add_argument('model_dirs', nargs='+')
    init = sub.add_parser('check-init', help='an --init-from model must be of this training set')
    init.add_argument('--train-set', required=True)
    init.add_argument('--init-from', required=True)
    run = sub.add_parser('run', help='identities of a recipe run (results rows)')
    run.add_argument('--data', required=True)
    run.add_argument('--train-set', required=True)
    run.add_argument('--eval-sets', default='')
    run.add_argument('--models', default='', help='space-separated model dirs')
    run.add_argument('--out', required=True)
    for p in (models, init):
        p.add_argument('--prog', default=PROG, help='name in the ERROR line')
    args = parser.parse_args(argv)
    if args.command == 'data-dir':
        identity = of_data_dir(args.dir)
        if args.out:
            write_json(args.out, identity)
        print(describe(identity))
    elif args.command == 'run':
        result = run_identity(args.data, args.train_set, args.eval_sets.split(), args.models.split())
        write_json(args.out, result)
        print('training set: %s' % describe(result['train']))
        for name, model in result['models'].items():
            print('model %s: %s, checkpoint %s, trained on %s'
                  % (name, model['dir'], model['checkpoint'], describe(model['train'])))
        for name, eval_set in result['sets'].items():
            print('evaluation set %s: %s (id %s)' % (name, eval_set['data'], eval_set['id']))
    else:
        train = read_json(args.train_set)
        try:
            if args.command == 'check-models':
                for model_dir in args.model_dirs:
                    check_model(model_dir, train)
            else:
                check_init(args.init_from, train)
        except UserError as err:
            print('ERROR (%s): %s' % (args.prog, err), file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    run_main(PROG, main)
