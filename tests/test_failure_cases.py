"""Failure cases a new user ran into (issue 7, part 4), each checked where the user meets it.

Every test here failed on the code before its fix. The recipes run on a tiny data root
(dimension 6, a dozen speakers) and tiny models, so the module stays quick.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from data_utils import kaldi_table as kt
from data_utils.errors import UserError, run_main
from helpers import ROOT, env, one_error_line, run_module, write_data_dir

DIM = 6


def recipe(script, *options, cwd=ROOT):
    """Run a recipe (sh script.sh --opt value ...) as a user would, Python engine."""
    e = env()
    e.pop('KALDI_ROOT', None)
    e['VV_VENV'] = os.path.dirname(os.path.dirname(sys.executable))
    return subprocess.run(['sh', script] + [str(o) for o in options], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=300)


def make_data_root(root, trials_sep=' '):
    """<root>/train (12 speakers x 4) and <root>/dev/{enroll,test,trials}, dimension DIM."""
    rng = np.random.default_rng(5)
    centres = 3 * rng.standard_normal((16, DIM))

    def vectors(spks):
        return centres[spks] + rng.standard_normal((len(spks), DIM))

    train = {'t%02d-u%d' % (s, u): 't%02d' % s for s in range(12) for u in range(4)}
    write_data_dir(os.path.join(root, 'train'), train,
                   vectors([int(spk[1:]) for spk in train.values()]))
    enroll = {'e%02d-u%d' % (s, u): 'e%02d' % s for s in range(12, 16) for u in range(2)}
    write_data_dir(os.path.join(root, 'dev', 'enroll'), enroll,
                   vectors([int(spk[1:]) for spk in enroll.values()]))
    test = {'x%02d-u%d' % (s, u): 'x%02d' % s for s in range(12, 16) for u in range(2)}
    write_data_dir(os.path.join(root, 'dev', 'test'), test,
                   vectors([int(spk[1:]) for spk in test.values()]))
    with open(os.path.join(root, 'dev', 'trials'), 'w') as f:
        for model in sorted(set(enroll.values())):
            for utt, spk in sorted(test.items()):
                label = 'target' if spk[1:] == model[1:] else 'nontarget'
                f.write(trials_sep.join((model, utt, label)) + '\n')
    return str(root)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data_root(tmp_path_factory.mktemp('data') / 'data')


RECIPE_DATA = ['--eval-sets', 'dev', '--lda-dim', 3, '--pca-dim', 3]
TINY_MODEL = ['--hidden-dim', 16, '--code-dim', 4, '--batch-size', 16, '--num-threads', 1]


# ----------------------------------------------------------------------------
# Kaldi tables: an scp offset past the end of its ark; a garbage key

@pytest.mark.parametrize('past', [0, 1000])
def test_scp_offset_past_end_of_file_says_so(tmp_path, past):
    ark = tmp_path / 'x.ark'
    kt.write_vectors('ark:%s' % ark, ['a'], np.ones((1, DIM)))
    size = os.path.getsize(ark)
    (tmp_path / 'x.scp').write_text('a %s:%d\n' % (ark, size + past))
    with pytest.raises(UserError) as err:
        kt.read_vector_table('scp:%s' % (tmp_path / 'x.scp'))
    message = str(err.value)
    assert 'offset %d past end of file' % (size + past) in message, message
    assert str(ark) in message and 'key a' in message, message


def test_garbage_key_is_printed_escaped(tmp_path):
    # A binary file given as an ark (here: the start of a PNG and some random bytes).
    garbage = tmp_path / 'garbage.ark'
    garbage.write_bytes(b'\x89P\x1b[31mNG\x07\x00\x01 \x02\x03' + bytes(range(128, 160)))
    with pytest.raises(UserError) as err:
        kt.read_vector_table('ark:%s' % garbage)
    message = str(err.value)
    assert message.isascii() and message.isprintable(), repr(message)
    assert '\\x89P\\x1b[31mNG\\x07\\x00\\x01' in message, message
    # Through a tool: one printable line on the console.
    proc = subprocess.run(['copy-vector', 'ark:%s' % garbage, 'ark,t:-'], cwd=ROOT, env=env(),
                          capture_output=True)
    line = one_error_line(proc.stderr.decode('latin1'))
    assert line.isascii() and line.isprintable() and '\\x89P' in line, repr(line)


# ----------------------------------------------------------------------------
# Data checks: a duplicated utterance in spk2utt

@pytest.mark.parametrize('part', ['dev/enroll', 'train'])
def test_duplicated_utterance_in_spk2utt_is_refused(tmp_path, part):
    root = make_data_root(tmp_path / 'data')
    spk2utt = os.path.join(root, part, 'spk2utt')
    with open(spk2utt) as f:
        lines = f.read().splitlines()
    first = lines[1].split()
    lines[1] = ' '.join(first + [first[1]])      # "e13 e13-u0 e13-u1 e13-u0"
    with open(spk2utt, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    out = run_module('data_utils.check_sets', '--data', root, '--eval-sets', 'dev')
    assert out.returncode == 1, out.stdout
    error = one_error_line(out.stderr)
    assert error.startswith('ERROR (check_sets): %s: line 2: ' % spk2utt), error
    assert 'utterance %s appears twice' % first[1] in error, error


# ----------------------------------------------------------------------------
# Trials separated by tabs (Kaldi's readers accept any whitespace)

def backend_steps(root, out, *score_options):
    """train_backends.sh, score_backends.sh and compute_metrics.sh on <root>'s dev set."""
    steps = [['local/train_backends.sh', '--lda-dim', '3', '--pca-dim', '3',
              os.path.join(root, 'train'), str(out)],
             ['local/score_backends.sh', *score_options, str(out), os.path.join(root, 'dev', 'enroll'),
              os.path.join(root, 'dev', 'test'), os.path.join(root, 'dev', 'trials'), str(out / 'dev')],
             ['local/compute_metrics.sh', *score_options, 'xvector', 'dev', os.path.join(root, 'dev', 'trials'),
              str(out / 'dev'), str(out / 'dev' / 'results.tsv')]]
    for step in steps:
        proc = subprocess.run(step, cwd=ROOT, env=env(), capture_output=True, text=True)
        if proc.returncode:
            return proc
    return proc


