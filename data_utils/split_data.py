"""Split a data dir, or a list file such as trials, into N parts for N parallel jobs.

  python -m data_utils.split_data <data-dir> <N>
      -> <data-dir>/split<N>/<n>/{xvector.scp,utt2spk,spk2utt}, n = 1..N
  python -m data_utils.split_data --lines <file> <N> <dest-dir>
      -> <dest-dir>/split<N>/<n>/<basename of file>

The layout is that of Kaldi's utils/split_data.sh, so the jobs name their part as
<dir>/split<N>/JOB/... for run.pl, queue.pl or slurm.pl. Parts are consecutive runs of
the input, in its order, of sizes that differ by at most one (as utils/split_scp.pl
cuts them), so concatenating the jobs' outputs 1..N gives the input's order. A data dir
with only xvector.ark is split through an index of its records (key -> ark:offset): the
vectors are not copied. Every file is written to a temporary name and renamed.
"""
import argparse
import os

from data_utils import kaldi_table as kt
from data_utils.atomic import atomic_open
from data_utils.datadir import check_coverage, read_pairs, vectors_rspecifier
from data_utils.errors import UserError, file_errors, run_main

PROG = 'split_data'


def part_bounds(count, parts, what):
    """[(start, end)] of `parts` consecutive runs covering `count` items."""
    if parts < 1:
        raise UserError('number of jobs must be >= 1, got %d' % parts)
    if count < parts:
        raise UserError('%s: %d items cannot be split into %d jobs' % (what, count, parts))
    return [(count * i // parts, count * (i + 1) // parts) for i in range(parts)]


def write_text(path, lines):
    with file_errors(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_open(path, 'w') as f:
            f.writelines(lines)


def split_lines(path, parts, dest):
    with file_errors(path), open(path) as f:
        lines = [line for line in f if line.strip()]
    for n, (start, end) in enumerate(part_bounds(len(lines), parts, path), 1):
        write_text(os.path.join(dest, 'split%d' % parts, str(n), os.path.basename(path)),
                   lines[start:end])


def split_data_dir(data_dir, parts):
    rspecifier = vectors_rspecifier(data_dir)
    entries = list(kt.table_index(rspecifier))
    utt2spk_path = os.path.join(data_dir, 'utt2spk')
    utt2spk = read_pairs(utt2spk_path, 'utt2spk')
    check_coverage([key for key, _ in entries], utt2spk, rspecifier.split(':', 1)[1],
                   utt2spk_path, every_utterance=False)
    for n, (start, end) in enumerate(part_bounds(len(entries), parts, data_dir), 1):
        part = os.path.join(data_dir, 'split%d' % parts, str(n))
        chunk = entries[start:end]
        spk2utt = {}
        for key, _ in chunk:
            spk2utt.setdefault(utt2spk[key], []).append(key)
        write_text(os.path.join(part, 'xvector.scp'), ['%s %s\n' % entry for entry in chunk])
        write_text(os.path.join(part, 'utt2spk'), ['%s %s\n' % (k, utt2spk[k]) for k, _ in chunk])
        write_text(os.path.join(part, 'spk2utt'),
                   ['%s %s\n' % (s, ' '.join(u)) for s, u in sorted(spk2utt.items())])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lines', metavar='FILE', help='split the lines of FILE instead of a data dir')
    parser.add_argument('source', help='data dir (or, with --lines, the number of parts)')
    parser.add_argument('parts', help='number of parts (or, with --lines, the destination dir)')
    args = parser.parse_args(argv)
    if args.lines:
        parts, dest, what = args.source, args.parts, args.lines
    else:
        parts, dest, what = args.parts, None, args.source
    try:
        parts = int(parts)
    except ValueError:
        raise UserError("%s: number of jobs must be an integer, got '%s'" % (what, parts)) from None
    if args.lines:
        split_lines(args.lines, parts, dest)
    else:
        split_data_dir(args.source, parts)
    return 0


if __name__ == '__main__':
    run_main(PROG, main)
