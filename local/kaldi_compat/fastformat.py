"""Writing millions of "key1 key2 score" lines without a Python loop.

Kaldi prints scores with `ostream << float` at precision 7, i.e. C's "%.7g". Python's
'%.7g' % x gives the same text but costs about 0.25 us per number, which on a
million trials is more than the scoring itself. Here:

* `format_g7(values)` formats float32 values exactly as "%.7g" does (correct
  rounding, half to even on the exact binary value, %g's choice between fixed and
  exponent notation, trailing zeros removed) with exact numpy arithmetic, into
  a zero-padded byte matrix: fixed columns for sign, integer digits, point,
  fraction and exponent, filled through small per-layout lookup tables. Values
  outside [1e-4, 1e7) (rare for scores) go through Python's formatter.
* `join_rows(parts)` lays fixed-width byte matrices side by side and drops the
  zero padding, which yields the variable-length lines in one pass.
"""
import numpy as np

_DIGIT = ord('0')
WIDTH = 24   # sign, 7 integer digits, '.', 10 fraction digits, 'e', sign, 3 digits


def _layouts():
    """Per layout (fixed notation with X = -4..6, then exponent form): the columns of
    the 7 digits, the skeleton row ("0." and leading zeros for X < 0), the number of
    digits before the point, and the fewest digits shown."""
    columns = np.zeros((12, 7), dtype=np.int64)
    template = np.zeros((12, WIDTH), dtype=np.uint8)
    int_digits = np.zeros(12, dtype=np.int64)
    for code in range(12):
        x = code - 4
        if code == 11 or x >= 0:
            point = 1 if code == 11 else x + 1
            columns[code] = np.concatenate([1 + np.arange(point), 9 + np.arange(7 - point)])
            int_digits[code] = point
        else:
            lead = -x - 1                            # 0.000ddd: zeros after the point
            template[code, 1] = _DIGIT
            template[code, 8] = ord('.')
            template[code, 9:9 + lead] = _DIGIT
            columns[code] = 9 + lead + np.arange(7)
    return columns, template, int_digits, int_digits.copy()


_COLUMNS, _TEMPLATE, _INT_DIGITS, _MIN_KEEP = _layouts()


