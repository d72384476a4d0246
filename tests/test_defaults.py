"""One source of truth for the training defaults (issue 9): ModelConfig and the trainer's
TRAINING_DEFAULTS hold them, train.sh's shell variables repeat them, and model.train --help
states them. Any of the three drifting from the others fails here."""
import contextlib
import io
import os
import re

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


def recipe_defaults(path=os.path.join(ROOT, 'train.sh')):
    """The top-level `name=value` assignments of a recipe, before it sources path.sh."""
    values = {}
    with open(path) as f:
        for line in f:
            if line.startswith('. ./path.sh'):
                break
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
