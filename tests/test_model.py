"""Tests of the model/ package: graph, losses, training CLI, resume, extraction.

Training runs use tiny networks (64 hidden, 16-dim code) and call the entry
points in-process (TensorFlow is imported once); the bad-input tests run the
real command lines, since their point is what a user sees on stderr.
"""
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from data_utils.errors import run_main  # noqa: E402
from model import extract as extract_cli  # noqa: E402
from model import train as train_cli  # noqa: E402
from model import vae  # noqa: E402
from model.config import ModelConfig  # noqa: E402

v1 = tf.compat.v1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--hidden-dim", "64", "--code-dim", "16", "--batch-size", "32", "--num-threads", "1"]


# --------------------------------------------------------------------------- helpers

def make_npz(path, n_spk=8, per_spk=32, dim=24, seed=0, **replace):
    """Synthetic speaker-structured data: low-rank speaker centres plus noise."""
    rng = np.random.RandomState(seed)
    spk = np.repeat(np.arange(n_spk), per_spk).astype(np.int32)
    centres = rng.randn(n_spk, 4) @ rng.randn(4, dim)
    arrays = {
        "vectors": (centres[spk] + 0.3 * rng.randn(len(spk), dim)).astype(np.float32),
        # Ids deliberately not in sorted order: extraction must keep input order.
        "utt_ids": np.array([f"utt{(7919 * i) % 10007:05d}" for i in range(len(spk))]),
        "spk_index": spk,
        "spk_labels": np.array([f"spk{i}" for i in range(n_spk)]),
    }
    arrays.update(replace)
    np.savez(path, **arrays)
    return str(path)


def train(argv):
    assert train_cli.main([str(a) for a in argv]) == 0


def exit_status(prog, main, argv):
    """The exit status of main run as from the command line (errors.run_main)."""
    with pytest.raises(SystemExit) as exit_:
        run_main(prog, main, [str(a) for a in argv])
    return exit_.value.code