def test_tab_separated_trials_are_scored(tmp_path):
    root = make_data_root(tmp_path / 'data', trials_sep='\t')
    out = tmp_path / 'exp'
    proc = backend_steps(root, out, '--backends', 'cosine plda')
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(root, 'dev', 'trials')) as f:
        trials = [line.split()[:2] for line in f]
    for backend in ('cosine', 'plda'):
        with open(out / 'dev' / ('scores_' + backend)) as f:
            scored = [line.split()[:2] for line in f]
        assert scored == trials, backend
    with open(out / 'dev' / 'results.tsv') as f:
        rows = [line.split('\t') for line in f][1:]
    assert [r[1] for r in rows] == ['cosine', 'plda']
    assert all(0 <= float(r[3]) <= 100 for r in rows)


    # compute_metrics.sh pairs scores and trials line by line: scores out of the trials'
    # order are refused, naming the line, and no rows are written.
    scores = out / 'dev' / 'scores_plda'
    lines = scores.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    scores.write_text('\n'.join(lines) + '\n')
    trials = os.path.join(root, 'dev', 'trials')
    proc = subprocess.run(['local/compute_metrics.sh', '--backends', 'plda', 'xvector', 'dev', trials,
                           str(out / 'dev'), str(tmp_path / 'again.tsv')],
                          cwd=ROOT, env=env(), capture_output=True, text=True)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr) == 'ERROR (local/compute_metrics.sh): %s: line 2: keys differ ' \
        'from line 2 of %s' % (scores, trials)
    assert not (tmp_path / 'again.tsv').exists()


def test_as_norm_without_a_cohort_is_refused_up_front(tmp_path):
    root = make_data_root(tmp_path / 'data')
    (tmp_path / 'backend').mkdir()
    proc = subprocess.run(['local/score_backends.sh', '--score-norm', 'asnorm', str(tmp_path / 'backend'),
                           os.path.join(root, 'dev', 'enroll'), os.path.join(root, 'dev', 'test'),
                           os.path.join(root, 'dev', 'trials'), str(tmp_path / 'dev')],
                          cwd=ROOT, env=env(), capture_output=True, text=True)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr) == 'ERROR (local/score_backends.sh): %s: missing (AS-norm\'s ' \
        'cohort: local/train_backends.sh --cohort true)' % (tmp_path / 'backend' / 'cohort.ark')
    assert not (tmp_path / 'dev' / 'spk_means.ark').exists()


