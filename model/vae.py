"""Graph construction for the v-vector (vae), c-vector (cvae) and a-vector (ae).

TensorFlow 1.x style through ``tf.compat.v1``: placeholders, variable scopes,
``get_variable``.  ``build_graph`` adds everything to the *current default
graph*; callers wrap it in ``with tf.Graph().as_default():`` and run it in a
``tf.compat.v1.Session(graph=...)``.

Architecture (paper, section 3):

    encoder  x -> 1800 sigmoid -> 1800 elu -> 1800 tanh -> mu (linear)
                                                        -> sigma = softplus(linear)
    decoder  z -> 1800 tanh -> 1800 sigmoid -> x_hat (linear; Gaussian decoder)

The embedding is the code mean mu(x).
"""
import collections

import tensorflow as tf

v1 = tf.compat.v1

# softplus underflows to exactly 0 for very negative inputs; log(sigma) in the
# KL term would then be -inf and the gradients NaN.  A tiny floor keeps sigma
# strictly positive without changing any realistic value.
SIGMA_FLOOR = 1e-6

ENCODER_SCOPE = "encoder"
DECODER_SCOPE = "decoder"
INPUT_NORM_SCOPE = "input_norm"

# Summaries of the per-step losses are written every this many steps: often
# enough for smooth TensorBoard curves, rarely enough to cost nothing.
SUMMARY_EVERY = 20

# The tensors and ops of one built model, by role (not a tf.Graph: build_graph adds them to
# the default one).  model.dnf's Network has the same fields where the two models agree.
Network = collections.namedtuple("Network", [
    "config", "input_dim",
    # placeholders
    "x",          # [batch, input_dim] float32
    "input_mean", "input_std",  # [input_dim] standardisation variables (not trained)
    "spk_idx",    # [batch] int32, row of spk_means for each sample (cvae)
    "spk_means",  # [num_spk, code_dim] float32, speaker mean codes (cvae)
    # forward pass
    "mu", "sigma", "z", "x_hat",  # sigma is None for ae; z is mu for ae
    # losses (None where the model has no such term)
    "recon_loss", "kl_loss", "cohesive_loss", "total_loss",
    # training
    "train_op", "global_step", "epoch", "increment_epoch", "summary_op",
    "learning_rate",  # scalar, config.lr unless fed (model.recovery lowers it)
])


# --------------------------------------------------------------------------- losses
# Pure functions of tensors, used by the graph and testable on numpy arrays.

def reconstruction_loss(x, x_hat):
    """Squared error summed over dimensions, averaged over the batch
    (negative log-likelihood of a unit-variance Gaussian decoder, up to constants)."""
    return tf.reduce_mean(tf.reduce_sum(tf.square(x - x_hat), axis=1))


def kl_divergence(mu, sigma):
    """KL(N(mu, diag(sigma^2)) || N(0, I)) in closed form, summed over the code
    dimensions and averaged over the batch."""
    per_dim = 0.5 * (tf.square(mu) + tf.square(sigma) - 1.0) - tf.math.log(sigma)
    return tf.reduce_mean(tf.reduce_sum(per_dim, axis=1))


def cohesive_loss(mu, spk_idx, spk_means):
    """Mean over the batch of ||mu_i - m_spk(i)||^2 / code_dim, where
    ``spk_means[spk_idx[i]]`` is the mean code of sample i's speaker (held fixed, i.e. fed,
    during an epoch).

    A mean over the code's dimensions, not a sum: the mean squared error the authors' code
    computes (tf.losses.mean_squared_error of the codes against their speakers' means), so
    the paper's cohesive weight of 10 means here what it meant there, whatever the code
    dimension."""
    centres = tf.gather(spk_means, spk_idx)
    return tf.reduce_mean(tf.square(mu - centres))


# --------------------------------------------------------------------------- layers

def dense(inputs, units, name, activation=None, kernel_initializer=None):
    """Fully connected layer with variables ``<name>/kernel`` and ``<name>/bias``
    (Glorot-uniform kernel unless ``kernel_initializer`` is given)."""
    in_dim = int(inputs.shape[-1])  # static; TF 1.15 returns a Dimension
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", [in_dim, units], tf.float32,
                                 initializer=kernel_initializer or v1.glorot_uniform_initializer())
        bias = v1.get_variable("bias", [units], tf.float32,
                               initializer=v1.zeros_initializer())
        out = tf.nn.bias_add(tf.matmul(inputs, kernel), bias)
    return activation(out) if activation is not None else out


