"""Graph construction for the n-vector: a discriminative normalisation flow (dnf).

Cai, Li, Abel, Zhu, Wang, "Deep Normalization for Speaker Vectors", IEEE/ACM TASLP 29,
2021 (arXiv 2004.04095).  An invertible network f maps a (standardised) x-vector x to
z = f(x), where each speaker's vectors follow a Gaussian with the speaker's own mean
and a shared unit covariance:

    log p(x | spk) = log N(f(x); m_spk, I) + log |det df/dx|

Training maximises this exact log-likelihood; the embedding written out (``mu``, as
for the other models) is z = f(x), the "n-vector", of the same dimension as x.

The flow (RealNVP-style, Dinh et al. 2017): ``flow_layers`` affine coupling layers.
Layer k permutes the dimensions with a fixed random permutation (drawn from the seed
once, stored in the checkpoint), keeps the first half y1 and maps the rest

    y2 -> y2 * exp(s(y1)) + t(y1),     log|det| = sum(s(y1)),

with s and t from the layer's own MLP (two tanh layers of ``hidden_dim``).  The
log-scale is bounded, s = B tanh(raw / B), so one layer can stretch a dimension by
at most exp(B): the likelihood rewards expanding directions with little within-speaker
variance, and without a bound a nearly degenerate direction of the data would be
stretched without limit.  The MLPs' output layers start at zero, so training starts
from the identity map.

Speaker means: their closed-form maximum-likelihood estimate given the flow (the
speaker's average of f(x)), recomputed over the whole training set at the start of
every epoch by the trainer and fed per batch, exactly as for the cvae.  This is
block-coordinate ascent of the same likelihood.  Trainable mean variables were not
chosen: with ~10 utterances per speaker and batches of 128 drawn from 1000+ speakers,
a speaker's mean would get a gradient once every ~10 steps and lag far behind the
flow; per-batch estimates are worse still (most speakers appear once in a batch, so
the estimate is the sample itself and the Gaussian term vanishes).

The log-likelihood reported includes the standardisation's Jacobian, -sum(log std),
so it is the exact density of the raw x-vector (the constant does not change training).

Divergence.  At train.sh's lr 1e-3 the flow can diverge after some hundreds of steps on
vectors near a low-dimensional manifold (measured on 512 dims near a 48-dim one, 2,000
speakers x 20: in epoch 2 with model.train, at step ~985 in epoch 4 in a diagnostic run of
the same graph).  Before it, the flow stretches the nearly degenerate directions steadily
(log-det rising each epoch, log-scales inside their bound).  The blow-up is sudden and in
every layer at once: in ten steps the gradient norm goes from ~500 to 1.2e5 (4e7 one step
later), every layer's log-det falls together (their sum from ~1,000 nats to ~0), the
vectors grow layer by layer through the flow (max |h| 8 at the input side to 1e4 at the
output) and land far from their speaker means: the Gaussian term, not the log-det, makes
the loss of 1e9; ten steps later most log-scales of the first layers are at their bound.
A training dither (N(0, 0.1^2) on the standardised input) with gradient-norm clipping at 4x
the running mean, or Adam's beta1 0.9 instead of the VAEs' 0.5, only delayed it (step ~1,210
instead of ~985; epoch 7 instead of 2), so none is used: the likelihood keeps rewarding the
stretch and the flow keeps sharpening.  Whitening the flow's input (rotated to the principal
axes of the standardised training set, each axis scaled to unit variance, so that no linear
direction pays for a stretch) did not remove it either: on 2,000 x 512 vectors near a 48-dim
manifold the flow diverged at epoch 11 with it, at epoch 20 without (batches of 64); with a
training dither N(0, 1e-3) added in the whitened space it lasted 6 epochs of the 40,000-vector
set that diverges at epoch 2 without, but a 256-vector set then went unstable (loss 315 ->
36,000), so neither is used.  What keeps the recipe going is model.recovery (back
to the last good checkpoint at half the learning rate); the n-vector is an option of
train.sh, not a default (conf/front_ends.tsv).
"""
import collections