# ----------------------------------------------------------------------------
# Paths with spaces: refused at stage 0 with one line (see local/check_paths.sh for why)

@pytest.mark.parametrize('script, spaced', [('baseline.sh', 'data'), ('train.sh', 'data'),
                                            ('eval.sh', 'data'), ('baseline.sh', 'exp'),
                                            ('local/run_ood.sh', 'ood-data')])
def test_path_with_space_is_refused_up_front(tmp_path, data_root, script, spaced):
    data = make_data_root(tmp_path / 'my data') if spaced != 'exp' else data_root
    exp = tmp_path / ('my exp' if spaced == 'exp' else 'exp')
    options = {'baseline.sh': ['--data', data] + RECIPE_DATA,
               'train.sh': ['--data', data, '--eval-sets', 'dev'],
               'eval.sh': ['--data', data] + RECIPE_DATA,
               'local/run_ood.sh': ['--ood-data', os.path.join(data, 'train')]}[script]
    proc = recipe(script, '--exp', exp, *options)
    assert proc.returncode == 1, proc.stderr
    error = one_error_line(proc.stderr)
    spaced_path = str(exp) if spaced == 'exp' else data
    assert "'%s" % spaced_path in error and 'white space' in error, error
    # Refused before any work: nothing under exp but (at most) its log dir.
    assert not os.path.exists(exp) or set(os.listdir(exp)) <= {'log'}, os.listdir(exp)


# ----------------------------------------------------------------------------
# DET plots print the EER of the results table (compute-eer's), ties and odd counts included