def encoder(x, hidden_dim, code_dim, with_sigma=True):
    """-> (mu, sigma); sigma is None when ``with_sigma`` is False (the ae)."""
    with v1.variable_scope(ENCODER_SCOPE):
        h = dense(x, hidden_dim, "hidden1", tf.sigmoid)
        h = dense(h, hidden_dim, "hidden2", tf.nn.elu)
        h = dense(h, hidden_dim, "hidden3", tf.tanh)
        mu = dense(h, code_dim, "mu")
        sigma = None
        if with_sigma:
            sigma = tf.nn.softplus(dense(h, code_dim, "sigma_logit")) + SIGMA_FLOOR
    return mu, sigma


def decoder(z, hidden_dim, output_dim):
    with v1.variable_scope(DECODER_SCOPE):
        h = dense(z, hidden_dim, "hidden1", tf.tanh)
        h = dense(h, hidden_dim, "hidden2", tf.sigmoid)
        return dense(h, output_dim, "output")


def model_variables(graph=None, scopes=(ENCODER_SCOPE, DECODER_SCOPE, INPUT_NORM_SCOPE)):
    """Encoder/decoder weights and the input standardisation: what ``--init-from``
    restores (Adam's slots, the step and epoch counters are left out).  ``scopes``:
    the top-level variable scopes that hold the model (model.dnf passes its own)."""
    graph = graph or v1.get_default_graph()
    return [var for var in graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
            if var.op.name.split("/")[0] in scopes
            and "Adam" not in var.op.name]


# --------------------------------------------------------------------------- graph

GraphInputs = collections.namedtuple("GraphInputs", [
    "input_dim", "x", "spk_idx", "spk_means", "global_step", "epoch", "increment_epoch",
    "input_mean", "input_std", "x_std", "learning_rate"])


def _input(default, dtype, shape, name):
    """A placeholder, taking ``default`` when it is not fed (if there is one)."""
    if default is None:
        return v1.placeholder(dtype, shape, name=name)
    return v1.placeholder_with_default(default, shape, name=name)


def graph_inputs(input_dim, config, embedding_dim, batches=None):
    """What every model's graph starts with (shared with model.dnf): checks, the
    placeholders, the step and epoch counters, and the input standardisation.
    ``embedding_dim`` is the width of the fed speaker means. With ``batches`` (a
    model.feeding.ResidentBatches), the placeholders default to its tensors: training
    feeds nothing but the batch's position, and a feed of the placeholders still wins."""
    if tf.executing_eagerly():
        raise RuntimeError("build_graph needs graph mode: call it inside "
                           "`with tf.Graph().as_default():`")
    input_dim = int(input_dim)
    if input_dim <= 0:
        raise ValueError(f"input_dim must be positive, got {input_dim}")
    if config.input_dim is not None and config.input_dim != input_dim:
        raise ValueError(f"input_dim {input_dim} differs from config.input_dim {config.input_dim}")
    config.validate()
    v1.set_random_seed(config.seed)  # graph-level seed: fixes the initial weights

    x = _input(batches and batches.x, tf.float32, [None, input_dim], "x")
    spk_idx = _input(batches and batches.spk_idx, tf.int32, [None], "spk_idx")
    spk_means = _input(batches and batches.spk_means, tf.float32, [None, embedding_dim],
                       "spk_means")

    global_step = v1.train.get_or_create_global_step()
    # Finished epochs, saved in the checkpoint so a resumed run knows where it is.
    epoch = v1.get_variable("epoch", [], tf.int64, initializer=v1.zeros_initializer(),
                            trainable=False)
    increment_epoch = v1.assign_add(epoch, 1)

    # Input standardisation is part of the model, so extraction applies exactly what
    # training saw: the training vectors' per-dimension mean and std, set once at a fresh
    # start and saved in every checkpoint.  Raw x-vectors have large offset values that
    # saturate the sigmoid first layer; unstandardised, training stalls with the
    # reconstruction error at the input variance.  The decoder reconstructs the
    # standardised vector.
    with v1.variable_scope(INPUT_NORM_SCOPE):
        input_mean = v1.get_variable("mean", [input_dim], tf.float32,
                                     initializer=v1.zeros_initializer(), trainable=False)
        input_std = v1.get_variable("std", [input_dim], tf.float32,
                                    initializer=v1.ones_initializer(), trainable=False)
    x_std = (x - input_mean) / input_std
    # Fed only when a recovery from divergence has lowered it (model.recovery).
    learning_rate = v1.placeholder_with_default(tf.constant(config.lr, tf.float32), [],
                                                name="learning_rate")
    return GraphInputs(input_dim, x, spk_idx, spk_means, global_step, epoch, increment_epoch,
                       input_mean, input_std, x_std, learning_rate)


