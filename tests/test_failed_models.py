"""One failed model does not hide the others: train.sh trains the rest and names what failed
(exit 1), eval.sh scores the trained ones by default and the results table names the missing
front-ends with their reasons.  Tiny data root and models (test_failure_cases's)."""
import pytest

from test_failure_cases import RECIPE_DATA, TINY_MODEL, make_data_root, recipe


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data_root(tmp_path_factory.mktemp('data') / 'data')


def test_a_diverging_model_leaves_the_others_trained_and_scored(tmp_path, data_root):
    exp = tmp_path / 'exp'
    common = ['--data', data_root, '--exp', exp]
    # The flow at lr 1e30 diverges whatever its recoveries do; the ae is sound.
    proc = recipe('train.sh', *common, '--eval-sets', 'dev', '--model', 'dnf ae',
                  '--epochs', 2, '--dnf-lr', '1e30', '--dnf-hidden-dim', 8, '--flow-layers', 2,
                  *TINY_MODEL)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 1, console
    errors = [line for line in console.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 1 and errors[0].startswith(
        'ERROR (model.train): %s: training diverged' % (exp / 'dnf')), console
    assert 'train.sh: trained: ae; failed: dnf (reasons in %s)' % (
        exp / 'dnf' / 'train_status') in console, console
    assert (exp / 'ae' / 'train_status').read_text() == 'trained\n'
    assert (exp / 'dnf' / 'train_status').read_text() == 'failed: %s\n' % errors[0]

    proc = recipe('eval.sh', *common, *RECIPE_DATA, '--analysis', 'false')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'eval.sh: front-ends trained in %s: ae' % exp in proc.stderr, proc.stderr
    table = (exp / 'results' / 'results.md').read_text()
    assert '| a-vector |' in table
    assert not any('| %s |' % label in table for label in ('v-vector', 'c-vector', 'n-vector'))
    missing = table[table.index('Missing front-ends:'):].splitlines()[1:]
    assert missing == ['- v-vector (vae): not trained (no %s)' % (exp / 'vae'),
                       '- c-vector (cvae): not trained (no %s)' % (exp / 'cvae'),
                       '- n-vector (dnf): failed: %s' % errors[0]], table