def _digit_tables():
    """Characters of 0..9999 (4 digits) and 0..999 (3), and their trailing zeros."""
    n4 = np.arange(10000)
    t4 = np.stack([n4 // 1000, n4 // 100 % 10, n4 // 10 % 10, n4 % 10], axis=1) + _DIGIT
    n3 = np.arange(1000)
    t3 = np.stack([n3 // 100, n3 // 10 % 10, n3 % 10], axis=1) + _DIGIT
    tz4 = np.zeros(10000, dtype=np.int8)
    for k in (1, 2, 3):
        tz4 += (n4 % 10 ** k == 0)
    tz3 = np.zeros(1000, dtype=np.int8)
    for k in (1, 2):
        tz3 += (n3 % 10 ** k == 0)
    tz3[0] = 3
    return t4.astype(np.uint8), t3.astype(np.uint8), tz4, tz3


_T4, _T3, _TZ4, _TZ3 = _digit_tables()


_POW5 = np.array([5.0 ** i for i in range(12)])


def _scaled(absval, x10):
    """|x| * 10^(6 - X) exactly in double precision, for X in [-5, 6].

    |x| is a float32 (24-bit mantissa) and 5^a < 2^26 for a <= 11, so |x| * 5^a is
    exact in a double's 53 bits, and scaling by 2^a is exact too.
    """
    a = 6 - x10
    return np.ldexp(absval * _POW5[a], a)


def format_g7(values):
    """'%.7g' of each float32 value, as a zero-padded uint8 matrix (n x 24, or n x 19
    when no value needs the exponent form).

    Values in [1e-4, 1e7), the fixed notation of %.7g, are formatted with exact
    arithmetic: y = |x| * 10^(6 - X) (X the decimal exponent) is exact in double
    precision, so its integer part and the half-to-even rounding of its fraction
    are those of C's printf. Others (and the rare carry to 1e+07) take the exponent
    form; values outside that range go through Python's '%.7g'.
    """
    values = np.asarray(values, dtype=np.float32)
    n = values.shape[0]
    if n == 0:
        return np.zeros((0, WIDTH), dtype=np.uint8)
    absval = np.abs(values).astype(np.float64)
    zero = absval == 0
    with np.errstate(divide='ignore', invalid='ignore'):
        x10 = np.floor(np.log10(absval))
    slow = ~((x10 >= -5) & (x10 <= 6))               # also NaN, Inf and 0
    x10 = np.where(slow, 6, x10).astype(np.int64)
    slow |= ~((x10 >= -4) | (absval >= 1e-4))        # keep 6 - X <= 11 after a correction
    y = _scaled(np.where(slow, 1e6, absval), x10)
    for off, step in ((y < 1_000_000, -1), (y >= 10_000_000, 1)):   # log10 one off
        if off.any():
            x10[off] += step
            y[off] = _scaled(np.where(slow, 1e6, absval)[off], x10[off])
    slow |= x10 < -4                                 # below 1e-4: exponent form
    slow &= ~zero
    q = np.floor(y)
    frac = y - q
    q = q.astype(np.int64)
    q += (frac > 0.5) | ((frac == 0.5) & (q % 2 == 1))    # half to even
    carry = q == 10_000_000
    q[carry] = 1_000_000
    x10 += carry
    q[zero | slow] = 0
    x10[zero | slow] = 0

    hi, lo = np.divmod(q, 1000)
    digits = np.empty((n, 7), dtype=np.uint8)
    digits[:, :4] = _T4[hi]
    digits[:, 4:] = _T3[lo]
    trailing = np.where(lo == 0, 3 + _TZ4[hi], _TZ3[lo]).astype(np.int64)
    expo = (x10 < -4) | (x10 >= 7)
    # Digits kept once trailing zeros go: never the integer digits of fixed notation.
    code = np.where(expo, 11, x10 + 4)              # layout: fixed X = -4..6, or exponent
    keep = np.maximum(7 - trailing, _MIN_KEEP[code])
    keep[zero] = 1
    digits[np.arange(7)[None, :] >= keep[:, None]] = 0
    text = _TEMPLATE[code]                          # sign-less skeleton: "0.000" etc.
    text[:, 0] = np.where(np.signbit(values), ord('-'), 0)
    text[:, 8] = np.where(keep > _INT_DIGITS[code], ord('.'), text[:, 8])
    flat_text, base = text.ravel(), np.arange(0, n * WIDTH, WIDTH)
    for i in range(7):
        flat_text[base + _COLUMNS[code, i]] = digits[:, i]
    erows = np.flatnonzero(expo)
    if erows.size:
        ax = np.abs(x10[erows])
        text[erows, 19] = ord('e')
        text[erows, 20] = np.where(x10[erows] < 0, ord('-'), ord('+'))
        text[erows, 21] = np.where(ax >= 100, _DIGIT + ax // 100, 0)
        text[erows, 22] = _DIGIT + ax // 10 % 10
        text[erows, 23] = _DIGIT + ax % 10

    for i in np.flatnonzero(slow):
        s = ('%.7g' % float(values[i])).encode('ascii')
        text[i] = 0
        text[i, :len(s)] = np.frombuffer(s, dtype=np.uint8)
    return text if erows.size or slow.any() else text[:, :19]


def key_matrix(keys):
    """Keys (str) as a zero-padded uint8 matrix, one row per key."""
    encoded = np.array([k.encode('latin1') for k in keys] or [b''])
    width = max(encoded.dtype.itemsize, 1)
    return np.frombuffer(encoded.astype('S%d' % width).tobytes(),
                         dtype=np.uint8).reshape(-1, width)


def join_rows(parts):
    """Concatenate each row's parts (uint8 matrices or single byte values) and drop zeros."""
    n = next(p.shape[0] for p in parts if isinstance(p, np.ndarray))
    widths = [p.shape[1] if isinstance(p, np.ndarray) else 1 for p in parts]
    block = np.empty((n, sum(widths)), dtype=np.uint8)
    col = 0
    for part, width in zip(parts, widths):
        block[:, col:col + width] = part if isinstance(part, np.ndarray) else ord(part)
        col += width
    flat = block.ravel()
    return flat[flat != 0].tobytes()
