"""The same recipe on Kaldi's binaries and on our Python tools: what the two runs must share.

Used by test_recipes_e2e (the tiny corpus) and test_recipes_kaldi (the sparse ReLU corpus):
the results tables equal to the printed digit, every score file equal line by line (keys in
the same order, scores within SCORE_TOLERANCE), and each run on the engine it names.
"""
import re
import shutil

from helpers import table_rows

SCORE_TOLERANCE = 1e-3
KALDI_LOG_LINE = re.compile(r'^LOG \(ivector-compute-plda\[[^\]]*\]:', re.M)


def copy_engine_free(src_exp, dst_exp, parts):
    """Copy what no back-end tool made (models, extracted vectors) from one exp dir to
    another, with the copies' scp files pointing at the copied arks."""
    for part in parts:
        dst = dst_exp / part
        shutil.copytree(src_exp / part, dst)
        for scp in dst.rglob('*.scp'):
            scp.write_text(scp.read_text().replace(str(src_exp), str(dst_exp)))


def assert_same_tables(runs, table):
    """Every cell of the two engines' tables, as printed, is the same."""
    (py, _), (kd, _) = runs['python'], runs['kaldi']
    assert (py / table / 'results.md').read_text() == (kd / table / 'results.md').read_text()
    return table_rows(py, table)[1]


def assert_same_scores(runs, under='.'):
    """Every score file under <exp>/<under> of the two engines, line by line."""
    (py, _), (kd, _) = runs['python'], runs['kaldi']
    files = sorted(p.relative_to(py) for p in (py / under).rglob('scores_*'))
    assert files and files == sorted(p.relative_to(kd) for p in (kd / under).rglob('scores_*'))
    for name in files:
        ours, theirs = (py / name).read_text().splitlines(), (kd / name).read_text().splitlines()
        assert len(ours) == len(theirs) > 0, name
        for n, (a, b) in enumerate(zip(ours, theirs), 1):
            a, b = a.split(), b.split()
            assert a[:2] == b[:2] and len(a) == len(b) == 3, (name, n, a, b)
            assert abs(float(a[2]) - float(b[2])) <= SCORE_TOLERANCE, (name, n, a, b)
    return files


def assert_engines_ran(runs, recipes):
    """Each run says which engine it used, and Kaldi's binaries left their own log lines."""
    for engine, (exp, err) in runs.items():
        for script in recipes:
            assert '%s: engine for back-end tools: %s' % (script, engine) in err
        plda_log = (exp / 'backend' / 'xvector' / 'log' / 'plda.log').read_text()
        assert bool(KALDI_LOG_LINE.search(plda_log)) == (engine == 'kaldi'), (engine, plda_log[:2000])
