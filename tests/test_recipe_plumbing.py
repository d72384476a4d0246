"""The shell plumbing of the recipes: option parsing, job logs, the results table."""
import subprocess

from helpers import ROOT, env


def sh(script, *args, cwd=ROOT):
    return subprocess.run(['sh', '-c', script, 'recipe'] + list(args), cwd=cwd, env=env(),
                          capture_output=True, text=True)


def test_parse_options_sets_known_variables_both_styles():
    out = sh('epochs=30; kl_weight=1.0; model="vae cvae"; . local/parse_options.sh; '
             'echo "$epochs|$kl_weight|$model|$#|$1"',
             '--epochs', '5', '--kl-weight=0.25', '--model', 'ae', 'positional')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '5|0.25|ae|1|positional'


def test_parse_options_rejects_unknown_and_valueless_options():
    out = sh('epochs=30; . local/parse_options.sh; echo reached', '--epohcs', '5')
    assert out.returncode == 1 and 'reached' not in out.stdout
    assert "unknown option --epohcs" in out.stderr
    out = sh('epochs=30; . local/parse_options.sh; echo reached', '--epochs')
    assert out.returncode == 1 and 'needs a value' in out.stderr


def test_parse_options_config_file(tmp_path):
    (tmp_path / 'my.conf').write_text('epochs=7\n')
    out = sh('epochs=30; . local/parse_options.sh; echo $epochs', '--config', str(tmp_path / 'my.conf'))
    assert out.stdout.strip() == '7'


def test_run_log_records_and_reports_failures(tmp_path):
    log = tmp_path / 'log' / 'job.log'
    ok = subprocess.run(['local/run_log.sh', str(log), 'sh', '-c', 'echo hello'], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0
    text = log.read_text()
    assert 'hello' in text and '# Ended (code 0)' in text and text.startswith('# sh -c echo hello')
    bad = subprocess.run(['local/run_log.sh', str(log), 'sh', '-c',
                          'echo "ERROR (tool): x.ark: broken" >&2; exit 3'],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 3
    assert 'ERROR (tool): x.ark: broken' in bad.stderr and str(log) in bad.stderr


def write_rows(path, rows):
    header = 'front_end\tbackend\tset\teer\tmindcf_0.01\n'
    path.write_text(header + ''.join('\t'.join(r) + '\n' for r in rows))


def test_results_table_merges_replaces_and_renders(tmp_path):
    a = tmp_path / 'a.tsv'
    write_rows(a, [('xvector', 'cosine', 'dev', '20.0', '0.9'),
                   ('xvector', 'plda', 'dev', '5.0', '0.5')])
    b = tmp_path / 'b.tsv'
    write_rows(b, [('vae', 'cosine', 'dev', '9.0', '0.7'),
                   ('xvector', 'cosine', 'dev', '19.0', '0.8')])      # replaces the first row
    table = tmp_path / 'results'
    for rows in (a, b):
        out = subprocess.run(['python3', 'local/results_table.py', '--table-dir', str(table), str(rows)],
                             cwd=ROOT, env=env(), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    tsv = (table / 'results.tsv').read_text().splitlines()
    assert tsv[0] == 'front_end\tbackend\tset\teer\tmindcf_0.01'
    assert sorted(tsv[1:]) == sorted(['xvector\tcosine\tdev\t19.0\t0.8', 'xvector\tplda\tdev\t5.0\t0.5',
                                      'vae\tcosine\tdev\t9.0\t0.7'])
    md = (table / 'results.md').read_text()
    assert '| Cosine | x-vector | 19.00 | 0.8000 |' in md
    assert '| Cosine | v-vector | 9.00 | 0.7000 |' in md
    assert '| PLDA | v-vector | - | - |' in md          # a missing cell shows, not vanishes
    assert md in out.stdout
