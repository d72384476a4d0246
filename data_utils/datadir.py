"""Kaldi data dirs as the recipes use them: vectors + utt2spk + spk2utt, and trials.

Every check here fails with one UserError line naming the file and the problem,
before anything is written, so a bad set never leaves half a result behind.
"""
import os
import sys

from data_utils import kaldi_table as kt
from data_utils.errors import UserError
from data_utils.kaldi_streams import printable


def vectors_rspecifier(data_dir):
    """scp:<dir>/xvector.scp if present, else ark:<dir>/xvector.ark."""
    if not os.path.isdir(data_dir):
        raise UserError('%s: no such data directory' % data_dir)
    for name, kind in (('xvector.scp', 'scp'), ('xvector.ark', 'ark')):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return '%s:%s' % (kind, path)
    raise UserError('%s: has neither xvector.scp nor xvector.ark' % data_dir)


def pair_lines(path, what):
    """(line number, key, value) of each 'key value' line (utt2spk), blank lines skipped;
    keys not checked for repeats."""
    if not os.path.isfile(path):
        raise UserError('%s: missing (%s)' % (path, what))
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise UserError('%s: line %d: expected "utterance speaker"' % (path, lineno))
            yield lineno, fields[0], fields[1]


def read_pairs(path, what):
    """'key value' lines (utt2spk); keys unique."""
    table = {}
    for lineno, key, value in pair_lines(path, what):
        if key in table:
            raise UserError('%s: line %d: %s appears twice' % (path, lineno, printable(key)))
        # One str per speaker, not one per line: a VoxCeleb utt2spk has 1.2M lines
        # of 7,200 speakers (saves about 56 bytes a line).
        table[key] = sys.intern(value)
    if not table:
        raise UserError('%s: empty' % path)
    return table


def spk2utt_lines(path):
    """(speaker, [utterances]) of each line, checked: no speaker twice, no utterance twice
    on a line, no speaker without utterances, not empty. Only the speakers are held."""
    if not os.path.isfile(path):
        raise UserError('%s: missing (spk2utt)' % path)
    speakers = set()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise UserError('%s: line %d: speaker %s has no utterances'
                                    % (path, lineno, printable(fields[0])))
            if fields[0] in speakers:
                raise UserError('%s: line %d: speaker %s appears twice'
                                    % (path, lineno, printable(fields[0])))
            speakers.add(fields[0])
            # A repeated utterance would count twice in an enrolment model's mean and num_utts.
            seen = set()
            for utt in fields[1:]:
                if utt in seen:
                    raise UserError('%s: line %d: utterance %s appears twice'
                                        % (path, lineno, printable(utt)))
                seen.add(utt)
            yield fields[0], fields[1:]
    if not speakers:
        raise UserError('%s: empty' % path)


def read_spk2utt(path):
    return dict(spk2utt_lines(path))


def check_coverage(keys, utt2spk, vectors_name, utt2spk_name, every_utterance=True,
                   every_vector=True):
    """The utt2spk coverage check: every utterance that utt2spk names has a vector
    (every_utterance), and every vector key has a speaker in it (every_vector)."""
    missing = unlabelled = []
    if every_utterance:
        have = set(keys)
        missing = [u for u in utt2spk if u not in have]
    if every_vector:
        unlabelled = [k for k in keys if k not in utt2spk]
    report_coverage(vectors_name, utt2spk_name, len(missing), missing[:1],
                    len(unlabelled), unlabelled[:1])


def report_coverage(vectors_name, utt2spk_name, num_missing, first_missing,
                    num_unlabelled, first_unlabelled):
    """The error of a failed coverage check, from its counts and first offenders (for
    callers that count without lists of keys, such as ark2npz)."""
    if num_missing:
        raise UserError('%s: names %d utterances with no vector in %s (first: %s)'
                        % (utt2spk_name, num_missing, vectors_name, printable(first_missing[0])))
    if num_unlabelled:
        raise UserError('%s: %d vectors have no speaker in %s (first: %s)'
                        % (vectors_name, num_unlabelled, utt2spk_name,
                           printable(first_unlabelled[0])))


class LabelledVectors:
    """A loaded data dir: keys and vectors in table order, speaker of each."""

    def __init__(self, data_dir, keys, vectors, utt2spk):
        self.dir, self.keys, self.vectors, self.utt2spk = data_dir, keys, vectors, utt2spk

    @property
    def dim(self):
        return self.vectors.shape[1]


def load_data_dir(data_dir, dtype='float64'):
    """Read and cross-check a data dir: every utterance has a vector and a speaker."""
    labels = DataDirLabels(data_dir)
    keys, vectors = kt.read_vector_table(labels.rspecifier, dtype=dtype)
    labels.check(keys)
    return LabelledVectors(data_dir, keys, vectors, labels.utt2spk)


class DataDirLabels:
    """The speakers of a data dir, read before its vectors (which may be streamed):
    check(keys) then cross-checks them with the vectors' keys, as load_data_dir does."""

    def __init__(self, data_dir):
        self.rspecifier = vectors_rspecifier(data_dir)
        self.utt2spk_path = os.path.join(data_dir, 'utt2spk')
        self.utt2spk = read_pairs(self.utt2spk_path, 'utt2spk')
        self.spk2utt_path = os.path.join(data_dir, 'spk2utt')
        spk2utt = read_spk2utt(self.spk2utt_path)
        # Compared now so that spk2utt is not held while the vectors are read. The same
        # (speaker, utterance) pairs: each pair in utt2spk, and as many (read_spk2utt
        # refuses an utterance twice on a line, a second speaker fails the lookup).
        self.spk2utt_matches = (
            sum(len(utts) for utts in spk2utt.values()) == len(self.utt2spk)
            and all(self.utt2spk.get(u) == spk for spk, utts in spk2utt.items() for u in utts))

    def check(self, keys):
        where = self.rspecifier.split(':', 1)[1]
        if not keys:
            raise UserError('%s: no vectors' % where)
        check_coverage(keys, self.utt2spk, where, self.utt2spk_path)
        if not self.spk2utt_matches:
            raise UserError('%s: does not match utt2spk (rebuild it with utt2spk_to_spk2utt)'
                            % self.spk2utt_path)


def read_trials(path, models=None, test_utts=None):
    """(model, test, is_target) triples, both kinds present; when the known models and
    test utterances are given, every key must be among them."""
    if not os.path.isfile(path):
        raise UserError('%s: missing (trials)' % path)
    trials = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[2] not in ('target', 'nontarget'):
                raise UserError('%s: line %d: expected "model test target|nontarget"'
                                    % (path, lineno))
            if models is not None and fields[0] not in models:
                raise UserError('%s: line %d: unknown model %s (not in the enrolment spk2utt)'
                                    % (path, lineno, printable(fields[0])))
            if test_utts is not None and fields[1] not in test_utts:
                raise UserError('%s: line %d: unknown test utterance %s'
                                    % (path, lineno, printable(fields[1])))
            trials.append((fields[0], fields[1], fields[2] == 'target'))
    if not trials:
        raise UserError('%s: no trials' % path)
    kinds = {t[2] for t in trials}
    if kinds != {True, False}:
        raise UserError('%s: needs both target and nontarget trials' % path)
    return trials
