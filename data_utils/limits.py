"""Bounds on what one read may hold, so that endless or corrupt input (/dev/zero, random
bytes, a file of NULs) stops with one error naming the file and the byte offset, in
bounded memory, instead of growing without end.

The limits are far above any real table: a Kaldi key or token is a few dozen bytes, a
line of an scp, trials or utt2spk file well under a kilobyte (a text vector of dimension
10,000 is some 120 kB), and x-vectors have hundreds of dimensions.
"""
import io
import itertools

from data_utils.errors import UserError

MAX_KEY_BYTES = 1 << 16       # a key of a table, or a token ('<Plda>'): 64 KiB
MAX_LINE_BYTES = 1 << 24      # a line of a text file (scp, trials, spk2utt, text vector): 16 MiB
MAX_DIM = 1 << 24             # a dimension in a binary header: 16M
MAX_ELEMENTS = 1 << 28        # values in one binary object: 1 GiB of float32


def too_long(where, offset, what, limit):
    """The UserError for a `what` that runs past `limit` bytes from `offset`."""
    return UserError(where, 'byte %s: %s longer than %d bytes (the limit); not a Kaldi table?'
                     % ('?' if offset is None else offset, what, limit))


def tell(stream):
    """The stream's position, or None for a pipe."""
    try:
        return stream.tell()
    except (OSError, ValueError, AttributeError):
        return None


def check_dims(shape):
    """Refuse a binary header's dimensions that no real object has (a corrupt header would
    otherwise ask for gigabytes)."""
    count = 1
    for n in shape:
        if n < 0:
            raise UserError('negative dimension %s' % (shape,))
        if n > MAX_DIM:
            raise UserError('dimension %d in a header is over the limit of %d; corrupt data?'
                            % (n, MAX_DIM))
        count *= n
    if count > MAX_ELEMENTS:
        raise UserError('%d values in one object (%s) is over the limit of %d; corrupt data?'
                        % (count, ' x '.join(map(str, shape)), MAX_ELEMENTS))
    return count


def bounded_line_lists(stream, where, limit=MAX_LINE_BYTES, block_bytes=1 << 20):
    """Iterate lists of the lines of a binary stream (each with its b'\n', the last maybe
    without), refusing a line longer than `limit`. Reads blocks and splits them in C
    (io.BytesIO's line iterator), so that the bound costs one check per block."""
    offset, rest = 0, b''
    while True:
        block = stream.read(block_bytes)
        if not block:
            if rest:
                yield [rest]
            return
        data = rest + block if rest else block
        cut = data.rfind(b'\n') + 1
        rest = data[cut:]
        if len(rest) > limit:
            raise too_long(where, offset + cut, 'a line', limit)
        if cut:
            yield list(io.BytesIO(data[:cut]))
            offset += cut


def bounded_lines(stream, where, limit=MAX_LINE_BYTES):
    """The lines of bounded_line_lists one by one."""
    return itertools.chain.from_iterable(bounded_line_lists(stream, where, limit))


def read_text_bounded(stream, where, limit=MAX_LINE_BYTES, block_bytes=1 << 24):
    """The whole of a text stream, read in blocks; a line longer than `limit` is an error
    (endless input without line ends stops there; one rfind per block checks it)."""
    blocks, line_start, offset = [], 0, 0
    while True:
        block = stream.read(block_bytes)
        if not block:
            return b''.join(blocks)
        blocks.append(block)
        last = block.rfind(b'\n')
        if last >= 0:
            line_start = offset + last + 1
        offset += len(block)
        if offset - line_start > limit:
            raise too_long(where, line_start, 'a line', limit)
