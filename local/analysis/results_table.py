"""The results table of the recipes: front-end x back-end x set, like the paper's Table 1.

  python local/analysis/results_table.py --table-dir exp/results [--identity RUN.json] [--missing TEXT] [ROWS.tsv ...]

Rows from each ROWS.tsv (front_end backend set eer mindcf_...) replace earlier rows
with the same (front_end, backend, set) in <table-dir>/results.tsv; the markdown
twin results.md is regenerated and printed. Both files are replaced atomically.

With --identity (data_utils.set_identity run: what the recipe's run was made from), each
new row is stamped with the id of its training set, of its evaluation set (enroll and test
vectors, trials) and its model's checkpoint ('-' for the x-vectors), and the table keeps
only rows of the same data and models: a row of another training set, of other vectors or
trials under the same set name, of another checkpoint of a front-end this run evaluates,
or without identity (an older table) is dropped, with a note saying how many and why.
results.md then names the training set, the models and the sets above the table.

--missing: lines "<front-end>: <why>" (eval.sh: the models train.sh did not train); those
without rows in the table are named under it, with the reason.
"""
import argparse
import json
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
IDENTITY = ('train_id', 'set_id', 'model')     # columns of a table made with --identity


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


def stamp(rows, run, path):
    """Each new row with the identity of what made it (set_identity run's JSON)."""
    stamped = []
    for row in rows:
        if row['set'] not in run['sets']:
            raise UserError('%s: rows of set %s, which the run identity (%s) does not describe; '
                            'rerun the recipe from stage 0' % (path, row['set'], ', '.join(run['sets'])))
        model = run['models'].get(row['front_end'], {}).get('checkpoint', '-')
        stamped.append(dict(row, train_id=run['train']['id'], set_id=run['sets'][row['set']]['id'],
                            model=model))
    return stamped


def keep_same_runs(table, run, replaced):
    """The rows of table made from this run's data and models; a note on the others (but
    those the run's new rows replace anyway, keys in replaced)."""
    models = {fe: m['checkpoint'] for fe, m in run['models'].items()}
    kept, dropped = [], {}
    for row in table:
        if tuple(row[k] for k in KEY) in replaced:
            continue
        if any(name not in row for name in IDENTITY):
            why = 'made before rows recorded their data'
        elif row['train_id'] != run['train']['id']:
            why = 'of training set %s (this run: %s)' % (row['train_id'], run['train']['id'])
        elif row['set'] in run['sets'] and row['set_id'] != run['sets'][row['set']]['id']:
            why = 'of other %s data (id %s; this run: %s)' % (row['set'], row['set_id'],
                                                              run['sets'][row['set']]['id'])
        elif row['front_end'] in models and row['model'] != models[row['front_end']]:
            why = 'of another %s model (%s; this run: %s)' % (row['front_end'], row['model'],
                                                               models[row['front_end']])
        else:
            kept.append(row)
            continue
        dropped[why] = dropped.get(why, 0) + 1
    for why, count in dropped.items():
        print('results_table.py: note: dropped %d rows %s' % (count, why), file=sys.stderr)
    return kept


def merge_identity(old, run, table):
    """What the table's rows were made from: this run's, plus the sets and models of the
    rows kept from earlier runs (same training set)."""
    merged = {'train': run['train'], 'sets': {}, 'models': {}}
    for part in ('sets', 'models'):
        merged[part].update((old or {}).get(part, {}))
        merged[part].update(run[part])
    merged['sets'] = {s: v for s, v in merged['sets'].items() if any(r['set'] == s for r in table)}
    merged['models'] = {m: v for m, v in merged['models'].items()
                        if any(r['front_end'] == m for r in table)}
    return merged


def _described(identity):
    return '%s (%s vectors x %s, id %s)' % (identity['data'], identity['vectors'], identity['dim'],
                                            identity['id'])


def provenance(identity):
    """The lines above the table: the training set, the models, the sets."""
    labels = dict(FRONT_ENDS)
    lines = ['Training set of every model and back-end: %s.' % _described(identity['train'])]
    for fe in sorted(identity['models'], key=lambda f: _order(f, FRONT_ENDS)):
        model = identity['models'][fe]
        lines.append('%s: model %s, checkpoint %s.' % (labels.get(fe, fe), fe, model['checkpoint']))
    for name, s in sorted(identity['sets'].items()):
        lines.append('%s: %s (enroll %s vectors, test %s vectors, id %s).'
                     % (name, s['data'], s['enroll']['vectors'], s['test']['vectors'], s['id']))
    return '\n'.join(lines) + '\n\n'


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
    parser.add_argument('--identity', help='what the run was made from (set_identity run\'s JSON)')
    parser.add_argument('--train-dir', help='with --identity: the recipe\'s training data dir, which '
                        'the identity must describe (a stage 0 of other data is refused)')
    parser.add_argument('--missing', default='',
                        help='lines "<front-end>: <why>" for front-ends not scored')
    parser.add_argument('rows', nargs='*', help='results.tsv files of local/compute_metrics.sh')
    args = parser.parse_args(argv)
    with file_errors(args.table_dir):
        os.makedirs(args.table_dir, exist_ok=True)
    tsv = os.path.join(args.table_dir, 'results.tsv')
    identity_json = os.path.join(args.table_dir, 'identity.json')
    header, table = read_rows(tsv) if os.path.exists(tsv) else ([], [])
    run = read_json(args.identity) if args.identity else None
    if run and args.train_dir and os.path.normpath(run['train']['data']) != os.path.normpath(args.train_dir):
        raise UserError('%s: describes a run on %s, not on %s; rerun the recipe from stage 0'
                        % (args.identity, run['train']['data'], args.train_dir))
    new = []
    for path in args.rows:
        new_header, new_rows = read_rows(path)
        new.append((path, new_header, stamp(new_rows, run, path) if run else new_rows))
    if run is not None:
        replaced = {tuple(r[k] for k in KEY) for _, _, rows in new for r in rows}
        table = keep_same_runs(table, run, replaced)
        header = [h for h in header if h not in IDENTITY]
    for path, new_header, new_rows in new:
        header = header or new_header
        if new_header != header:
            raise UserError('%s: columns %r differ from %s: %r' % (path, new_header, tsv, header))
        table = merge(table, new_rows)
    if not table:
        print('results_table.py: no results yet in %s' % tsv, file=sys.stderr)
        return
    metrics = [h for h in header if h not in KEY + IDENTITY]
    text = markdown(table, metrics) + missing_note(args.missing, table)
    if run is not None:
        old = read_json(identity_json) if os.path.exists(identity_json) else None
        identity = merge_identity(old, run, table)
        header = header + list(IDENTITY)
        write_atomic(identity_json, json.dumps(identity, indent=1, sort_keys=True) + '\n')
        text = provenance(identity) + text
    write_atomic(tsv, '\t'.join(header) + '\n'
                 + ''.join('\t'.join(r[h] for h in header) + '\n' for r in table))
    write_atomic(os.path.join(args.table_dir, 'results.md'), text)
    print(text)


def read_json(path):
    with file_errors(path), open(path) as f:
        try:
            return json.load(f)
        except ValueError as err:
            raise UserError(path, 'not JSON: %s' % err) from None


if __name__ == '__main__':
    run_main('results_table.py', main)
