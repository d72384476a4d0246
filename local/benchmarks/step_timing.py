"""Timing the steps of local/benchmarks/benchmark_scale.py, and its table.

Each step is a shell command run under GNU time: wall time, CPU time (user +
system of all its processes) and the peak RSS of its largest process. Rows are
dicts of COLUMNS (plus the engine: ours or kaldi); the table puts each step's
figures for both engines side by side.
"""
import os
import subprocess
import sys
import time

TIME = '/usr/bin/time'     # GNU time, for the peak RSS of each step
COLUMNS = ['step', 'engine', 'items', 'unit', 'wall_s', 'cpu_s', 'per_s', 'peak_rss_mb']


def run_step(command, env, log_path):
    """(wall seconds, CPU seconds, peak RSS in MB of the step's largest process) of a
    shell command; CPU time is user + system of all its processes.

    GNU time reports the largest RSS among the processes of the step (wait4's
    ru_maxrss). It sits between us and the step because a process started straight
    from this one would begin with our own high-water RSS (vfork + exec keeps it).
    """
    rss_file = log_path + '.rss'
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        status = subprocess.call([TIME, '-f', '%M %U %S', '-o', rss_file, 'bash', '-c',
                                  'set -o pipefail; ' + command],
                                 env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if status != 0:
        with open(log_path) as log:
            tail = log.read().strip().splitlines()[-3:]
        raise RuntimeError('step failed (exit %d): %s\n  %s\n  see %s'
                           % (status, command, '\n  '.join(tail), log_path))
    with open(rss_file) as f:
        rss_kb, user, system = f.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kb) / 1024.0


def measure(name, items, unit, command, engine, env, log_dir, rows):
    log_path = os.path.join(log_dir, '%s.%d.log' % (engine, len(rows)))
    wall, cpu, rss = run_step(command, env, log_path)
    row = {'step': name, 'engine': engine, 'items': items, 'unit': unit, 'wall_s': wall,
           'cpu_s': cpu, 'per_s': items / max(wall, 1e-9), 'peak_rss_mb': rss}
    rows.append(row)
    print('%-44s %-5s %10.2f s %10.2f cpu s %12.0f %s/s %9.1f MB'
          % (name, engine, wall, cpu, row['per_s'], unit, rss), file=sys.stderr, flush=True)


def format_table(rows):
    """Markdown: one line per step, ours and (where run) Kaldi's figures side by side."""
    kaldi = {r['step']: r for r in rows if r['engine'] == 'kaldi'}
    lines = ['| step | items | ours: wall s | ours: CPU s | ours: per s | ours: peak RSS MB '
             '| Kaldi: wall s | Kaldi: CPU s | Kaldi: peak RSS MB | ours/Kaldi: wall | CPU |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        if r['engine'] != 'ours':
            continue
        k = kaldi.get(r['step'])
        theirs = (['%.2f' % k['wall_s'], '%.2f' % k['cpu_s'], '%.0f' % k['peak_rss_mb'],
                   '%.2f' % (r['wall_s'] / k['wall_s']),
                   '%.2f' % (r['cpu_s'] / max(k['cpu_s'], 0.01))] if k else [''] * 5)
        lines.append('| %s | %d %s | %.2f | %.2f | %.0f | %.0f | %s |' % (
            r['step'], r['items'], r['unit'], r['wall_s'], r['cpu_s'], r['per_s'],
            r['peak_rss_mb'], ' | '.join(theirs)))
    return '\n'.join(lines)


def write_tsv(path, rows):
    with open(path, 'w') as f:
        f.write('\t'.join(COLUMNS) + '\n')
        for r in rows:
            f.write('\t'.join(str(r[c]) if not isinstance(r[c], float) else '%.4f' % r[c]
                              for c in COLUMNS) + '\n')
