"""local/benchmarks/benchmark_scale.py end to end at a tiny size: every step runs and is measured."""
import subprocess
import sys

from helpers import ROOT, env

BACKENDS = ('cosine', 'pca_cosine', 'plda', 'lda_plda', 'pca_plda')


def test_tiny_benchmark_measures_every_step(tmp_path):
    work = tmp_path / 'bench'
    proc = subprocess.run(
        [sys.executable, 'local/benchmarks/benchmark_scale.py', '--train-vectors', '1200', '--speakers', '40',
         '--dim', '16', '--o-utts', '120', '--o-speakers', '12', '--o-trials', '600',
         '--h-utts', '60', '--h-speakers', '6', '--h-trials', '100', '--eval-sets', 'o',
         '--lda-dim', '8', '--pca-dim', '8', '--skip-train', '--only', 'ours',
         '--scorer-trials', '500,5000', str(work)],
        cwd=ROOT, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (work / 'benchmark.tsv').read_text().splitlines()
    assert lines[0].split('\t') == ['step', 'engine', 'items', 'unit', 'wall_s', 'cpu_s', 'per_s',
                                    'peak_rss_mb']
    rows = [dict(zip(lines[0].split('\t'), line.split('\t'))) for line in lines[1:]]
    steps = [r['step'] for r in rows]
    expected = (['ark2npz (train)', 'ivector-mean (global)', 'ivector-subtract-global-mean',
                 'ivector-compute-lda', 'est-pca', 'ivector-normalize-length',
                 'ivector-compute-plda', 'transform-vec (lda)', 'ivector-compute-plda (lda)',
                 'transform-vec (pca)', 'ivector-compute-plda (pca)', 'o: ivector-mean (models)']
                + [s % b for b in BACKENDS for s in ('o: prepare vectors (%s)', 'o: score %s',
                                                     'o: compute-eer %s')]
                + ['%s, %d trials' % (tool, n) for n in (500, 5000)
                   for tool in ('ivector-plda-scoring', 'ivector-compute-dot-products')])
    assert steps == expected
    for r in rows:
        assert r['engine'] == 'ours'
        assert int(r['items']) > 0 and r['unit'] in ('vectors', 'trials')
        wall, rate, rss = float(r['wall_s']), float(r['per_s']), float(r['peak_rss_mb'])
        assert wall > 0 and float(r['cpu_s']) >= 0 and rss > 1
        assert abs(rate * wall - int(r['items'])) < 1e-3 * int(r['items'])
    train_steps = [r for r in rows if r['step'] in expected[1:11]]
    assert all(int(r['items']) == 1200 for r in train_steps)
    # The Markdown table has the same rows; the EERs of a well separated set are sane.
    table = [l for l in proc.stdout.splitlines() if l.startswith('| ')]
    assert len(table) == 1 + len(rows)
    eer_line = next(l for l in proc.stdout.splitlines() if l.startswith('EER % (ours)'))
    eers = dict(item.rsplit(' ', 1) for item in eer_line.split(': ', 1)[1].split(', '))
    assert sorted(eers) == sorted('o ' + b for b in BACKENDS)
    assert all(0 <= float(v) < 40 for v in eers.values()), eers
    # Big files are removed unless --keep.
    assert not (work / 'data').exists() and not (work / 'ours').exists()
