"""Kaldi tables: rspecifiers and wspecifiers, readers and writers of ark and scp tables.

'ark:file' holds (key, object) records one after another; 'scp:file' lists
"key rxfilename" lines pointing at objects, usually 'file.ark:offset'. A wspecifier
'ark,scp:a.ark,a.scp' writes both; ',t' writes text. Values read are checked to be
finite, and every error names the file and the key. Vector tables are read in chunks
(read_vector_chunks), so a tool's memory does not grow with the table.
"""
import re
import struct

import numpy as np

from data_utils.ark_fast import vector_chunks
from data_utils.ark_records import binary_vector_records, encoded_keys
from data_utils.atomic import AtomicFile
from data_utils.errors import UserError
from data_utils.kaldi_codec import (check_finite, consume_binary_header,
                                    read_int_obj, read_matrix_obj, read_vector_obj,
                                    read_word, write_vector_obj)
from data_utils.kaldi_records import ark_records, scp_entries, scp_objects
from data_utils.kaldi_streams import committed, describe, open_rx, open_wx, printable, write_in_pieces
from data_utils.row_buffer import RowBuffer

_SPEC_RE = re.compile(r'^(ark|scp)((?:,[a-z]+)*):(.*)$', re.S)


# ----------------------------------------------------------------------------
# Specifiers

def parse_rspecifier(rspecifier):
    """'ark,s,cs:foo' -> ('ark', {'s', 'cs'}, 'foo')."""
    match = _SPEC_RE.match(rspecifier.strip())
    if not match:
        raise UserError("'%s': not an rspecifier (expected ark:... or scp:...)" % rspecifier)
    kind, opts, name = match.groups()
    opts = set(o for o in opts.split(',') if o)
    if 'scp' in opts:
        raise UserError("'%s': an rspecifier names one table" % rspecifier)
    return kind, opts, name


def parse_wspecifier(wspecifier):
    """-> (ark_wxfilename or None, scp_wxfilename or None, binary)."""
    match = _SPEC_RE.match(wspecifier.strip())
    if not match:
        raise UserError("'%s': not a wspecifier (expected ark:..., scp:... or ark,scp:...)"
                         % wspecifier)
    first, opts, names = match.groups()
    opts = [o for o in opts.split(',') if o]
    kinds = [first] + [o for o in opts if o in ('ark', 'scp')]
    binary = 't' not in opts
    if kinds == ['ark']:
        return names, None, binary
    if sorted(kinds) == ['ark', 'scp']:
        parts = names.split(',', 1)
        if len(parts) != 2:
            raise UserError("'%s': ark,scp needs two file names" % wspecifier)
        ark, scp = parts if kinds[0] == 'ark' else parts[::-1]
        return ark, scp, binary
    raise UserError("'%s': writing scp alone is not supported; use ark,scp:" % wspecifier)


# ----------------------------------------------------------------------------
# Readers

def _read_table(rspecifier, read_value):
    """Iterate (key, array) over an ark or scp table; every value finite."""
    kind, _, name = parse_rspecifier(rspecifier)
    records = (ark_records(name, read_value) if kind == 'ark'
               else scp_objects(name, read_value))
    for key, value in records:
        check_finite(value, '%s: key %s' % (describe(name), printable(key)))
        yield key, value


def table_index(rspecifier):
    """Iterate (key, location) over a table without keeping its values: an scp's own
    lines, or an ark file's records as 'file:offset' (an scp of the ark, as Kaldi's
    ark,scp: writes it). A pipe has no offsets to give."""
    kind, _, name = parse_rspecifier(rspecifier)
    if kind == 'scp':
        yield from scp_entries(name)
        return
    name = name.strip()
    if name in ('', '-') or name.endswith('|'):
        raise UserError("'%s': cannot index an ark read from a pipe" % rspecifier)
    with open_rx(name) as stream:
        while True:
            key = read_word(stream)
            if not key:
                return
            key = key.decode('latin1')
            offset = stream.tell()
            try:
                read_vector_obj(stream, consume_binary_header(stream))
            except UserError as err:
                raise UserError('%s: key %s: %s' % (name, printable(key), err))
            yield key, '%s:%d' % (name, offset)