import numpy as np
import tensorflow as tf

from model import vae

v1 = tf.compat.v1

FLOW_SCOPE = "flow"
SUMMARY_EVERY = vae.SUMMARY_EVERY
# Bound of each layer's log-scale (see the module docstring): a factor of e^2 per layer.
LOG_SCALE_BOUND = 2.0
LOG_2PI = float(np.log(2.0 * np.pi))

Network = collections.namedtuple("Network", [
    "config", "input_dim",
    # placeholders
    "x",          # [batch, input_dim] float32
    "input_mean", "input_std",  # [input_dim] standardisation variables (not trained)
    "spk_idx",    # [batch] int32, row of spk_means for each sample
    "spk_means",  # [num_spk, input_dim] float32, speaker means of f(x)
    # forward pass
    "mu",         # f(x), the n-vector (named as the other models' embedding)
    "log_det",    # [batch] log|det d f(x_std)/dx| including the standardisation
    # inverse: x = f^{-1}(z)
    "z_in", "x_from_z",
    # objective (per sample, averaged over the batch)
    "log_likelihood", "mean_log_det", "total_loss",
    # training
    "train_op", "global_step", "epoch", "increment_epoch", "summary_op",
    "learning_rate",  # scalar, config.lr unless fed (model.recovery lowers it)
])


# --------------------------------------------------------------------------- flow

def split_sizes(dim):
    """(kept, transformed) sizes of a coupling layer's halves."""
    kept = dim // 2
    return kept, dim - kept


def layer_permutation(seed, layer, dim):
    """Fixed permutation of layer ``layer``: a function of (seed, layer) only."""
    return np.random.RandomState([seed, layer]).permutation(dim).astype(np.int32)


def _coupling(layer, kept, hidden_dim, transformed, seed, dim):
    """Variables of one coupling layer -> (permutation, scale-and-shift function)."""
    with v1.variable_scope(f"coupling{layer}", reuse=v1.AUTO_REUSE):
        # Stored in the checkpoint: extraction does not depend on numpy's generator.
        perm = v1.get_variable("permutation", dtype=tf.int32,
                               initializer=layer_permutation(seed, layer, dim),
                               trainable=False)

    def scale_shift(y1):
        if kept == 0:
            # A 1-dim input leaves nothing to condition on: a zero input of width 1
            # makes s and t learned constants (the output biases).
            y1 = tf.zeros([tf.shape(y1)[0], 1])
        with v1.variable_scope(f"coupling{layer}", reuse=v1.AUTO_REUSE):
            h = vae.dense(y1, hidden_dim, "hidden1", tf.tanh)
            h = vae.dense(h, hidden_dim, "hidden2", tf.tanh)
            raw = vae.dense(h, 2 * transformed, "output",
                            kernel_initializer=v1.zeros_initializer())
        log_scale = LOG_SCALE_BOUND * tf.tanh(raw[:, :transformed] / LOG_SCALE_BOUND)
        return log_scale, raw[:, transformed:]
    return perm, scale_shift


def _layers(config, dim):
    kept, transformed = split_sizes(dim)
    with v1.variable_scope(FLOW_SCOPE, reuse=v1.AUTO_REUSE):
        return [_coupling(k, kept, config.hidden_dim, transformed, config.seed, dim)
                for k in range(config.flow_layers)], kept


def flow_forward(x, config):
    """z = f(x) and log|det df/dx| per row, for standardised inputs x."""
    layers, kept = _layers(config, int(x.shape[-1]))
    h, log_det = x, tf.zeros_like(x[:, 0])
    with v1.variable_scope(FLOW_SCOPE, reuse=v1.AUTO_REUSE):
        for perm, scale_shift in layers:
            y = tf.gather(h, perm, axis=1)
            y1, y2 = y[:, :kept], y[:, kept:]
            log_scale, shift = scale_shift(y1)
            h = tf.concat([y1, y2 * tf.exp(log_scale) + shift], axis=1)
            log_det = log_det + tf.reduce_sum(log_scale, axis=1)
    return h, log_det


