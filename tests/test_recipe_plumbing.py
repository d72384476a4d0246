"""The shell plumbing of the recipes: option parsing, job logs, the results table, the names."""
import os
import re
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
    conf = tmp_path / 'my.conf'
    conf.write_text('# a comment\n\n  --epochs 7   # trailing comment\n--model="vae cvae"\n'
                    '--analysis false\n--kl-weight\t0.5')       # no newline at the end
    script = ('epochs=30; model=ae; analysis=true; kl_weight=1; . local/parse_options.sh; '
              'echo "$epochs|$model|$analysis|$kl_weight|$*"')
    out = sh(script, '--config', str(conf))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '7|vae cvae|false|0.5|'
    # As in Kaldi, the command line overrides the file wherever it stands.
    for args in (['--config', str(conf), '--epochs', '9'], ['--epochs=9', '--config=' + str(conf)]):
        out = sh(script, *args, 'positional')
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == '9|vae cvae|false|0.5|positional', args


def test_parse_options_config_file_errors_name_the_file_and_line(tmp_path):
    script = 'epochs=30; analysis=true; . local/parse_options.sh; echo reached'
    cases = {'--epochs 3\n--epohcs 4\n': "line 2: unknown option --epohcs (no variable 'epohcs'",
             '--analysis yes\n': "line 1: option --analysis is boolean: expected true or false, got 'yes'",
             'epochs=3\n': "line 1: expected --name value or --name=value, got 'epochs=3'",
             '\n--epochs\n': 'line 2: option --epochs needs a value',
             '--config other.conf\n': 'line 1: --config inside a config file'}
    for text, message in cases.items():
        conf = tmp_path / 'bad.conf'
        conf.write_text(text)
        out = sh(script, '--config', str(conf))
        assert out.returncode == 1 and 'reached' not in out.stdout, text
        assert out.stderr.startswith('ERROR (recipe): %s: %s' % (conf, message)), (text, out.stderr)
    out = sh(script, '--config', str(tmp_path / 'missing.conf'))
    assert out.returncode == 1 and 'missing.conf: config file not found' in out.stderr


def test_parse_options_boolean_takes_only_true_or_false():
    script = 'analysis=true; . local/parse_options.sh; echo "analysis=$analysis"'
    out = sh(script, '--analysis', 'false')
    assert out.returncode == 0 and out.stdout.strip() == 'analysis=false', out.stderr
    for bad in ('yes', 'no', 'True', '1', ''):
        out = sh(script, '--analysis=' + bad)
        assert out.returncode == 1 and 'analysis=' not in out.stdout, (bad, out.stdout)
        assert "--analysis is boolean: expected true or false, got '%s'" % bad in out.stderr
    # A variable whose default is not a boolean takes any value.
    out = sh('stage=0; . local/parse_options.sh; echo "$stage"', '--stage', 'yes')
    assert out.returncode == 0 and out.stdout.strip() == 'yes'


