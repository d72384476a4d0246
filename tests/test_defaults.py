"""One source of truth for the training defaults (issue 9): ModelConfig and the trainer's
TRAINING_DEFAULTS hold them, train.sh's shell variables repeat them, and model.train --help
states them. Any of the three drifting from the others fails here."""
import contextlib
import io
import os
import re
import subprocess

import pytest

from helpers import ROOT
from model import train
from model.config import ModelConfig

# train.sh variable -> (where the Python default lives, its name there)
SHARED_DEFAULTS = {
    'epochs': ('training', 'epochs'), 'batch_size': ('training', 'batch_size'),
    'save_every': ('training', 'save_every'), 'hidden_dim': ('model', 'hidden_dim'),
    'code_dim': ('model', 'code_dim'), 'lr': ('model', 'lr'), 'beta1': ('model', 'beta1'),
    'kl_weight': ('model', 'kl_weight'), 'cohesive_weight': ('model', 'cohesive_weight'),
    'seed': ('model', 'seed'), 'flow_layers': ('model', 'flow_layers'),
}


# Where a recipe's own defaults end: train.sh sources path.sh, baseline.sh and eval.sh
# local/recipe_setup.sh, which first sources their shared back-end defaults (conf/backend.sh).
_SETUP = re.compile(r'^\. (\./path\.sh|local/recipe_setup\.sh)', re.M)


def recipe_head(path):
    """A recipe's default assignments as shell code: its own lines before the setup it
    sources, plus conf/backend.sh where it goes through local/recipe_setup.sh."""
    with open(path) as f:
        text = f.read()
    match = _SETUP.search(text)
    head = text[:match.start()] if match else text
    if match and match.group(1) == 'local/recipe_setup.sh':
        with open(os.path.join(ROOT, 'conf', 'backend.sh')) as f:
            head += f.read()
    return head


def recipe_defaults(path=os.path.join(ROOT, 'train.sh')):
    """The top-level `name=value` assignments of a recipe, before its option parsing."""
    values = {}
    for line in recipe_head(path).splitlines():
        match = re.match(r'^([a-z_][a-z0-9_]*)=(\S*)', line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def python_default(where, name):
    return train.TRAINING_DEFAULTS[name] if where == 'training' else getattr(ModelConfig(), name)


@pytest.mark.parametrize('variable', sorted(SHARED_DEFAULTS))
def test_train_sh_and_the_python_defaults_agree(variable):
    shell = recipe_defaults()
    assert variable in shell, 'train.sh has no variable %s' % variable
    expected = python_default(*SHARED_DEFAULTS[variable])
    assert type(expected)(shell[variable]) == expected, (variable, shell[variable], expected)


def test_help_states_the_defaults_the_code_uses():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        train.parse_args(['--help'])
    text = ' '.join(out.getvalue().split())
    for variable, (where, name) in SHARED_DEFAULTS.items():
        option = '--' + variable.replace('_', '-')
        value = python_default(where, name)
        shown = '%g' % value if isinstance(value, float) else str(value)
        # The option's own help (its last mention, after the usage line), up to the next option.
        own = text[text.rindex(option + ' '):]
        own = own[:own.find(' --', len(option)) if ' --' in own[len(option):] else None]
        assert 'default %s' % shown in own, (option, shown, own)


def test_a_version_1_cohesive_weight_is_read_on_the_mean_over_dimensions(tmp_path):
    """Version 1 of config.json weighted a sum over the code's dimensions: its 0.1 on a
    200-dim code is the same objective as 20 on the mean, and a resumed model keeps it."""
    import json
    from model.config import CONFIG_VERSION, load_config, save_config
    config = ModelConfig(model='cvae', input_dim=24, code_dim=200, cohesive_weight=0.1)
    save_config(str(tmp_path), config, {'epochs': 3})
    document = json.loads((tmp_path / 'config.json').read_text())
    assert document['version'] == CONFIG_VERSION == 2
    assert load_config(str(tmp_path))[0].cohesive_weight == 0.1     # written today: as is
    document['version'] = 1
    (tmp_path / 'config.json').write_text(json.dumps(document))
    old, training = load_config(str(tmp_path))
    assert old.cohesive_weight == pytest.approx(20.0) and old.code_dim == 200
    assert training == {'epochs': 3}


# The paper's setting (Zhang, Li, Wang 2019, and the authors' code: CSLT-THU/IS2019-VAE train.sh
# and model/vae.py), written out by hand from those sources.
PAPER_TRAINING = {'hidden_dim': '1800', 'code_dim': '200', 'batch_size': '200', 'beta1': '0.5',
                  'lr': '0.00001', 'epochs': '200', 'kl_weight': '0.03', 'cohesive_weight': '10'}


def resolved_options(recipe, *args):
    """The recipe's variables after its option parsing: its own top-level assignments, run
    through local/parse_options.sh with ``args``. -> (returncode, {variable: value}, stderr)."""
    head = recipe_head(os.path.join(ROOT, recipe))
    names = sorted(recipe_defaults(os.path.join(ROOT, recipe)))
    script = (head + '\n. local/parse_options.sh || exit 1\n'
              + ''.join('printf "%%s=%%s\\n" %s "$%s"\n' % (n, n) for n in names))
    out = subprocess.run(['sh', '-c', script, recipe] + list(args), cwd=ROOT,
                         capture_output=True, text=True)
    return out.returncode, dict(line.split('=', 1) for line in out.stdout.splitlines()), out.stderr


def test_paper_conf_gives_train_sh_the_papers_setting():
    code, values, err = resolved_options('train.sh', '--config', 'conf/paper.conf')
    assert code == 0, err
    assert {name: values[name] for name in PAPER_TRAINING} == PAPER_TRAINING
    # Everything else keeps the recipe's default; options on the command line still win.
    _, defaults, _ = resolved_options('train.sh')
    assert {n: v for n, v in values.items() if n not in PAPER_TRAINING} == \
        {n: v for n, v in defaults.items() if n not in PAPER_TRAINING}
    code, values, err = resolved_options('train.sh', '--epochs', '20', '--config', 'conf/paper.conf')
    assert code == 0 and values['epochs'] == '20' and values['lr'] == '0.00001', err
    # Each value is one model.train takes: ModelConfig validates them all.
    ModelConfig(**{n: (float if n in ('beta1', 'lr', 'kl_weight', 'cohesive_weight') else int)(
        PAPER_TRAINING[n]) for n in PAPER_TRAINING if n not in ('epochs', 'batch_size')}).validate()


@pytest.mark.parametrize('recipe', ['eval.sh', 'baseline.sh'])
def test_paper_backend_conf_is_for_the_backend_recipes_only(recipe):
    code, values, err = resolved_options(recipe, '--lda-dim', '100', '--config', 'conf/paper_backend.conf')
    assert code == 0, err
    assert values['pca_dim'] == '150' and values['lda_dim'] == '100'
    # train.sh's options are not eval.sh's: Kaldi's rule, an unknown option is an error.
    code, _, err = resolved_options(recipe, '--config', 'conf/paper.conf')
    assert code == 1 and re.search(r"conf/paper.conf: line \d+: unknown option --hidden-dim", err), err
