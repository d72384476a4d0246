"""Tests of the discriminative normalisation flow (model/dnf.py): the n-vector.

Tiny dimensions throughout: the log-determinant is checked against the Jacobian
that TensorFlow's autodiff gives for the same graph, the inverse against the
forward map, and training (through the real trainer and extractor) against data
drawn from the model's own assumptions.
"""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from kaldi_compat.compute_eer import compute_eer  # noqa: E402
from model import dnf  # noqa: E402
from model import extract as extract_cli  # noqa: E402
from model import train as train_cli  # noqa: E402
from model.config import ModelConfig  # noqa: E402

v1 = tf.compat.v1


def random_flow(sess, graph, dim, rng):
    """Give every weight (the zero-initialised output layers included) a random value
    and the standardisation a non-trivial mean and std, so no term is the identity."""
    for var in dnf.model_variables():
        if var in v1.trainable_variables():
            var.load(0.4 * rng.randn(*var.shape.as_list()), sess)
    graph.input_mean.load(rng.randn(dim), sess)
    graph.input_std.load(np.exp(0.5 * rng.randn(dim)), sess)


@pytest.fixture(params=[(7, 4), (6, 3), (1, 2)], ids=["odd-dim", "even-dim", "one-dim"])
def flow_session(request):
    """(session, graph, dim, rng) of a random flow with `layers` coupling layers."""
    dim, layers = request.param
    rng = np.random.RandomState(dim)
    config = ModelConfig(model="dnf", input_dim=dim, hidden_dim=16, flow_layers=layers, seed=3)
    with tf.Graph().as_default():
        g = dnf.build_graph(dim, config, training=False)
        # Rows of the Jacobian by autodiff: the rows of the batch are independent, so
        # d sum_b z[b, j] / d x[b, :] is row j of sample b's Jacobian.
        jacobian = tf.stack([v1.gradients(g.mu[:, j], g.x)[0] for j in range(dim)], axis=1)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            random_flow(sess, g, dim, rng)
            yield sess, g, jacobian, dim, rng


def test_log_det_equals_the_jacobians(flow_session):
    sess, g, jacobian, dim, rng = flow_session
    x = (3 * rng.randn(16, dim)).astype(np.float32)
    log_det, jac = sess.run([g.log_det, jacobian], {g.x: x})
    sign, expected = np.linalg.slogdet(jac.astype(np.float64))
    assert (sign != 0).all()         # invertible (permutations may flip the sign)
    # float32 graph: agreement to ~1e-6 relative; 1e-4 leaves room, any wrong term
    # (a missing layer's scale, the standardisation) is off by O(1).
    np.testing.assert_allclose(log_det, expected, rtol=1e-4, atol=1e-4)
    assert np.ptp(log_det) > 0.1 or dim == 1   # the test would notice a constant log-det


def test_flow_inverts(flow_session):
    sess, g, _, dim, rng = flow_session
    x = (3 * rng.randn(64, dim)).astype(np.float32)
    z = sess.run(g.mu, {g.x: x})
    assert np.abs(z - x).max() > 0.1            # not the identity
    back = sess.run(g.x_from_z, {g.z_in: z})
    np.testing.assert_allclose(back, x, atol=1e-4, rtol=0)


def test_speaker_means_are_fed_and_change_the_likelihood():
    """log-likelihood = log N(f(x); m_spk, I) + log-det, with m_spk the fed mean."""
    dim = 4
    config = ModelConfig(model="dnf", input_dim=dim, hidden_dim=8, flow_layers=2)
    with tf.Graph().as_default():
        g = dnf.build_graph(dim, config, training=False)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            x = np.random.RandomState(0).randn(3, dim).astype(np.float32)
            means = np.array([[0, 0, 0, 0], [1, 2, 0, -1]], np.float32)
            ll, z, log_det = sess.run([g.log_likelihood, g.mu, g.log_det],
                                      {g.x: x, g.spk_idx: [0, 1, 1], g.spk_means: means})
    # A fresh flow only permutes (zero output layers) and the standardisation is unit.
    np.testing.assert_allclose(log_det, 0, atol=1e-6)
    np.testing.assert_allclose(np.sort(z, axis=1), np.sort(x, axis=1), atol=1e-6)
    centred = z - means[[0, 1, 1]]
    expected = np.mean(-0.5 * (centred ** 2).sum(1) - 0.5 * dim * np.log(2 * np.pi) + log_det)
    np.testing.assert_allclose(ll, expected, rtol=1e-5)