def read_vectors(rspecifier):
    """Iterate (key, vector) from an rspecifier; vectors keep their stored dtype."""
    return _read_table(rspecifier, read_vector_obj)


def read_vector_table(rspecifier, dtype=np.float64, convert=None):
    """All vectors of a table as (keys, N x D matrix); dims must agree, keys be unique.

    The rows go into one growing matrix (row_buffer), never a list of chunks and
    their concatenation. convert(keys, chunk) -> (keys, rows), if given, maps each
    chunk of up to 10k rows (read as `dtype`) before it is kept: a tool can
    transform or drop rows without holding the untransformed table.
    """
    keys, rows = [], None
    for chunk_keys, chunk in read_unique_vector_chunks(rspecifier, dtype=dtype):
        if convert is not None:
            chunk_keys, chunk = convert(chunk_keys, chunk)
        if rows is None:
            rows = RowBuffer(chunk.dtype)
        keys.extend(chunk_keys)
        rows.append(chunk)
    return keys, rows.matrix() if rows is not None else np.zeros((0, 0), dtype)


def read_vector_chunks(rspecifier, chunk_rows=10000, dtype=np.float64, chunk_bytes=None):
    """Iterate (keys, rows x D matrix) over a table, at most chunk_rows rows at a time.

    The streaming form of read_vector_table: memory stays bounded by one chunk
    whatever the table's size. Dimensions must agree and values be finite (keys
    are not checked for repeats: that would need every key in memory). Binary
    arks take a fast path (see ark_fast). dtype None keeps the stored precision;
    chunk_bytes bounds a chunk's bytes too (ark_fast.vector_chunks).
    """
    kind, _, name = parse_rspecifier(rspecifier)
    yield from vector_chunks(kind, name, chunk_rows, dtype, chunk_bytes)


def read_unique_vector_chunks(rspecifier, dtype=np.float64):
    """read_vector_chunks, with a repeated key an error (the keys are kept in a set)."""
    seen = set()
    name = parse_rspecifier(rspecifier)[2]
    for chunk_keys, chunk in read_vector_chunks(rspecifier, dtype=dtype):
        for key in chunk_keys:
            if key in seen:
                raise UserError('%s: key %s appears twice' % (describe(name), printable(key)))
            seen.add(key)
        yield chunk_keys, chunk


def read_matrices(rspecifier):
    """Iterate (key, matrix) from an rspecifier (e.g. feature matrices for est-pca)."""
    return _read_table(rspecifier, read_matrix_obj)


def read_token_table(rspecifier):
    """Text tables like utt2spk / spk2utt: iterate (key, [tokens])."""
    kind, _, name = parse_rspecifier(rspecifier)
    if kind != 'ark':
        raise UserError("'%s': token tables are read as ark:" % rspecifier)
    with open_rx(name) as stream:
        for lineno, line in enumerate(stream, 1):
            parts = line.decode('latin1').split()
            if not parts:
                continue
            yield parts[0], parts[1:]


def read_int_table(rspecifier):
    """Integer tables such as num_utts (text or binary ark)."""
    kind, _, name = parse_rspecifier(rspecifier)
    records = (ark_records(name, read_int_obj) if kind == 'ark'
               else scp_objects(name, read_int_obj))
    yield from records


# ----------------------------------------------------------------------------
# Writers

