"""The results table of the recipes: front-end x back-end x set, like the paper's Table 1.

  python local/analysis/results_table.py --table-dir exp/results [--missing TEXT] [ROWS.tsv ...]

Rows from each ROWS.tsv (front_end backend set eer mindcf_...) replace earlier rows
with the same (front_end, backend, set) in <table-dir>/results.tsv; the markdown
twin results.md is regenerated and printed. Both files are replaced atomically.
--missing: lines "<front-end>: <why>" (eval.sh: the models train.sh did not train); those
without rows in the table are named under it, with the reason.
"""
import argparse
import os
import sys

from data_utils.atomic import atomic_open
from data_utils.errors import UserError, file_errors, run_main
import names

FRONT_ENDS = names.front_ends()     # [(name, label)] in the tables' order (conf/front_ends.tsv)
# Each back-end's AS-norm rows (score_backends.sh --score-norm asnorm) right after its plain ones.
BACKENDS = [row for name, label in names.backends()
            for row in ((name, label), (name + '_asnorm', label + '+AS-norm'))]
KEY = ('front_end', 'backend', 'set')


def read_rows(path):
    with file_errors(path), open(path) as f:
        lines = [line.rstrip('\n').split('\t') for line in f if line.strip()]
    if not lines:
        return [], []
    header, rows = lines[0], lines[1:]
    for row in rows:
        if len(row) != len(header):
            raise UserError('%s: row %r does not match the header %r' % (path, row, header))
    return header, [dict(zip(header, row)) for row in rows]


def write_atomic(path, text):
    with file_errors(path), atomic_open(path, 'w') as f:
        f.write(text)


def _order(value, known):
    names = [k for k, _ in known]
    return (names.index(value), value) if value in names else (len(names), value)


def merge(table, new_rows):
    merged = {tuple(r[k] for k in KEY): r for r in table}
    for row in new_rows:
        merged[tuple(row[k] for k in KEY)] = row
    return sorted(merged.values(), key=lambda r: (_order(r['front_end'], FRONT_ENDS),
                                                  _order(r['backend'], BACKENDS), r['set']))


def _cell(value, metric):
    """EER with 2 decimals, minDCF with 4 (as compute_min_dcf.py prints); other text as is."""
    try:
        return ('%.2f' if metric == 'eer' else '%.4f') % float(value)
    except ValueError:
        return value


def markdown(rows, metrics):
    """One line per (back-end, front-end); per set its EER and minDCFs. Missing cells: '-'."""
    sets = sorted({r['set'] for r in rows}, key=lambda s: (s.endswith('eval'), s))
    cells = {tuple(r[k] for k in KEY): r for r in rows}
    front_ends = sorted({r['front_end'] for r in rows}, key=lambda f: _order(f, FRONT_ENDS))
    backends = sorted({r['backend'] for r in rows}, key=lambda b: _order(b, BACKENDS))
    labels = dict(FRONT_ENDS + BACKENDS)
    heads = ['%s %s' % (s, 'EER(%)' if m == 'eer' else m.replace('mindcf_', 'minDCF(') + ')')
             for s in sets for m in metrics]
    out = ['| Back-end | Front-end | ' + ' | '.join(heads) + ' |',
           '|---|---|' + '---:|' * len(heads)]
    for backend in backends:
        for front_end in front_ends:
            values = []
            for s in sets:
                row = cells.get((front_end, backend, s))
                values.extend(_cell(row.get(m, '-'), m) if row else '-' for m in metrics)
            out.append('| %s | %s | %s |' % (labels.get(backend, backend),
                                              labels.get(front_end, front_end), ' | '.join(values)))
    return '\n'.join(out) + '\n'


def missing_note(text, rows):
    """The lines under the table for the front-ends of ``text`` ("name: why" lines) that
    have no row in it."""
    present = {r['front_end'] for r in rows}
    labels = dict(FRONT_ENDS)
    notes = []
    for line in text.splitlines():
        name, _, why = line.partition(':')
        name = name.strip()
        if name and name not in present:
            notes.append('- %s (%s): %s' % (labels.get(name, name), name, why.strip()))
    return '\nMissing front-ends:\n' + '\n'.join(notes) + '\n' if notes else ''


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--table-dir', required=True)
    parser.add_argument('--missing', default='',
                        help='lines "<front-end>: <why>" for front-ends not scored')
    parser.add_argument('rows', nargs='*', help='results.tsv files of local/compute_metrics.sh')
    args = parser.parse_args(argv)
    with file_errors(args.table_dir):
        os.makedirs(args.table_dir, exist_ok=True)
    tsv = os.path.join(args.table_dir, 'results.tsv')
    header, table = read_rows(tsv) if os.path.exists(tsv) else ([], [])
    for path in args.rows:
        new_header, new_rows = read_rows(path)
        header = header or new_header
        if new_header != header:
            raise UserError('%s: columns %r differ from %s: %r' % (path, new_header, tsv, header))
        table = merge(table, new_rows)
    if not table:
        print('results_table.py: no results yet in %s' % tsv, file=sys.stderr)
        return
    write_atomic(tsv, '\t'.join(header) + '\n'
                 + ''.join('\t'.join(r[h] for h in header) + '\n' for r in table))
    metrics = [h for h in header if h not in KEY]
    text = markdown(table, metrics) + missing_note(args.missing, table)
    write_atomic(os.path.join(args.table_dir, 'results.md'), text)
    print(text)


if __name__ == '__main__':
    run_main('results_table.py', main)
