"""PLDA training recovers the model it is sampled from (in the spirit of Kaldi's plda-test.cc).

Self-contained: no Kaldi and no reference files, so it runs everywhere. Speakers are drawn
from a known two-covariance model, x = mu + y_s + e with y_s ~ N(0, B) per speaker and
e ~ N(0, W) per utterance; E-M must give back mu, B and W, and the model's transform must
diagonalise them as a PLDA's should (W -> I, B -> diag(psi), psi descending).
"""
import numpy as np
import pytest

from helpers import add_class_samples
from kaldi_compat.plda_train import PldaStats, estimate_plda

DIM, SPEAKERS = 8, 400


def random_spd(rng, dim, scale):
    a = rng.standard_normal((dim, dim))
    return scale * (a @ a.T / dim + 0.2 * np.eye(dim))


def sample_corpus(rng, utts_per_speaker):
    mean = rng.standard_normal(DIM) * 3.0
    between = random_spd(rng, DIM, 4.0)
    within = random_spd(rng, DIM, 1.0)
    chol_b, chol_w = np.linalg.cholesky(between), np.linalg.cholesky(within)
    stats = PldaStats(DIM)
    for s in range(SPEAKERS):
        n = utts_per_speaker(s)
        speaker = mean + chol_b @ rng.standard_normal(DIM)
        add_class_samples(stats, speaker + rng.standard_normal((n, DIM)) @ chol_w.T)
    return stats, mean, between, within


def rel_err(estimate, truth):
    return np.linalg.norm(estimate - truth) / np.linalg.norm(truth)


@pytest.mark.parametrize('utts', ['fixed', 'varied'])
def test_em_recovers_the_sampled_model(utts):
    rng = np.random.default_rng(11)
    # Varied counts exercise the grouping of speakers by number of utterances.
    per_speaker = (lambda s: 10) if utts == 'fixed' else (lambda s: 2 + s % 15)
    stats, mean, between, within = sample_corpus(rng, per_speaker)
    plda = estimate_plda(stats, num_em_iters=40)

    # The transform diagonalises the model it learnt: T W T' = I, T B T' = diag(psi).
    t_inv = np.linalg.inv(plda.transform)
    within_hat = t_inv @ t_inv.T
    between_hat = t_inv @ np.diag(plda.psi) @ t_inv.T
    assert np.all(np.diff(plda.psi) <= 0)

    # Tolerances from the sampling error of the truth itself: a sample covariance of N
    # draws in D dims is off by about sqrt((D + 1) / N) in relative Frobenius norm. B is
    # seen through 400 speakers (0.15), W through about 3,600 residuals (0.05); seeds 1-3
    # give 0.10-0.17 and 0.036-0.044. Twice those leave room for E-M, and still fail when
    # the covariances are mixed up (next test).
    assert rel_err(within_hat, within) < 0.1
    assert rel_err(between_hat, between) < 0.3
    # The mean of 400 speaker means has error sqrt(tr B / 400), about 0.2 here.
    assert np.linalg.norm(plda.mean - mean) < 3 * np.sqrt(np.trace(between) / SPEAKERS)


def test_em_is_not_fooled_by_swapped_covariances():
    """The test above can fail: the same data with B and W exchanged gives other estimates."""
    rng = np.random.default_rng(11)
    stats, _, between, within = sample_corpus(rng, lambda s: 10)
    plda = estimate_plda(stats, num_em_iters=40)
    t_inv = np.linalg.inv(plda.transform)
    assert rel_err(t_inv @ t_inv.T, between) > 0.5
    assert rel_err(t_inv @ np.diag(plda.psi) @ t_inv.T, within) > 0.5
