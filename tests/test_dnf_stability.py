"""The n-vector flow trains on hard inputs with train.sh's defaults (8 coupling layers of 512
units, lr 1e-3, batches of 64), 24 epochs, without a divergence or a recovery: the demo's
geometry (512 dims near a 128-dim nonlinear manifold), the ReLU demo set's (sparse, unit-norm,
256 dims), corpora near 16-, 48- and 128-dim manifolds in 512 dims with little noise, and one
of 20 speakers.  Small sets (four batches an epoch) of the same geometry keep it quick; each
set has fewer vectors than dimensions (a degenerate training set, whose likelihood the flow
can raise without end).  At these sizes (96 steps) the code before the recovery did not
diverge either: its divergence (model/dnf.py, "Divergence") needs ~600 steps of a larger
corpus (2,000 x 512 near a 48-dim manifold diverges at epoch 20, RESULTS.md), which is the
case a flow stable by design must pass and this code does not; tests/test_recovery.py covers
what happens then.
"""
import os
import re

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from data_utils.demo_corpus import DemoConfig, _Mixing, _speaker_utts  # noqa: E402
from model import train as train_cli  # noqa: E402

# train.sh's dnf options (dnf_hidden_dim, flow_layers, dnf_lr) and batch size.
RECIPE_DNF = ["--model", "dnf", "--hidden-dim", 512, "--flow-layers", 8, "--lr", 1e-3,
              "--batch-size", 64]
EPOCHS = 24

HARD_INPUTS = {   # name: (speakers, utterances each, DemoConfig options)
    "demo": (32, 8, {}),
    "relu_demo": (32, 8, {"kind": "relu"}),
    "manifold16": (32, 8, {"latent_dim": 16, "noise_scale": 0.1}),
    "manifold48": (32, 8, {"latent_dim": 48, "noise_scale": 0.1}),
    "manifold128": (32, 8, {"latent_dim": 128, "noise_scale": 0.1}),
    "speakers20": (20, 12, {"latent_dim": 48, "noise_scale": 0.1}),
}


def hard_npz(path, n_spk, utts, options):
    """A training npz drawn as data_utils.demo_corpus draws its training set."""
    cfg = DemoConfig(train_speakers=n_spk, utts_per_train_speaker=utts, **options)
    rng = np.random.default_rng(cfg.seed)
    _, _, _, spk, vectors = _speaker_utts("spk", n_spk, utts, rng, cfg, _Mixing(cfg, rng))
    np.savez(path, vectors=vectors, spk_index=spk.astype(np.int32),
             utt_ids=np.array(["u%05d" % i for i in range(len(spk))]),
             spk_labels=np.array(["s%03d" % i for i in range(n_spk)]))
    return str(path)


@pytest.mark.parametrize("name", sorted(HARD_INPUTS))
def test_flow_trains_24_epochs_on_hard_inputs(name, tmp_path, capsys):
    n_spk, utts, options = HARD_INPUTS[name]
    data = hard_npz(tmp_path / "train.npz", n_spk, utts, options)
    status = train_cli.main([str(a) for a in ["--train-npz", data, "--model-dir", tmp_path / "dnf",
                                              "--epochs", EPOCHS, "--save-every", EPOCHS,
                                              "--num-threads", 1] + RECIPE_DNF])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "recovery" not in err and "diverged" not in err, err
    losses = [float(v) for v in re.findall(r"^epoch \d+/\d+ step \d+ loss (\S+)", out, re.M)]
    assert len(losses) == EPOCHS and all(np.isfinite(losses)), out
    # Learning, not just surviving: the last epochs' loss well below the first's, and the
    # whole second half below it.
    assert np.mean(losses[-3:]) < losses[0] - 50, losses
    assert max(losses[EPOCHS // 2:]) < losses[0], losses
