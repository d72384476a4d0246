"""Check an evaluation set's trials against its enrolment and test data dirs.

    python3 -m data_utils.check_trials data/sitw_dev_test/trials/core-core.lst \\
        data/sitw_dev_enroll data/sitw_dev_test

Every trial must name a model of the enrolment spk2utt and an utterance of the test
utt2spk, and both target and nontarget trials must be there: the check the recipes make
on vectors (data_utils.check_sets), made here on the audio data dirs, so that
local/prepare_from_audio.sh finds a bad trials list before it computes any feature.
Prints one summary line; the first problem is one ERROR line and exit 1.
"""
import argparse
import os
import sys

from data_utils.datadir import read_pairs, read_spk2utt, read_trials
from data_utils.errors import run_main

PROG = 'check_trials'


def check(trials_path, enroll_dir, test_dir):
    models = read_spk2utt(os.path.join(enroll_dir, 'spk2utt'))
    test_utts = read_pairs(os.path.join(test_dir, 'utt2spk'), 'utt2spk')
    trials = read_trials(trials_path, models, test_utts)
    return len(models), len(test_utts), len(trials), sum(t[2] for t in trials)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('trials', help='"model test-utterance target|nontarget" lines')
    parser.add_argument('enroll_dir', help='data dir whose spk2utt maps each model to its utterances')
    parser.add_argument('test_dir', help='data dir whose utt2spk lists the test utterances')
    args = parser.parse_args(argv)
    print('%s: %s: %d models, %d test utterances, %d trials (%d target)'
          % ((PROG, args.trials) + check(args.trials, args.enroll_dir, args.test_dir)), file=sys.stderr)


if __name__ == '__main__':
    run_main(PROG, main)