class VectorWriter:
    """A table of vectors written chunk by chunk (ark or ark,scp; atomic for files).

        with VectorWriter('ark:out.ark') as writer:
            writer.write(keys, matrix)

    `binary` overrides the wspecifier's ',t' option when given. Nothing is left
    behind if the block raises.
    """

    def __init__(self, wspecifier, binary=None, double=False):
        self.ark_name, scp_name, spec_binary = parse_wspecifier(wspecifier)
        self.binary = spec_binary if binary is None else binary
        self.double = double
        self.num_written = 0
        self._outputs = [open_wx(self.ark_name)] + ([open_wx(scp_name)] if scp_name else [])
        self._scp = self._outputs[1].stream if scp_name else None
        if scp_name and not isinstance(self._outputs[0], AtomicFile):
            self.abort()
            raise UserError("'%s': ark,scp needs a real ark file for the offsets" % wspecifier)
        self._ark = self._outputs[0].stream

    def write(self, keys, matrix):
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or len(keys) != matrix.shape[0]:
            raise UserError('%s: %d keys for a matrix of shape %s'
                             % (self.ark_name, len(keys), matrix.shape))
        check_finite(matrix, '%s: vectors to write' % self.ark_name)
        encoded = encoded_keys(keys) if self.binary else None
        if encoded is None:
            self._write_records(keys, matrix)
        else:
            self._write_chunk(keys, encoded, matrix)
        self.num_written += len(keys)

    def _write_chunk(self, keys, encoded, matrix):
        """Binary records of valid keys: the whole chunk in one write (ark_records)."""
        rows = np.ascontiguousarray(matrix, dtype='<f8' if self.double else '<f4')
        records, lengths = binary_vector_records(*encoded, rows, self.double)
        if self._scp:
            # The offset points just past "key ", where Kaldi's scp offsets point.
            offsets = self._ark.tell() + np.cumsum(lengths) - lengths + encoded[1] + 1
            self._scp.write(''.join('%s %s:%d\n' % (key, self.ark_name, offset)
                                    for key, offset in zip(keys, offsets.tolist()))
                            .encode('latin1'))
        write_in_pieces(self._ark.write, records)

    def _write_records(self, keys, matrix):
        """Record by record: text, or keys that must be reported (empty, whitespace)."""
        ark = self._ark
        scp_lines = []
        if self.binary:
            # Kaldi's record: "key \0BFV \4<int32 dim><floats>" (DV for doubles).
            header = (b' \0B' + (b'DV ' if self.double else b'FV ')
                      + struct.pack('<bi', 4, matrix.shape[1]))
            rows = np.ascontiguousarray(matrix, dtype='<f8' if self.double else '<f4')
        for key, row in zip(keys, rows if self.binary else matrix):
            if not key or any(c in key for c in ' \t\n'):
                raise UserError("%s: invalid key %s" % (self.ark_name, printable(key)))
            encoded = key.encode('latin1')
            if self._scp:
                # The offset points just past "key ", where Kaldi's scp offsets point.
                scp_lines.append('%s %s:%d\n' % (key, self.ark_name, ark.tell() + len(encoded) + 1))
            if self.binary:
                ark.write(encoded + header + row.tobytes())
            else:
                ark.write(encoded + b' ')
                write_vector_obj(ark, False, row, self.double)
        if self._scp:
            self._scp.write(''.join(scp_lines).encode('latin1'))

    def commit(self):
        for out in self._outputs:
            out.commit()

    def abort(self):
        for out in self._outputs:
            out.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.abort()
        return False


def write_vectors(wspecifier, keys, matrix, binary=None, double=False):
    """Write rows of `matrix` under `keys`; ark or ark,scp; atomic for files.

    `binary` overrides the wspecifier's ',t' option when given.
    """
    with VectorWriter(wspecifier, binary, double) as writer:
        writer.write(keys, matrix)


def write_int_table(wspecifier, keys, values):
    ark_name, scp_name, binary = parse_wspecifier(wspecifier)
    if scp_name:
        raise UserError("'%s': integer tables are written as ark only" % wspecifier)
    with committed(open_wx(ark_name)) as (ark,):
        for key, value in zip(keys, values):
            if binary:
                ark.write((key + ' ').encode('latin1') + b'\0B' + struct.pack('<bi', 4, int(value)))
            else:
                ark.write(('%s %d \n' % (key, int(value))).encode('latin1'))
