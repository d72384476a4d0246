"""Trial lists for the scoring tools: reading keys, finding vectors, writing scores."""
import numpy as np

from data_utils import kaldi_table as kt
from kaldi_compat.cli import warn


def read_trial_keys(rxfilename):
    """(enroll, test) pairs, one per line of exactly two fields (cut trials to -f 1,2)."""
    pairs = []
    with kt.open_rx(rxfilename) as stream:
        for lineno, line in enumerate(stream, 1):
            fields = line.decode('latin1').split()
            if not fields:
                continue
            if len(fields) != 2:     # as Kaldi's scorers: exactly two fields
                raise kt.KaldiError('%s: line %d: expected "enroll test", got %r'
                                    % (kt.describe(rxfilename), lineno, line.decode('latin1').strip()))
            pairs.append((fields[0], fields[1]))
    return pairs


def resolve_trials(tool, trials, keys1, keys2, name1, name2):
    """Row indices for each trial; trials with a missing key are warned about and dropped."""
    row1 = {k: i for i, k in enumerate(keys1)}
    row2 = {k: i for i, k in enumerate(keys2)}
    kept, rows1, rows2 = [], [], []
    for enroll, test in trials:
        if enroll not in row1:
            warn(tool, 'Key %s not present in %s' % (enroll, name1))
        elif test not in row2:
            warn(tool, 'Key %s not present in %s' % (test, name2))
        else:
            kept.append((enroll, test))
            rows1.append(row1[enroll])
            rows2.append(row2[test])
    return kept, np.array(rows1, dtype=np.int64), np.array(rows2, dtype=np.int64)


def write_scores(wxfilename, pairs, scores):
    """'enroll test score' lines, 7 significant digits as Kaldi prints them."""
    lines = ['%s %s %.7g\n' % (e, t, s) for (e, t), s in zip(pairs, scores)]
    with kt.open_output(wxfilename, binary=False) as stream:
        stream.write(''.join(lines).encode('latin1'))