def test_run_log_records_and_reports_failures(tmp_path):
    log = tmp_path / 'log' / 'job.log'
    ok = subprocess.run(['local/run_log.sh', str(log), 'sh', '-c', 'echo hello'], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0
    text = log.read_text()
    assert 'hello' in text and '# Ended (code 0)' in text and text.startswith('# sh -c "echo hello"')
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
        out = subprocess.run(['python3', 'local/analysis/results_table.py', '--table-dir', str(table), str(rows)],
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


def test_path_sh_chooses_kaldi_when_its_binaries_are_there(tmp_path):
    import os
    if not os.path.isfile(os.path.join(ROOT, '.venv', '.requirements.sha256')):
        import pytest
        pytest.skip('path.sh would create .venv first; run through tests/run.sh')
    fake = tmp_path / 'kaldi'
    (fake / 'src' / 'ivectorbin').mkdir(parents=True)
    tool = fake / 'src' / 'ivectorbin' / 'ivector-plda-scoring'
    tool.write_text('#!/bin/sh\necho kaldi\n')
    tool.chmod(0o755)
    show = '. ./path.sh && echo "$VV_ENGINE $(command -v ivector-plda-scoring) $(command -v ivector-mean)"'
    # The suite itself runs under path.sh, so our tools are on the inherited PATH: start
    # from a PATH without them, as a user's fresh shell would be.
    ours = os.path.join(ROOT, 'local', 'bin')
    fresh_path = os.pathsep.join(p for p in os.environ['PATH'].split(os.pathsep) if p != ours)
    with_kaldi = subprocess.run(['sh', '-c', show], cwd=ROOT, capture_output=True, text=True,
                                env=dict(os.environ, KALDI_ROOT=str(fake), PATH=fresh_path))
    assert with_kaldi.returncode == 0, with_kaldi.stderr
    # Kaldi's scorer answers, and our tools are not on PATH at all (this fake Kaldi
    # has no ivector-mean, so nothing does).
    assert with_kaldi.stdout.split() == ['kaldi', str(tool)]
    without = subprocess.run(['sh', '-c', show], cwd=ROOT, capture_output=True, text=True,
                             env={k: v for k, v in dict(os.environ, PATH=fresh_path).items()
                                  if k != 'KALDI_ROOT'})
    engine, scorer, mean = without.stdout.split()
    assert engine == 'python'
    assert scorer == os.path.join(ROOT, 'local', 'bin', 'ivector-plda-scoring')
    assert mean == os.path.join(ROOT, 'local', 'bin', 'ivector-mean')


def test_import_kaldi_sets_builds_the_layout_with_absolute_scp_paths(tmp_path):
    egs = tmp_path / 'egs'
    for name in ('train_combined_200k', 'sitw_dev_enroll', 'sitw_dev_test'):
        (egs / 'data' / name).mkdir(parents=True)
        (egs / 'exp' / ('xvectors_' + name)).mkdir(parents=True)
        (egs / 'data' / name / 'utt2spk').write_text('u1 s1\nu2 s1\n')
        (egs / 'data' / name / 'spk2utt').write_text('s1 u1 u2\n')
        (egs / 'exp' / ('xvectors_' + name) / 'xvector.scp').write_text(
            'u1 exp/xvectors_%s/xvector.1.ark:10\nu2 /abs/xvector.2.ark:20\n' % name)
    (egs / 'data' / 'sitw_dev_test' / 'trials').mkdir()
    (egs / 'data' / 'sitw_dev_test' / 'trials' / 'core-core.lst').write_text('s1 u1 target\n')
    out = subprocess.run(['local/import_kaldi_sets.sh', '--sets', 'sitw_dev', str(egs), str(tmp_path / 'sitw')],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    scp = (tmp_path / 'sitw' / 'sitw_dev' / 'test' / 'xvector.scp').read_text().splitlines()
    assert scp == ['u1 %s/exp/xvectors_sitw_dev_test/xvector.1.ark:10' % egs, 'u2 /abs/xvector.2.ark:20']
    assert (tmp_path / 'sitw' / 'sitw_dev' / 'trials').read_text() == 's1 u1 target\n'
    assert (tmp_path / 'sitw' / 'train' / 'spk2utt').read_text() == 's1 u1 u2\n'
    missing = subprocess.run(['local/import_kaldi_sets.sh', '--sets', 'sitw_eval', str(egs), str(tmp_path / 'x')],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 1 and 'sitw_eval_enroll/utt2spk: missing' in missing.stderr


# --------------------------------------------------------------------------- names, defined once

# A names list unlike the repository's: another order, other labels, one back-end more.
OTHER_FRONT_ENDS = ['# a comment', 'dnf\tN', 'xvector\tX', '', 'vae\tV']
OTHER_BACKENDS = ['pca_plda\tP+P\tpca\tplda', 'lda_cosine\tL+C\tlda\tcosine', 'cosine\tC\tnone\tcosine']


def tree_with_other_names(tmp_path, *scripts):
    """A copy of the given scripts under tmp_path/local, with the other conf/*.tsv beside."""
    import shutil
    (tmp_path / 'local').mkdir()
    (tmp_path / 'conf').mkdir()
    for script in scripts:
        os.makedirs(os.path.dirname(tmp_path / 'local' / script), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, 'local', script), tmp_path / 'local' / script)
    (tmp_path / 'conf' / 'front_ends.tsv').write_text('\n'.join(OTHER_FRONT_ENDS) + '\n')
    (tmp_path / 'conf' / 'backends.tsv').write_text('\n'.join(OTHER_BACKENDS) + '\n')
    return tmp_path


def test_names_sh_reads_the_conf_files(tmp_path):
    tree = tree_with_other_names(tmp_path, 'names.sh')

    def names(*args):
        out = subprocess.run([str(tree / 'local' / 'names.sh')] + list(args), capture_output=True, text=True)
        return out.returncode, out.stdout.strip(), out.stderr.strip()
    assert names('front_ends') == (0, 'dnf xvector vae', '')
    assert names('backends') == (0, 'pca_plda lda_cosine cosine', '')
    assert names('backends', 'cosine') == (0, 'lda_cosine cosine', '')
    assert names('label', 'lda_cosine') == (0, 'L+C', '')
    assert names('label', 'xvector') == (0, 'X', '')
    assert names('label', 'other') == (0, 'other', '')
    assert names('projection', 'lda_cosine') == (0, 'lda', '')
    assert names('scorer', 'pca_plda') == (0, 'plda', '')
    code, _, err = names('projection', 'plda')
    assert code == 1 and err.startswith('ERROR (names.sh): ') and "no back-end 'plda'" in err


def test_results_table_orders_and_labels_by_the_conf_files(tmp_path):
    tree = tree_with_other_names(tmp_path, os.path.join('analysis', 'results_table.py'), 'names.py')
    tree_env = env()     # the copy's names.py (and its conf/) before the repository's
    tree_env['PYTHONPATH'] = str(tree / 'local') + os.pathsep + tree_env['PYTHONPATH']
    rows = tmp_path / 'rows.tsv'
    write_rows(rows, [(f, b, 'dev', '1.0', '0.5') for f in ('vae', 'xvector', 'dnf', 'ae')
                      for b in ('cosine', 'plda', 'cosine_asnorm', 'lda_cosine', 'pca_plda')])
    out = subprocess.run(['python3', str(tree / 'local' / 'analysis' / 'results_table.py'), '--table-dir',
                          str(tmp_path / 'results'), str(rows)], cwd=ROOT, env=tree_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = [line.split('|')[1:3] for line in out.stdout.splitlines()[2:] if line.startswith('|')]
    order = [(b.strip(), f.strip()) for b, f in lines]
    # The files' order and labels; names they do not list come last, as they are.
    backends = ['P+P', 'L+C', 'C', 'C+AS-norm', 'plda']
    front_ends = ['N', 'X', 'V', 'ae']
    assert order == [(b, f) for b in backends for f in front_ends]


def recipe_code_lines():
    """(file, line number, code) of the shell recipes, comments left out."""
    scripts = [os.path.join(ROOT, name) for name in os.listdir(ROOT) if name.endswith('.sh')]
    scripts += [os.path.join(ROOT, 'local', name) for name in os.listdir(os.path.join(ROOT, 'local'))
                if name.endswith('.sh') and name != 'names.sh']
    for script in sorted(scripts):
        with open(script) as f:
            for number, line in enumerate(f, 1):
                code = re.sub(r'(^|\s)#.*', '', line)
                if code.strip():
                    yield os.path.relpath(script, ROOT), number, code


def test_no_recipe_lists_back_ends_or_labels_of_its_own():
    """The shell recipes take back-end names and labels from conf/*.tsv (through
    local/names.sh): no line of code names two back-ends or sets a label."""
    import names
    backends = [name for name, _ in names.backends()]
    labels = [label for _, label in names.front_ends() + names.backends()]

    def tokens(words, code, before=r'(?<![\w$/.+-])'):
        return {w for w in words if re.search(before + r'%s(?![\w.+-])' % re.escape(w), code)}

    def hard_coded(code):
        return len(tokens(backends, code)) >= 2 or tokens(labels, code, before='=')
    found = [(script, number, code.strip()) for script, number, code in recipe_code_lines() if hard_coded(code)]
    assert found == []
    # The check finds what it is meant to find: the lines eval.sh had before.
    assert hard_coded('    for b in cosine pca_cosine plda lda_plda pca_plda; do')
    assert hard_coded('        case $fe in xvector) label=x-vector ;; ae) label=a-vector ;;')
    assert not hard_coded('echo "$nnet_dir: missing (not a trained x-vector nnet dir)"')