def checkpoint_values(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def epoch_losses(stdout):
    return [float(m.group(1)) for m in re.finditer(r"^epoch \d+/\d+ step \d+ loss (\S+)", stdout, re.M)]


def run_cli(module, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def evaluate(tensor_fn, *arrays):
    """Evaluate tensor_fn(*constants) in a fresh graph and session."""
    with tf.Graph().as_default():
        result = tensor_fn(*(tf.constant(a) for a in arrays))
        with v1.Session() as sess:
            return sess.run(result)


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    """A small vae trained for 3 epochs: (model_dir, train_npz)."""
    base = tmp_path_factory.mktemp("vae")
    data = make_npz(base / "train.npz")
    train(["--train-npz", data, "--model-dir", base / "vae", "--epochs", 3, "--seed", 1] + SMALL)
    return base / "vae", data


# --------------------------------------------------------------------------- graph

@pytest.mark.parametrize("model", ["vae", "cvae", "ae"])
@pytest.mark.parametrize("input_dim", [24, 512, 37])
def test_graph_shapes(model, input_dim):
    config = ModelConfig(model=model, hidden_dim=64, code_dim=16)
    x = np.random.RandomState(0).randn(5, input_dim).astype(np.float32)
    with tf.Graph().as_default():
        g = vae.build_graph(input_dim, config)
        assert g.x.shape.as_list() == [None, input_dim]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            mu, z, x_hat = sess.run([g.mu, g.z, g.x_hat], {g.x: x})
            assert mu.shape == (5, 16) and z.shape == (5, 16) and x_hat.shape == (5, input_dim)
            if model == "ae":
                assert g.sigma is None
            else:
                sigma = sess.run(g.sigma, {g.x: x})
                assert sigma.shape == (5, 16) and (sigma > 0).all()


@pytest.mark.parametrize("model", ["vae", "ae"])
def test_paper_size_parameter_count(model):
    d, h, c = 512, 1800, 200

    def layer(n_in, n_out):
        return n_in * n_out + n_out

    heads = 2 if model == "vae" else 1   # mu (+ sigma)
    expected = (layer(d, h) + 2 * layer(h, h) + heads * layer(h, c)      # encoder
                + layer(c, h) + layer(h, h) + layer(h, d))                # decoder
    with tf.Graph().as_default():
        vae.build_graph(d, ModelConfig(model=model))   # paper defaults: 1800 / 200
        trainable = v1.trainable_variables()
        assert sum(int(np.prod(v.shape.as_list())) for v in trainable) == expected
        # --init-from restores the weights plus the (untrained) input standardisation.
        norm = {v for v in vae.model_variables() if v.op.name.startswith("input_norm/")}
        assert {v.op.name for v in norm} == {"input_norm/mean", "input_norm/std"}
        assert set(trainable) == set(vae.model_variables()) - norm


def test_build_graph_rejects_mismatched_input_dim():
    with tf.Graph().as_default(), pytest.raises(ValueError):
        vae.build_graph(24, ModelConfig(input_dim=37, hidden_dim=8, code_dim=2))


# --------------------------------------------------------------------------- losses

def test_cohesive_loss_formula():
    rng = np.random.RandomState(3)
    mu = rng.randn(6, 5).astype(np.float32)
    spk_idx = np.array([0, 2, 1, 2, 0, 2], np.int32)
    means = rng.randn(3, 5).astype(np.float32)
    # The authors' mean squared error: over the batch and the code's dimensions.
    expected = np.mean([np.mean((mu[i] - means[spk_idx[i]]) ** 2) for i in range(6)])
    assert evaluate(vae.cohesive_loss, mu, spk_idx, means) == pytest.approx(expected, rel=1e-5)
    # Hand-computed: squared distances 1, 5 and 2 over 2 dimensions -> (8 / 2) / 3.
    literal = evaluate(vae.cohesive_loss,
                       np.array([[1, 2], [3, 4], [0, 0]], np.float32),
                       np.array([0, 1, 0], np.int32),
                       np.array([[1, 1], [2, 2]], np.float32))
    assert literal == pytest.approx(4 / 3, rel=1e-6)


def test_kl_closed_form():
    rng = np.random.RandomState(4)
    mu = rng.randn(7, 3).astype(np.float32)
    sigma = rng.uniform(0.2, 2.0, (7, 3)).astype(np.float32)
    expected = np.mean(np.sum(0.5 * (mu ** 2 + sigma ** 2 - 1 - np.log(sigma ** 2)), axis=1))
    assert evaluate(vae.kl_divergence, mu, sigma) == pytest.approx(expected, rel=1e-5)
    # N(mu, I) vs N(0, I) is ||mu||^2 / 2; the prior itself has KL 0.
    assert evaluate(vae.kl_divergence, np.array([[1, 2]], np.float32),
                    np.ones((1, 2), np.float32)) == pytest.approx(2.5)
    assert evaluate(vae.kl_divergence, np.zeros((2, 4), np.float32),
                    np.ones((2, 4), np.float32)) == pytest.approx(0.0, abs=1e-7)


def test_reconstruction_loss_formula():
    x = np.array([[1, 2, 3], [0, 0, 0]], np.float32)
    x_hat = np.array([[1, 0, 3], [1, 1, 1]], np.float32)
    assert evaluate(vae.reconstruction_loss, x, x_hat) == pytest.approx((4 + 3) / 2)


def test_ae_is_deterministic_without_kl():
    x = np.random.RandomState(0).randn(4, 10).astype(np.float32)
    with tf.Graph().as_default():
        g = vae.build_graph(10, ModelConfig(model="ae", hidden_dim=32, code_dim=4))
        assert g.kl_loss is None and g.sigma is None and g.cohesive_loss is None
        assert not [v for v in v1.global_variables() if "sigma" in v.op.name]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a, b = sess.run(g.z, {g.x: x}), sess.run(g.z, {g.x: x})
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, sess.run(g.mu, {g.x: x}))
            total, recon = sess.run([g.total_loss, g.recon_loss], {g.x: x})
            assert total == recon


def test_vae_mu_is_deterministic_but_z_is_sampled():
    row = np.random.RandomState(0).randn(1, 10).astype(np.float32)
    x = np.repeat(row, 3, axis=0)  # three identical inputs
    with tf.Graph().as_default():
        g = vae.build_graph(10, ModelConfig(model="vae", hidden_dim=32, code_dim=4))
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            mu1, z1 = sess.run([g.mu, g.z], {g.x: x})
            np.testing.assert_array_equal(mu1, sess.run(g.mu, {g.x: x}))
            np.testing.assert_array_equal(mu1[0], mu1[1])   # same input, same mean
            assert not np.allclose(z1[0], z1[1])            # ...but independent samples
            assert not np.allclose(z1, mu1)
            sess.run(v1.assign_add(g.global_step, 1))       # next step: fresh noise
            assert not np.allclose(z1, sess.run(g.z, {g.x: x}))


# --------------------------------------------------------------------------- training

@pytest.mark.parametrize("model", ["vae", "cvae", "ae"])
def test_training_lowers_loss(model, tmp_path, capsys):
    data = make_npz(tmp_path / "train.npz", per_spk=64)  # 512 vectors: 16 steps/epoch
    train(["--train-npz", data, "--model-dir", tmp_path / model, "--model", model,
           "--epochs", 20, "--save-every", 20, "--lr", 1e-3] + SMALL)   # 320 steps; small nets take 1e-3
    losses = epoch_losses(capsys.readouterr().out)
    assert len(losses) == 20
    assert losses[-1] < 0.5 * losses[0], losses
    assert os.path.isdir(tmp_path / model / "tb") and os.listdir(tmp_path / model / "tb")


def test_long_epochs_report_progress_within_the_epoch(tmp_path, capsys, monkeypatch):
    """An epoch longer than PROGRESS_SECONDS prints progress lines as it goes (a 1.2M-vector
    epoch takes about 15 min); their counts and running loss agree with the epoch line."""
    from model import epochs
    data = make_npz(tmp_path / "train.npz", per_spk=64)  # 512 vectors: 16 steps of 32
    monkeypatch.setattr(epochs, "PROGRESS_SECONDS", 0.0)   # a line after every batch
    train(["--train-npz", data, "--model-dir", tmp_path / "vae", "--epochs", 1,
           "--batch-size", 32] + SMALL)
    out = capsys.readouterr().out
    lines = re.findall(r"^epoch 1: step (\d+), (\d+)/512 vectors \((\d+)%\), loss so far ([^,]+),",
                       out, re.M)
    assert [int(step) for step, _, _, _ in lines] == list(range(1, 17))
    assert [int(seen) for _, seen, _, _ in lines] == [32 * k for k in range(1, 17)]
    assert lines[-1][2] == "100"
    assert float(lines[-1][3]) == pytest.approx(epoch_losses(out)[0], rel=1e-5)


@pytest.mark.parametrize("model", ["vae", "cvae", "dnf"])
def test_resume_is_exact(model, tmp_path, capsys):
    data = make_npz(tmp_path / "train.npz", per_spk=20)  # 160 vectors: 5 steps/epoch
    args = ["--train-npz", data, "--model", model, "--seed", 5, "--save-every", 1] + SMALL
    train(args + ["--model-dir", tmp_path / "resumed", "--epochs", 2])
    train(args + ["--model-dir", tmp_path / "resumed", "--epochs", 4])
    train(args + ["--model-dir", tmp_path / "straight", "--epochs", 4])
    resumed, straight = checkpoint_values(tmp_path / "resumed"), checkpoint_values(tmp_path / "straight")
    assert resumed["global_step"] == 4 * 5 and resumed["epoch"] == 4
    assert set(resumed) == set(straight)
    for name in resumed:   # weights, Adam slots, counters
        np.testing.assert_allclose(resumed[name], straight[name], atol=1e-5, err_msg=name)
    # Already at --epochs: says so, trains nothing.
    capsys.readouterr()
    train(args + ["--model-dir", tmp_path / "resumed", "--epochs", 4])
    out = capsys.readouterr().out
    assert "nothing to do" in out and not epoch_losses(out)
    assert checkpoint_values(tmp_path / "resumed")["global_step"] == 20


def test_rerun_with_other_architecture_is_refused(trained_vae, capsys):
    model_dir, data = trained_vae
    before = open(model_dir / "config.json").read()
    assert exit_status("model.train", train_cli.main, ["--train-npz", data, "--model-dir", model_dir,
                                                       "--hidden-dim", 32, "--epochs", 5]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.json" in err[0] and "hidden_dim" in err[0]
    assert open(model_dir / "config.json").read() == before


def test_input_standardisation_is_learnt_from_the_training_data(trained_vae):
    vae_dir, data = trained_vae
    vectors = np.load(data)["vectors"].astype(np.float64)
    values = checkpoint_values(vae_dir)
    np.testing.assert_allclose(values["input_norm/mean"], vectors.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values["input_norm/std"], vectors.std(axis=0), rtol=1e-5)


def test_cvae_init_from_vae(trained_vae, tmp_path):
    vae_dir, data = trained_vae
    # --epochs 0 on a fresh directory saves the initialised model untrained.
    train(["--train-npz", data, "--model-dir", tmp_path / "cvae", "--model", "cvae",
           "--init-from", vae_dir, "--epochs", 0] + SMALL)
    source, target = checkpoint_values(vae_dir), checkpoint_values(tmp_path / "cvae")
    weights = [n for n in target if n.split("/")[0] in ("encoder", "decoder") and "Adam" not in n]
    assert len(weights) == 2 * (3 + 2) + 2 * 3   # kernel+bias: 5 encoder, 3 decoder layers
    for name in weights:
        np.testing.assert_array_equal(target[name], source[name], err_msg=name)
    # The input standardisation comes along: the cvae sees the vae's input space.
    for name in ("input_norm/mean", "input_norm/std"):
        np.testing.assert_array_equal(target[name], source[name], err_msg=name)
    # Optimiser state and counters start afresh.
    assert target["global_step"] == 0 and target["epoch"] == 0 and source["global_step"] > 0
    assert not target["encoder/hidden1/kernel/Adam"].any()
    assert source["encoder/hidden1/kernel/Adam"].any()


def test_cvae_cohesive_term_uses_speaker_mean_codes(tmp_path, capsys):
    """End to end: speaker means from the whole set, per-batch feeding, the loss.

    With a negligible learning rate the weights stay at their initial values, so
    the epoch's mean cohesive loss must equal the formula evaluated in numpy with
    the saved weights (each speaker's whole mean code, as in the authors' code, then the
    mean squared error over samples and dimensions)."""
    data = make_npz(tmp_path / "train.npz", per_spk=24)
    train(["--train-npz", data, "--model-dir", tmp_path / "cvae", "--model", "cvae",
           "--epochs", 1, "--lr", 1e-30] + SMALL)
    logged = float(re.search(r"^epoch 1/1 .* cohesive (\S+)", capsys.readouterr().out, re.M).group(1))
    arrays = np.load(data)
    mu = numpy_mu(checkpoint_values(tmp_path / "cvae"), arrays["vectors"].astype(np.float64))
    spk = arrays["spk_index"]
    means = np.stack([mu[spk == s].mean(axis=0) for s in range(len(arrays["spk_labels"]))])
    expected = np.mean((mu - means[spk]) ** 2)
    assert logged == pytest.approx(expected, rel=1e-3)


def test_training_set_stays_on_disk(tmp_path):
    """np.savez's npz: vectors left in the file, rows read when indexed; compressed or
    float64: read. The statistics of the input standardisation are computed block by block."""
    from data_utils.file_rows import FileRows
    from data_utils.npz_io import load_npz
    from model.data import column_mean_std
    plain = make_npz(tmp_path / "plain.npz", n_spk=3, per_spk=5, dim=7)
    vectors = np.load(plain)["vectors"]
    data = load_npz(plain, need_speakers=True, on_disk=True)
    assert isinstance(data.vectors, FileRows) and data.vectors.dtype == np.float32
    np.testing.assert_array_equal(data.vectors, vectors)
    np.testing.assert_array_equal(data.spk_index, np.load(plain)["spk_index"])
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, **dict(np.load(plain)))
    wide = make_npz(tmp_path / "wide.npz", n_spk=3, per_spk=5, dim=7, vectors=vectors.astype(np.float64))
    for other in (str(packed), wide):
        data = load_npz(other, on_disk=True)
        assert isinstance(data.vectors, np.ndarray)
        np.testing.assert_array_equal(data.vectors, vectors)
    big = np.random.RandomState(3).randn(20000, 3).astype(np.float32) * [1, 10, 0] + [5, -2, 1]
    mean, std = column_mean_std(big)
    np.testing.assert_allclose(mean, big.astype(np.float64).mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, big.astype(np.float64).std(axis=0), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- extraction

def numpy_mu(values, x):
    """The encoder's mean head computed independently in numpy."""
    def layer(h, name):
        return h @ values[f"encoder/{name}/kernel"] + values[f"encoder/{name}/bias"]
    x = (x - values["input_norm/mean"]) / values["input_norm/std"]
    h = 1 / (1 + np.exp(-layer(x, "hidden1")))
    h = layer(h, "hidden2")
    h = np.where(h > 0, h, np.expm1(h))   # elu
    h = np.tanh(layer(h, "hidden3"))
    return layer(h, "mu")


def test_extract_npz_keeps_ids_and_order(trained_vae, tmp_path):
    model_dir, data = trained_vae
    out = tmp_path / "emb.npz"
    assert extract_cli.main(["--model-dir", str(model_dir), "--input-npz", data,
                             "--output-npz", str(out), "--batch-size", "50"]) == 0
    source, result = np.load(data), np.load(out)
    np.testing.assert_array_equal(result["utt_ids"], source["utt_ids"])
    np.testing.assert_array_equal(result["spk_index"], source["spk_index"])
    np.testing.assert_array_equal(result["spk_labels"], source["spk_labels"])
    assert result["vectors"].shape == (len(source["utt_ids"]), 16)
    expected = numpy_mu(checkpoint_values(model_dir), source["vectors"].astype(np.float64))
    np.testing.assert_allclose(result["vectors"], expected, atol=1e-4)


def test_extract_several_inputs_in_one_run(trained_vae, tmp_path):
    model_dir, data = trained_vae
    part = make_npz(tmp_path / "part.npz", n_spk=3, per_spk=5, seed=4)
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    assert extract_cli.main(["--model-dir", str(model_dir), "--input-npz", data,
                             "--output-npz", str(outs[0]), "--input-npz", part,
                             "--output-npz", str(outs[1])]) == 0
    values = checkpoint_values(model_dir)
    for source, out in zip((data, part), outs):
        vectors = np.load(source)["vectors"].astype(np.float64)
        result = np.load(out)
        np.testing.assert_array_equal(result["utt_ids"], np.load(source)["utt_ids"])
        np.testing.assert_allclose(result["vectors"], numpy_mu(values, vectors), atol=1e-4)
    # One output too few for the inputs is a usage error, before anything is written.
    with pytest.raises(SystemExit):
        extract_cli.main(["--model-dir", str(model_dir), "--input-npz", data, "--input-npz", part,
                          "--output-npz", str(tmp_path / "c.npz")])
    assert not (tmp_path / "c.npz").exists()


def test_extract_streams_any_rspecifier_in_input_order(trained_vae, tmp_path, capsys):
    """scp, ark and a pipe as inputs, with a batch size that leaves a short last batch:
    every output has the input's keys in the input's order and the numpy mu(x)."""
    from data_utils import kaldi_table as kt
    model_dir, data = trained_vae
    source = np.load(data)
    ids = [str(u) for u in source["utt_ids"]]
    kt.write_vectors(f"ark,scp:{tmp_path}/in.ark,{tmp_path}/in.scp", ids, source["vectors"])
    outputs = [f"ark,scp:{tmp_path}/a.ark,{tmp_path}/a.scp", f"ark,t:{tmp_path}/b.txt",
               f"ark:{tmp_path}/c.ark"]
    assert extract_cli.main(["--model-dir", str(model_dir), "--batch-size", "7",
                             "--input", f"scp:{tmp_path}/in.scp", "--output", outputs[0],
                             "--input-npz", data, "--output", outputs[1],
                             "--input", f"ark:cat {tmp_path}/in.ark |", "--output", outputs[2]]) == 0
    expected = numpy_mu(checkpoint_values(model_dir), source["vectors"].astype(np.float64))
    for spec in (f"scp:{tmp_path}/a.scp", f"ark:{tmp_path}/b.txt", f"ark:{tmp_path}/c.ark"):
        keys, vectors = kt.read_vector_table(spec)
        assert keys == ids
        np.testing.assert_allclose(vectors, expected, atol=1e-4)
    err = capsys.readouterr().err
    assert f"LOG (model.extract) scp:{tmp_path}/in.scp: {len(ids)} vectors written to" in err


def test_extract_table_errors_leave_nothing(trained_vae, tmp_path):
    """A record of the wrong dimension half-way through: one line naming the file and
    the key, and no output (nor temporary file) left behind."""
    from data_utils import kaldi_table as kt
    model_dir, _ = trained_vae
    keys = [f"u{i}" for i in range(40)]
    kt.write_vectors(f"ark:{tmp_path}/good.ark", keys, np.ones((40, 24)))
    kt.write_vectors(f"ark:{tmp_path}/odd.ark", ["bad"], np.ones((1, 25)))
    with open(tmp_path / "in.ark", "wb") as f:
        f.write((tmp_path / "good.ark").read_bytes() + (tmp_path / "odd.ark").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("model.extract", "--model-dir", model_dir, "--batch-size", 8,
                   "--input", f"ark:{tmp_path}/in.ark", "--output", f"ark,scp:{out}/x.ark,{out}/x.scp")
    # Found after TensorFlow started (whose start-up chatter may precede it): one ERROR line.
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"ERROR (model.extract): {tmp_path}/in.ark: key bad: ")
    assert "key bad" in proc.stderr and "25" in proc.stderr and "24" in proc.stderr
    assert os.listdir(out) == []
    proc = run_cli("model.extract", "--model-dir", model_dir, "--input", f"ark:{tmp_path}/good.ark",
                   "--output", f"ark:{tmp_path}/no/such/dir/x.ark")
    assert_one_line_error(proc, "model.extract", f"{tmp_path}/no/such/dir/x.ark")
    proc = run_cli("model.extract", "--model-dir", model_dir, "--input", f"scp:{tmp_path}/missing.scp",
                   "--output", f"ark:{out}/x.ark")
    assert_one_line_error(proc, "model.extract", f"{tmp_path}/missing.scp")
    assert os.listdir(out) == []


# --------------------------------------------------------------------------- bad input

def assert_one_line_error(proc, prog, filename):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"ERROR ({prog}): ") and filename in lines[0]


def test_train_missing_npz(tmp_path):
    missing = tmp_path / "missing.npz"
    proc = run_cli("model.train", "--train-npz", missing, "--model-dir", tmp_path / "m")
    assert_one_line_error(proc, "model.train", str(missing))
    assert not os.path.exists(tmp_path / "m")


def test_train_npz_with_nan(tmp_path):
    vectors = np.ones((10, 6), np.float32)
    vectors[3, 2] = np.nan
    data = make_npz(tmp_path / "nan.npz", n_spk=2, per_spk=5, dim=6, vectors=vectors)
    proc = run_cli("model.train", "--train-npz", data, "--model-dir", tmp_path / "m")
    assert_one_line_error(proc, "model.train", data)
    assert "row 3" in proc.stderr
    assert not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("problem", ["no-vectors", "1-d", "bad-spk-index"])
def test_train_malformed_npz(tmp_path, capsys, problem):
    replace = {"no-vectors": {}, "1-d": {"vectors": np.ones(16, np.float32)},
               "bad-spk-index": {"spk_index": np.full(16, 2, np.int32)}}[problem]
    path = tmp_path / "bad.npz"
    make_npz(path, n_spk=2, per_spk=8, dim=4, **replace)
    if problem == "no-vectors":
        arrays = dict(np.load(path))
        del arrays["vectors"]
        np.savez(path, **arrays)
    assert exit_status("model.train", train_cli.main, ["--train-npz", path, "--model-dir",
                                                       tmp_path / "m", "--model", "cvae"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ERROR (model.train): {path}: ")
    assert not os.path.exists(tmp_path / "m")


def test_extract_dim_mismatch(trained_vae, tmp_path):
    model_dir, _ = trained_vae
    wrong = make_npz(tmp_path / "wrong.npz", dim=25)
    out = tmp_path / "out.npz"
    proc = run_cli("model.extract", "--model-dir", model_dir, "--input-npz", wrong, "--output-npz", out)
    assert_one_line_error(proc, "model.extract", wrong)
    assert "25" in proc.stderr and "24" in proc.stderr
    assert not os.path.exists(out)
    assert os.listdir(tmp_path) == ["wrong.npz"]   # no temporary files left either


def test_a_non_finite_batch_loss_stops_training_at_once(tmp_path, capsys):
    """Adam at lr 1e30 moves every weight by ~1e30 in one step: the next batch's loss
    overflows float32, and training stops at that batch, saving nothing."""
    data = make_npz(tmp_path / "train.npz")
    status = exit_status(train_cli.PROG, train_cli.main, ["--train-npz", data, "--model-dir",
                                                          tmp_path / "vae", "--epochs", 2,
                                                          "--lr", 1e30] + SMALL)
    err = capsys.readouterr().err
    assert status == 1
    assert re.search(r"ERROR \(model.train\): \S+vae: training diverged \(loss (inf|nan)\) "
                     r"at epoch 1, step [2-8]; try a lower --lr", err), err
    assert not os.path.exists(tmp_path / "vae" / "checkpoint")
