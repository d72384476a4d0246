"""Trial lists for the scoring tools, streamed: read, matched to vectors, scored, written.

A trial list is read in pieces of about 1 MB (some 40k trials) that end at a line
end; each piece is tokenised, its keys looked up, its trials scored and its lines
written before the next is read, so memory does not grow with the number of
trials (20M trials are 1 GB of text).
"""
import numpy as np

from data_utils.errors import UserError
from data_utils.kaldi_streams import describe, open_output, open_rx
from data_utils.limits import MAX_LINE_BYTES, too_long
from kaldi_compat.cli import log_progress, warn
from kaldi_compat.columns import KeyIndex, split_columns
from kaldi_compat.fastformat import format_g7, join_rows, key_matrix

PIECE_BYTES = 1 << 20


def read_trial_pieces(rxfilename, message, size=PIECE_BYTES):
    """Yield (Columns of "key1 key2" lines, is_last) pieces of about `size` bytes.

    Every line must have exactly two fields (as Kaldi's scorers demand); a bad
    line raises UserError naming its number and text.
    """
    where = describe(rxfilename)
    first_line = 1
    pending = None
    consumed = 0   # bytes before `rest`
    with open_rx(rxfilename) as stream:
        rest = b''
        while True:
            block = stream.read(size)
            data = rest + block
            cut = len(data) if not block else data.rfind(b'\n') + 1
            if block and cut == 0:            # no line end yet: read on
                if len(data) > MAX_LINE_BYTES:   # endless input: stop in bounded memory
                    raise too_long(where, consumed, 'line %d' % first_line, MAX_LINE_BYTES)
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            consumed += cut
            if piece:
                if pending is not None:
                    yield pending, False
                pending = split_columns(piece, 2, where, message, first_line)
                first_line += len(pending)
            if not block:
                break
    if pending is not None:
        yield pending, True


class ScoreWriter:
    """Builds "key1 key2 score" lines from row indices and scores with numpy (see fastformat)."""

    def __init__(self, enroll_keys, test_keys):
        self.enroll = key_matrix(enroll_keys)
        self.test = key_matrix(test_keys)

    def lines(self, rows_enrol, rows_test, scores, chunk=65536):
        pieces = []
        for start in range(0, scores.size, chunk):
            sel = slice(start, start + chunk)
            text = format_g7(scores[sel])
            text = text[:, text.any(axis=0)]          # columns no score uses
            pieces.append(join_rows([self.enroll[rows_enrol[sel]], ' ',
                                     self.test[rows_test[sel]], ' ', text, '\n']))
        return b''.join(pieces)


def score_trial_list(tool, trials_rx, scores_wx, keys1, keys2, score, missing1, missing2,
                     message='expected two fields: key1 key2'):
    """Score every trial of trials_rx into scores_wx, piece by piece, in trials order.

    score(rows1, rows2, is_last) gives the scores of trials between rows of the two
    key lists (is_last: no trials follow this piece). A trial with a missing key is
    warned about (missing1 / missing2: '%s' formats naming the table) and skipped.
    Returns (trials scored, trials with a missing key, sum of scores, sum of squares),
    the scores summed as printed (single precision), as Kaldi does. Progress is logged
    every million trials; when no trial could be scored it is an error, as in Kaldi,
    and no scores file is left.
    """
    index1, index2 = KeyIndex(keys1), KeyIndex(keys2)
    writer = ScoreWriter(keys1, keys2)
    num_done = num_errors = 0
    total = total_sq = 0.0
    with open_output(scores_wx, binary=False) as stream:
        for trials, is_last in read_trial_pieces(trials_rx, message):
            rows1 = index1.find_in(trials, 0)
            rows2 = index2.find_in(trials, 1)
            ok = (rows1 >= 0) & (rows2 >= 0)
            if not ok.all():
                for i in np.flatnonzero(~ok):
                    if rows1[i] < 0:
                        warn(tool, missing1 % trials.token(i, 0))
                    else:
                        warn(tool, missing2 % trials.token(i, 1))
                num_errors += int((~ok).sum())
                rows1, rows2 = rows1[ok], rows2[ok]
            scores = np.asarray(score(rows1, rows2, is_last)).astype(np.float32)
            stream.write(writer.lines(rows1, rows2, scores))
            log_progress(tool, num_done, num_done + scores.size, 'scored trials')
            num_done += scores.size
            total += float(scores.sum(dtype=np.float64))
            total_sq += float(np.square(scores, dtype=np.float64).sum())
        if not num_done:
            # Kaldi exits with status 1 when it scored nothing; the scores file is not kept.
            raise UserError('%s: no trial could be scored (%d trials, each with a key '
                                'missing from the vectors)' % (trials_rx, num_errors))
    return num_done, num_errors, total, total_sq