# --------------------------------------------------------------------------- training

def own_assumption_data(path, n_spk, per_spk, seed, mixing):
    """Speakers as the dnf assumes them, seen through a nonlinear invertible map:
    latent z = m_spk + e, e ~ N(0, I); the speaker means spread along 4 of 8 latent
    directions only; x = g(R diag(c) z) shrinks those 4 directions, blows up the 4
    nuisance ones (so cosine on x is mostly nuisance) and bends them (g = sinh).
    Cosine on the true latent z gives about 6% EER on the test speakers, on x about 30%."""
    rng = np.random.RandomState(seed)
    rotation, scales = mixing
    spk_std = np.array([4.0, 4.0, 4.0, 4.0, 0, 0, 0, 0])
    means = rng.randn(n_spk, 8) * spk_std
    spk = np.repeat(np.arange(n_spk), per_spk).astype(np.int32)
    latent = means[spk] + rng.randn(len(spk), 8)
    x = np.sinh(0.5 * (latent * scales) @ rotation.T)
    np.savez(path, vectors=x.astype(np.float32), spk_index=spk,
             utt_ids=np.array([f"u{i:05d}" for i in range(len(spk))]),
             spk_labels=np.array([f"s{i}" for i in range(n_spk)]))
    return str(path), spk


def cosine_eer(vectors, spk, centre):
    """EER (%) of cosine scoring over every pair of vectors, after centring."""
    v = vectors - centre
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    scores = v @ v.T
    upper = np.triu_indices(len(spk), k=1)
    same = (spk[:, None] == spk[None, :])[upper]
    return 100 * compute_eer(scores[upper][same], scores[upper][~same])[0]


def test_training_recovers_speaker_separation(tmp_path, capsys):
    rng = np.random.RandomState(11)
    mixing = (np.linalg.qr(rng.randn(8, 8))[0], np.array([0.3] * 4 + [2.0] * 4))
    train_npz, _ = own_assumption_data(tmp_path / "train.npz", 60, 16, 1, mixing)
    test_npz, test_spk = own_assumption_data(tmp_path / "test.npz", 30, 6, 2, mixing)
    model_dir = tmp_path / "dnf"
    assert train_cli.main(["--train-npz", train_npz, "--model-dir", str(model_dir),
                           "--model", "dnf", "--epochs", "25", "--batch-size", "64",
                           "--hidden-dim", "32", "--flow-layers", "4", "--lr", "3e-3",
                           "--save-every", "25", "--num-threads", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    loglik = [float(line.split(" loglik ")[1].split()[0]) for line in lines]
    assert len(loglik) == 25 and loglik[-1] > loglik[0] + 1.0, loglik
    assert " logdet " in lines[-1] and os.listdir(model_dir / "tb")

    out_npz = tmp_path / "nvec.npz"
    assert extract_cli.main(["--model-dir", str(model_dir), "--input-npz", test_npz,
                             "--output-npz", str(out_npz)]) == 0
    nvec = np.load(out_npz)["vectors"]
    assert nvec.shape == (len(test_spk), 8)
    raw = np.load(test_npz)["vectors"]
    train_raw = np.load(train_npz)["vectors"]
    # The raw vectors standardised as the model does, for a fair baseline.
    mean, std = train_raw.mean(0), train_raw.std(0)
    raw_eer = cosine_eer((raw - mean) / std, test_spk, 0)
    nvec_eer = cosine_eer(nvec, test_spk, nvec.mean(0))
    assert raw_eer > 20, raw_eer       # the data is built to defeat cosine on x
    assert nvec_eer < 0.5 * raw_eer, (raw_eer, nvec_eer)
