"""Kaldi table records, one by one: the (key, object) records of an ark stream and the
"key rxfilename" entries of an scp file, with the object each entry points at.

The general path of every table reader (data_utils.kaldi_table), and the fallback of the
fast vector readers (data_utils.ark_fast) for whatever their batches do not cover; errors
name the file, the key and, for scp entries, the location.
"""
from data_utils.errors import UserError
from data_utils.kaldi_codec import consume_binary_header, open_input, read_word
from data_utils.kaldi_streams import describe, open_rx, printable
from data_utils.limits import bounded_line_lists, bounded_lines


def ark_records(rxfilename, read_value):
    """Iterate (key, value) over an ark stream; read_value(stream, binary)."""
    with open_rx(rxfilename) as stream:
        yield from ark_records_in(stream, describe(rxfilename), read_value)


def ark_records_in(stream, where, read_value):
    """Iterate (key, value) over the records of an open ark stream."""
    while True:
        try:
            key = read_word(stream)
        except UserError as err:
            raise UserError(where, err) from None
        if not key:
            return
        key = key.decode('latin1')
        try:
            binary = consume_binary_header(stream)
            value = read_value(stream, binary)
        except UserError as err:
            raise UserError('%s: key %s: %s' % (where, printable(key), err))
        yield key, value


def scp_entries(rxfilename):
    where = describe(rxfilename)
    with open_rx(rxfilename) as stream:
        for lineno, line in enumerate(bounded_lines(stream, where), 1):
            entry = scp_entry(where, lineno, line)
            if entry:
                yield entry


def scp_entry(where, lineno, line):
    """(key, rxfilename) of one scp line (bytes), None for a blank line."""
    parts = line.decode('latin1').strip().split(None, 1)
    if not parts:
        return None
    if len(parts) != 2:
        raise UserError('%s: line %d: expected "key rxfilename"' % (where, lineno))
    return parts[0], parts[1]


def scp_line_blocks(rxfilename, size):
    """Iterate (number of the first line, up to `size` raw lines) over an scp; a line over
    data_utils.limits.MAX_LINE_BYTES is an error."""
    with open_rx(rxfilename) as stream:
        lineno, pending = 1, []
        for lines in bounded_line_lists(stream, describe(rxfilename)):
            pending = pending + lines if pending else lines
            start = 0
            while len(pending) - start >= size:
                yield lineno, pending[start:start + size]
                lineno += size
                start += size
            pending = pending[start:]
        if pending:
            yield lineno, pending


def scp_objects(rxfilename, read_value):
    for key, location in scp_entries(rxfilename):
        yield key, read_scp_entry(describe(rxfilename), key, location, read_value)


def read_scp_entry(where, key, location, read_value):
    """The object an scp entry points at; errors name the scp, key and location."""
    try:
        with open_input(location) as (stream, binary):
            return read_value(stream, binary)
    except UserError as err:
        raise UserError('%s: key %s (%s): %s' % (where, printable(key), printable(location), err))
