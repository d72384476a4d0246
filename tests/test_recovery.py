"""Recovery from divergence (model.recovery): back to the last good checkpoint at half the
learning rate, the halving kept across a resume, and the error only once the recoveries
are used up.  In-process runs of model.train on a tiny corpus (a few seconds each)."""
import json
import re

import numpy as np
import pytest

from test_model import SMALL, checkpoint_values, exit_status, make_npz, train
from model import epochs as epochs_module
from model import recovery
from model import train as train_cli


def diverge_once_at(monkeypatch, epoch_loss_check):
    """Make the divergence rule fire at its ``epoch_loss_check``-th call only (1-based): an
    injected divergence, the same on every machine."""
    calls = []
    rule = epochs_module.diverged

    def injected(loss, lowest):
        calls.append(loss)
        return len(calls) == epoch_loss_check or rule(loss, lowest)
    monkeypatch.setattr(epochs_module, "diverged", injected)
    return calls


@pytest.mark.parametrize("model", ["vae", "dnf"])
def test_a_recovered_run_equals_a_run_at_half_the_rate(model, tmp_path, capsys, monkeypatch):
    """A divergence at epoch 2 goes back to the start (no checkpoint yet: --save-every 5)
    and trains on at half the rate: the model equals one trained at --lr / 2 from the start;
    resumed further, it stays equal (the halved rate survives the resume)."""
    data = make_npz(tmp_path / "train.npz", per_spk=20)   # 160 vectors: 5 steps/epoch
    common = ["--train-npz", data, "--model", model, "--seed", 3, "--save-every", 5] + SMALL
    diverge_once_at(monkeypatch, 2)
    train(common + ["--model-dir", tmp_path / "recovered", "--epochs", 2, "--lr", 2e-3])
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "recovery" in line]
    assert len(warnings) == 1, err
    assert re.match(r"WARNING \(model.train\): \S+recovered: training diverged: epoch 2 .*"
                    r"recovery 1/3: back to the last good checkpoint, learning rate x0.5$",
                    warnings[0]), warnings[0]
    config = json.loads((tmp_path / "recovered" / "config.json").read_text())
    assert config["training"]["lr_scale"] == 0.5 and config["training"]["recoveries"] == 1
    monkeypatch.undo()

    train(common + ["--model-dir", tmp_path / "halved", "--epochs", 2, "--lr", 1e-3])
    recovered, halved = checkpoint_values(tmp_path / "recovered"), checkpoint_values(tmp_path / "halved")
    assert recovered["global_step"] == 2 * 5 and recovered["epoch"] == 2   # epoch 1 redone
    for name in halved:
        np.testing.assert_allclose(recovered[name], halved[name], rtol=1e-5, atol=1e-6, err_msg=name)

    # Resumed: still at half the rate (2e-3 would give other weights).
    train(common + ["--model-dir", tmp_path / "recovered", "--epochs", 3, "--lr", 2e-3])
    train(common + ["--model-dir", tmp_path / "halved", "--epochs", 3, "--lr", 1e-3])
    recovered, halved = checkpoint_values(tmp_path / "recovered"), checkpoint_values(tmp_path / "halved")
    for name in halved:
        np.testing.assert_allclose(recovered[name], halved[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_recovery_goes_back_to_the_last_checkpoint_not_the_start(tmp_path, capsys, monkeypatch):
    data = make_npz(tmp_path / "train.npz", per_spk=20)
    diverge_once_at(monkeypatch, 3)     # epoch 3, after the checkpoint of epoch 2
    train(["--train-npz", data, "--model", "ae", "--model-dir", tmp_path / "ae", "--epochs", 4,
           "--save-every", 2] + SMALL)
    out = capsys.readouterr().out
    # Epochs 1, 2, 3 (diverged), then 3 and 4 again from the checkpoint of epoch 2.
    assert re.findall(r"^epoch (\d)/4 step (\d+)", out, re.M) == [
        ("1", "5"), ("2", "10"), ("3", "15"), ("3", "15"), ("4", "20")], out
    assert checkpoint_values(tmp_path / "ae")["global_step"] == 20


def test_a_divergence_that_recoveries_do_not_cure_stops_training(tmp_path, capsys):
    """At lr 1e30 every recovery (1e30 x 1/2, 1/4, 1/8) diverges again: after the third, the
    error, one line, with nothing saved."""
    data = make_npz(tmp_path / "train.npz")
    status = exit_status(train_cli.PROG, train_cli.main, ["--train-npz", data, "--model-dir",
                                                          tmp_path / "vae", "--epochs", 2,
                                                          "--lr", 1e30] + SMALL)
    err = capsys.readouterr().err
    assert status == 1
    assert len(re.findall(r"recovery [123]/3", err)) == recovery.MAX_RECOVERIES, err
    errors = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "training diverged" in errors[0], err
    assert "after 3 recoveries" in errors[0], errors[0]
    assert not (tmp_path / "vae" / "checkpoint").exists()