def compute_eer_cli(target, nontarget):
    lines = ['%r target' % float(s) for s in target] + ['%r nontarget' % float(s) for s in nontarget]
    proc = subprocess.run(['compute-eer', '-'], input='\n'.join(lines) + '\n', cwd=ROOT,
                          env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize('target, nontarget', [
    ([1., 2, 2, 3, 5], [0., 1, 2, 2, 2, 4, 0.5]),                  # ties across the classes
    (list(np.round(np.random.default_rng(1).normal(1, 1, 7), 1)),   # odd counts, tied values
     list(np.round(np.random.default_rng(2).normal(0, 1, 13), 1))),
    ([0.5, 0.7, 0.9], [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.2, 0.4]),
])
def test_det_plot_eer_is_the_results_table_eer(tmp_path, capsys, target, nontarget):
    from analysis import plot_det
    from analysis.results_table import _cell
    table_eer = _cell(compute_eer_cli(target, nontarget), 'eer')     # as results.md shows it
    # The EER plot_det.py prints for the curve...
    trials, scores = tmp_path / 'trials', tmp_path / 'scores'
    pairs = [('m', 't%d' % i, 'target', s) for i, s in enumerate(target)]
    pairs += [('m', 'n%d' % i, 'nontarget', s) for i, s in enumerate(nontarget)]
    trials.write_text(''.join('%s %s %s\n' % p[:3] for p in pairs))
    scores.write_text(''.join('%s %s %r\n' % (p[0], p[1], float(p[3])) for p in pairs))
    plot_det.main(['--trials', str(trials), '--out', str(tmp_path / 'det.png'),
                   'x-vector=%s' % scores])
    printed = capsys.readouterr().err
    assert 'plot_det.py: x-vector: EER %s%%' % table_eer in printed, (printed, table_eer)
    # ... and in the legend.
    fig, _ = plot_det.det_figure([('x-vector', np.array(target), np.array(nontarget))], 'dev')
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ['x-vector (EER %s%%)' % table_eer], (legend, table_eer)


# ----------------------------------------------------------------------------
# Training jobs: the ERROR line once; train.log kept across reruns

def test_failing_job_shown_while_running_prints_its_error_once(tmp_path):
    log = tmp_path / 'log' / 'train.log'
    proc = subprocess.run(['local/run_log.sh', '--tee', str(log), 'sh', '-c',
                           'echo "epoch 1"; echo "ERROR (model.train): exp/vae: broken" >&2; exit 2'],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    console = proc.stdout + proc.stderr
    assert console.count('ERROR (model.train): exp/vae: broken') == 1, console
    assert 'epoch 1' in proc.stdout and str(log) in proc.stderr


def test_rerun_appends_to_train_log(tmp_path, data_root):
    exp = tmp_path / 'exp'
    common = ['--data', data_root, '--eval-sets', 'dev', '--exp', exp, '--model', 'vae'] + TINY_MODEL
    for stage, epochs in ((0, 1), (1, 2)):
        proc = recipe('train.sh', *common, '--stage', stage, '--epochs', epochs)
        assert proc.returncode == 0, proc.stderr
    with open(exp / 'vae' / 'log' / 'train.log') as f:
        log = f.read()
    # Both runs, in order, each after a marker line with its date and command.
    markers = [m.start() for m in re.finditer(r'^# Started at .+$', log, re.M)]
    commands = [m.start() for m in re.finditer(r'^# python3 -m model\.train .*--epochs (\d)', log, re.M)]
    assert len(markers) == 2 and len(commands) == 2, log
    first_run = log.index('epoch 1/1 ')
    second_run = log.index('epoch 2/2 ')
    assert commands[0] < first_run < commands[1] < second_run, log
    assert log.count('# Ended (code 0)') == 2


# ----------------------------------------------------------------------------
# TensorFlow models: start-up chatter, damaged checkpoints, divergence

TF_CHATTER = re.compile(r'absl|oneDNN|^[IWE]\d{4} |cuda|TensorRT|cpu_feature_guard', re.M)


def write_npz(path, n_spk=6, per_spk=8, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    spk = np.repeat(np.arange(n_spk), per_spk).astype(np.int32)
    vectors = 3 * rng.standard_normal((n_spk, dim))[spk] + rng.standard_normal((len(spk), dim))
    np.savez(path, vectors=vectors.astype(np.float32),
             utt_ids=np.array(['u%03d' % i for i in range(len(spk))]), spk_index=spk,
             spk_labels=np.array(['s%d' % i for i in range(n_spk)]))
    return str(path)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A vae trained 2 epochs with a checkpoint after each, by the command line a user runs:
    (model dir, training npz, the training's CompletedProcess)."""
    base = tmp_path_factory.mktemp('model')
    npz = write_npz(base / 'train.npz')
    proc = run_module('model.train', '--train-npz', npz, '--model-dir', base / 'vae', '--epochs', 2,
                      '--save-every', 1, *TINY_MODEL)
    assert proc.returncode == 0, proc.stderr
    return base / 'vae', npz, proc


def test_no_tensorflow_start_up_chatter_on_the_console(tiny_model, tmp_path):
    model_dir, npz, training = tiny_model
    extraction = run_module('model.extract', '--model-dir', model_dir, '--input-npz', npz,
                            '--output', 'ark,scp:%s,%s' % (tmp_path / 'x.ark', tmp_path / 'x.scp'))
    assert extraction.returncode == 0, extraction.stderr
    for proc in (training, extraction):
        assert not TF_CHATTER.search(proc.stderr), proc.stderr
        assert not TF_CHATTER.search(proc.stdout), proc.stdout
    assert 'epoch 2/2' in training.stdout and 'wrote 48 embeddings' in extraction.stdout


def damaged_copy(model_dir, tmp_path, steps):
    """A copy of the model dir with the data files of the checkpoints at these steps cut short."""
    import shutil
    copy = tmp_path / 'vae'
    shutil.copytree(model_dir, copy)
    for step in steps:
        data = copy / ('model.ckpt-%d.data-00000-of-00001' % step)
        with open(data, 'r+b') as f:
            f.truncate(os.path.getsize(data) // 2)
    return copy


def test_truncated_latest_checkpoint_falls_back_to_the_newest_intact(tiny_model, tmp_path, capsys):
    from model import extract, train
    model_dir, npz, _ = tiny_model
    copy = damaged_copy(model_dir, tmp_path, [6])           # 3 steps per epoch: ckpt-3, ckpt-6
    out = tmp_path / 'emb.npz'
    assert extract.main(['--model-dir', str(copy), '--input-npz', npz, '--output-npz', str(out)]) == 0
    err = capsys.readouterr().err
    assert 'model.ckpt-6.data-00000-of-00001' in err and 'model.ckpt-3' in err, err
    assert os.path.exists(out)
    # Training resumes from ckpt-3 (epoch 1) and redoes epoch 2.
    assert train.main(['--train-npz', npz, '--model-dir', str(copy), '--epochs', '2']) == 0
    captured = capsys.readouterr()
    assert 'model.ckpt-6.data-00000-of-00001' in captured.err, captured.err
    assert 'resumed from model.ckpt-3' in captured.out and 'epoch 2/2 step 6' in captured.out


def test_model_dir_given_relative_to_the_working_dir_restores(tiny_model, tmp_path, monkeypatch,
                                                             capsys):
    """The recipes pass exp/<model>: the checkpoints listed in its state file are found."""
    from model import extract
    model_dir, npz, _ = tiny_model
    copy = damaged_copy(model_dir, tmp_path, [6])
    monkeypatch.chdir(copy.parent)
    assert extract.main(['--model-dir', copy.name, '--input-npz', npz,
                         '--output-npz', str(tmp_path / 'emb.npz')]) == 0
    err = capsys.readouterr().err
    # The damaged newest one is named as the user gave the dir, and the older one is used.
    assert '%s/model.ckpt-6.data-00000-of-00001' % copy.name in err, err
    assert '%s/%s' % (copy.name, copy.name) not in err, err


def test_all_checkpoints_damaged_names_the_damaged_files(tiny_model, tmp_path, capsys):
    from model import train
    model_dir, npz, _ = tiny_model
    copy = damaged_copy(model_dir, tmp_path, [3, 6])
    with pytest.raises(SystemExit) as exit_:
        run_main('model.train', train.main, ['--train-npz', npz, '--model-dir', str(copy), '--epochs', '3'])
    assert exit_.value.code == 1
    error = one_error_line(capsys.readouterr().err)
    assert error.startswith('ERROR (model.train): %s: ' % copy), error
    for step in (3, 6):
        assert 'model.ckpt-%d.data-00000-of-00001' % step in error, error


def test_exploding_loss_stops_train_sh_with_one_error(tmp_path, data_root):
    exp = tmp_path / 'exp'
    proc = recipe('train.sh', '--data', data_root, '--eval-sets', 'dev', '--exp', exp,
                  '--model', 'vae', '--epochs', 3, '--lr', '1e9', *TINY_MODEL)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    console = proc.stdout + proc.stderr
    errors = [l for l in console.splitlines() if l.startswith('ERROR')]
    assert len(errors) == 1, console
    assert errors[0].startswith('ERROR (model.train): %s: training diverged' % (exp / 'vae'))
    assert 'train.sh: done' not in console
    assert not os.path.exists(exp / 'vae' / 'checkpoint')      # the diverged weights not saved


def test_divergence_rule():
    from model.epochs import diverged
    assert not diverged(30.0, 40.0) and not diverged(1000.0, 400.0)  # up to 10x the lowest
    assert diverged(4500.0, 400.0) and diverged(2e23, 34.0)
    # The flow's blow-up that the old 1000-fold rule missed (model/epochs.py).
    assert diverged(39459.7, 638.8)
    assert not diverged(900.0, 0.01) and diverged(1100.0, 0.01)     # floor: a loss of 100
    assert not diverged(5.0, -5.0) and not diverged(-400.0, -500.0)  # noise near 0; a signed loss
    assert diverged(6e3, -500.0)                                       # (an NLL)


# ----------------------------------------------------------------------------
# A model trained on vectors of another dimension: refused at eval.sh's stage 0

def test_eval_refuses_a_model_of_another_input_dimension_at_stage_0(tmp_path, data_root):
    from model.config import ModelConfig, save_config
    exp = tmp_path / 'exp'
    os.makedirs(exp / 'vae')
    save_config(str(exp / 'vae'), ModelConfig(input_dim=DIM + 2, hidden_dim=16, code_dim=4), {})
    proc = recipe('eval.sh', '--data', data_root, '--exp', exp, '--model', 'vae', *RECIPE_DATA)
    assert proc.returncode == 1, proc.stderr
    error = one_error_line(proc.stderr)
    assert error.startswith('ERROR (check_sets): %s: ' % (exp / 'vae')), error
    assert os.path.join(data_root, 'train') in error, error
    assert 'input dimension %d' % (DIM + 2) in error and 'dimension %d' % DIM in error, error
    assert not os.path.exists(exp / 'vectors')


def test_eval_says_which_model_is_not_trained(tmp_path, data_root):
    exp = tmp_path / 'exp'
    proc = recipe('eval.sh', '--data', data_root, '--exp', exp, '--model', 'vae', *RECIPE_DATA)
    assert proc.returncode == 1
    error = one_error_line(proc.stderr)
    assert str(exp / 'vae') in error and 'run train.sh first' in error, error