def flow_inverse(z, config):
    """x = f^{-1}(z) (standardised space), with the same variables."""
    layers, kept = _layers(config, int(z.shape[-1]))
    h = z
    with v1.variable_scope(FLOW_SCOPE, reuse=v1.AUTO_REUSE):
        for perm, scale_shift in reversed(layers):
            y1, z2 = h[:, :kept], h[:, kept:]
            log_scale, shift = scale_shift(y1)
            y = tf.concat([y1, (z2 - shift) * tf.exp(-log_scale)], axis=1)
            h = tf.gather(y, tf.math.invert_permutation(perm), axis=1)
    return h


def gaussian_log_density(z, centres):
    """log N(z; centre, I) per row."""
    dim = tf.cast(tf.shape(z)[1], z.dtype)
    return -0.5 * (tf.reduce_sum(tf.square(z - centres), axis=1) + dim * LOG_2PI)


def model_variables(graph=None):
    """The flow's weights, permutations and the input standardisation."""
    return vae.model_variables(graph, scopes=(FLOW_SCOPE, vae.INPUT_NORM_SCOPE))


# --------------------------------------------------------------------------- graph

def build_graph(input_dim, config, training=True, batches=None):
    """Build the dnf in the current default graph and return its ``Network`` (with the
    fields of vae.Network that the trainer and extractor use); ``batches``: see
    vae.graph_inputs."""
    if config.model != "dnf":
        raise ValueError(f"model.dnf builds the dnf, not {config.model!r}")
    inputs = vae.graph_inputs(input_dim, config, int(input_dim), batches)
    z, flow_log_det = flow_forward(inputs.x_std, config)
    # Jacobian of the standardisation x -> (x - mean) / std.
    log_det = flow_log_det - tf.reduce_sum(tf.math.log(inputs.input_std))

    z_in = v1.placeholder(tf.float32, [None, inputs.input_dim], name="z_in")
    x_from_z = flow_inverse(z_in, config) * inputs.input_std + inputs.input_mean

    with v1.name_scope("losses"):
        centres = tf.gather(inputs.spk_means, inputs.spk_idx)
        log_likelihood = tf.reduce_mean(gaussian_log_density(z, centres) + log_det)
        mean_log_det = tf.reduce_mean(log_det)
        total = -log_likelihood
    summary_op = v1.summary.merge([v1.summary.scalar("loss/total", total),
                                   v1.summary.scalar("dnf/log_likelihood", log_likelihood),
                                   v1.summary.scalar("dnf/log_det", mean_log_det)])

    train_op = None
    if training:
        optimizer = v1.train.AdamOptimizer(inputs.learning_rate, beta1=config.beta1)
        weights = [var for var in model_variables() if var in v1.trainable_variables()]
        train_op = optimizer.minimize(total, global_step=inputs.global_step, var_list=weights)

    return Network(config=config, input_dim=inputs.input_dim, x=inputs.x,
                 input_mean=inputs.input_mean, input_std=inputs.input_std,
                 spk_idx=inputs.spk_idx, spk_means=inputs.spk_means, mu=z, log_det=log_det,
                 z_in=z_in, x_from_z=x_from_z, log_likelihood=log_likelihood,
                 mean_log_det=mean_log_det, total_loss=total, train_op=train_op,
                 global_step=inputs.global_step, epoch=inputs.epoch,
                 increment_epoch=inputs.increment_epoch, summary_op=summary_op,
                 learning_rate=inputs.learning_rate)


def loss_terms(net):
    """Ordered {name: tensor} for the progress lines (per-sample averages)."""
    return collections.OrderedDict([("loss", net.total_loss),
                                    ("loglik", net.log_likelihood),
                                    ("logdet", net.mean_log_det)])