def build_graph(input_dim, config, training=True, batches=None):
    """Build the model in the current default graph and return its ``Network``.

    ``training=False`` leaves out the optimiser (extraction needs no Adam slots);
    ``batches``: see graph_inputs.
    """
    (input_dim, x, spk_idx, spk_means, global_step, epoch, increment_epoch,
     input_mean, input_std, x_std, learning_rate) = graph_inputs(input_dim, config, config.code_dim,
                                                                 batches)

    is_ae = config.model == "ae"
    mu, sigma = encoder(x_std, config.hidden_dim, config.code_dim, with_sigma=not is_ae)
    if is_ae:
        z = mu  # deterministic code, no sampling
    else:
        # Reparameterisation z = mu + sigma * eps.  eps is drawn by a stateless
        # op seeded with (seed, global_step): a stateful RNG would restart its
        # stream when a run is resumed, so a resumed run would see different
        # noise than an uninterrupted one.  This way the noise is a function of
        # the step and resumption is exact.  (Different rows and different steps
        # still get independent noise.)
        noise_seed = tf.stack([tf.constant(config.seed, tf.int64),
                               tf.cast(global_step, tf.int64)])
        eps = tf.random.stateless_normal(tf.shape(mu), seed=noise_seed, name="eps")
        z = mu + sigma * eps
    x_hat = decoder(z, config.hidden_dim, input_dim)

    with v1.name_scope("losses"):
        recon = reconstruction_loss(x_std, x_hat)
        total = recon
        kl = coh = None
        if not is_ae:
            kl = kl_divergence(mu, sigma)
            total = total + config.kl_weight * kl
        if config.model == "cvae":
            coh = cohesive_loss(mu, spk_idx, spk_means)
            total = total + config.cohesive_weight * coh

    summaries = [v1.summary.scalar("loss/total", total),
                 v1.summary.scalar("loss/reconstruction", recon)]
    if kl is not None:
        summaries.append(v1.summary.scalar("loss/kl", kl))
    if coh is not None:
        summaries.append(v1.summary.scalar("loss/cohesive", coh))
    summary_op = v1.summary.merge(summaries)

    train_op = None
    if training:
        optimizer = v1.train.AdamOptimizer(learning_rate, beta1=config.beta1)
        weights = [var for var in model_variables() if var in v1.trainable_variables()]
        train_op = optimizer.minimize(total, global_step=global_step, var_list=weights)

    return Network(config=config, input_dim=input_dim, x=x, input_mean=input_mean,
                 input_std=input_std, spk_idx=spk_idx, spk_means=spk_means,
                 mu=mu, sigma=sigma, z=z, x_hat=x_hat, recon_loss=recon, kl_loss=kl,
                 cohesive_loss=coh, total_loss=total, train_op=train_op,
                 global_step=global_step, epoch=epoch, increment_epoch=increment_epoch,
                 summary_op=summary_op, learning_rate=learning_rate)


def loss_terms(net):
    """Ordered {name: tensor} of the loss terms this model has (for logging)."""
    terms = collections.OrderedDict([("loss", net.total_loss), ("recon", net.recon_loss)])
    if net.kl_loss is not None:
        terms["kl"] = net.kl_loss
    if net.cohesive_loss is not None:
        terms["cohesive"] = net.cohesive_loss
    return terms
