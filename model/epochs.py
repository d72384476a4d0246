"""The epoch loop of model.train: speaker means, shuffled batches, progress lines, the
divergence check and the checkpoints a run saves.

``built`` below is model.train's TrainingGraph: the model's tensors (``net``, a model.vae or
model.dnf Network), its graph module, the Saver and the logged loss terms.
"""
import os
import time

import numpy as np

from model.checkpoints import save_complete
from model.config import SPEAKER_MEAN_MODELS, save_config
from model.recovery import Diverged, Snapshot, lr_scale, recover

CHECKPOINT_PREFIX = "model.ckpt"
EVAL_BATCH = 1024         # batch for the forward passes that compute speaker means
# A progress line within an epoch this often: one epoch of 1.2M vectors takes about 15 min.
PROGRESS_SECONDS = 60.0
# Divergence: an epoch's mean loss over this many times the lowest loss of the run.
DIVERGENCE_GROWTH = 10.0
DIVERGENCE_FLOOR = 100.0


def speaker_means(sess, net, vectors, spk_index, num_spk):
    """Mean code mu(x) per speaker over the whole training set, with the current
    weights (the paper recomputes these at the start of every epoch).  Sums are
    accumulated batch by batch so the codes of all utterances are never held.

    Each speaker's whole mean vector is its centre, as in the authors' code: their
    update_table indexes the table with spk_list[i], an array of shape (1,) (data/label.py
    saves the labels as spk.reshape(-1, 1)), so ``spk_table[spk_list[i]][0]`` is the
    speaker's whole row of means, computed from mu of the whole training set with the
    weights at the start of the epoch."""
    sums = np.zeros((num_spk, int(net.mu.shape[-1])), np.float64)
    for start in range(0, vectors.shape[0], EVAL_BATCH):
        mu = sess.run(net.mu, {net.x: vectors[start:start + EVAL_BATCH]})
        np.add.at(sums, spk_index[start:start + EVAL_BATCH], mu)
    counts = np.bincount(spk_index, minlength=num_spk).astype(np.float64)
    # Labels without utterances keep a zero mean; no sample ever refers to them.
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def diverged(loss, lowest):
    """True when an epoch's mean loss has risen above the run's lowest by more than
    10 times the size of that lowest loss (or of 100, whichever is larger).

    The reconstruction and KL terms are sums over dimensions (squared error of standardised
    inputs, KL in nats), as is the flow's negative log-likelihood, so an untrained model's
    first batch costs about the input dimension, and a sane run's epoch losses stay within
    a few times of the lowest one seen. ``lowest`` is the lowest of the run's first batch
    loss and its earlier epochs' means. Measured on the flow (2,000 x 512 vectors near a
    48-dim manifold, log-scale bound 1): a blow-up from 638 to 39,460 (62-fold) left the
    model ruined (2,123 eight epochs later) and went unnoticed under the earlier rule of
    1000-fold; 10-fold catches it. The floor of 100 keeps a near-perfect fit (an
    auto-encoder's loss near 0) or a log-likelihood near 0 from turning ordinary noise into
    "divergence"; measuring the rise against |lowest| keeps the rule meaningful for a loss
    that can be negative (a log-likelihood).
    """
    return loss - lowest > DIVERGENCE_GROWTH * max(abs(lowest), DIVERGENCE_FLOOR)


def epoch_order(seed, epoch, n):
    """Shuffling of one epoch; a function of (seed, epoch) only, so a resumed
    run visits the samples in the same order as an uninterrupted one."""
    return np.random.RandomState([seed, epoch]).permutation(n)


def scalar_summary(tf, values, prefix):
    summary = tf.compat.v1.Summary()
    for name, value in values.items():
        summary.value.add(tag=f"{prefix}/{name}", simple_value=float(value))
    return summary


def save_checkpoint(built, sess, model_dir, step):
    # Complete or absent: a full disk or a kill mid-save leaves no checkpoint a rerun trusts.
    import tensorflow as tf
    save_complete(tf, built.saver, sess, os.path.join(model_dir, CHECKPOINT_PREFIX), step)


def run_epoch(sess, built, data, batch_size, order, step, writer, model_dir, epoch, lr=None):
    """One pass (``epoch``, counted from 0) over the training set in ``order`` (the batches
    are taken where the graph reads them: built.feeder, model.feeding); ``lr`` is fed when a
    recovery has lowered it (model.recovery).  Returns
    (step, {term: mean over the epoch}, the loss of the epoch's first batch, before its
    update)."""
    net, n = built.net, data.num_vectors
    sums = dict.fromkeys(built.terms, 0.0)
    first_loss = None
    epoch_start = last_line = time.time()
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        fetches = {"train": net.train_op, "terms": built.terms}
        if step % built.module.SUMMARY_EVERY == 0:
            fetches["summary"] = net.summary_op
        feed = built.feeder.batch_feed(sess, start, len(rows))
        if lr is not None:
            feed[net.learning_rate] = lr
        out = sess.run(fetches, feed)
        step += 1
        loss = out["terms"]["loss"]
        if first_loss is None:
            first_loss = float(loss)
        if not np.isfinite(loss):
            raise Diverged(model_dir, f"training diverged (loss {loss}) at epoch {epoch + 1}, "
                                       f"step {step}")
        if "summary" in out:
            writer.add_summary(out["summary"], step)
        for name, value in out["terms"].items():
            sums[name] += float(value) * len(rows)
        now = time.time()
        if now - last_line >= PROGRESS_SECONDS:
            seen = start + len(rows)
            print(f"epoch {epoch + 1}: step {step}, {seen}/{n} vectors ({100.0 * seen / n:.0f}%), "
                  f"loss so far {sums['loss'] / seen:.6g}, "
                  f"samples/s {seen / max(now - epoch_start, 1e-9):.1f}", flush=True)
            last_line = now
    return step, {name: total / n for name, total in sums.items()}, first_loss


def run_epochs(tf, sess, built, data, training, done, step, writer, model_dir):
    """Train from epoch ``done`` to training["epochs"]: speaker means (for the models that
    use them), the shuffled batches, a progress line and TensorBoard scalars per epoch, the
    divergence check, a checkpoint every save_every epochs and at the end.  A diverged epoch
    goes back to the last good checkpoint at half the learning rate (model.recovery).
    Returns the step."""
    epochs = training["epochs"]
    fed_means = built.net.config.model in SPEAKER_MEAN_MODELS
    variables = built.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    last_good = Snapshot(sess, variables)   # the run's start: a restored or initialised model
    start_time = time.time()
    lowest = None   # lowest loss of this run, for the divergence check
    built.feeder.start_training(sess, data.vectors, data.spk_index if fed_means else None)
    epoch = done
    while epoch < epochs:
        scale = lr_scale(training)
        lr = None if scale == 1.0 else built.net.config.lr * scale
        try:
            step, lowest = train_epoch(tf, sess, built, data, training, epoch, step, writer,
                                       model_dir, fed_means, lr, lowest, start_time)
        except Diverged as error:
            training = recover(error, sess, last_good, training,
                               lambda new: save_config(model_dir, built.net.config, new),
                               "model.train")
            step, epoch = (int(v) for v in sess.run([built.net.global_step, built.net.epoch]))
            continue
        epoch += 1
        if epoch % training["save_every"] == 0 or epoch == epochs:
            save_checkpoint(built, sess, model_dir, step)
            last_good = Snapshot(sess, variables)
    return step


def train_epoch(tf, sess, built, data, training, epoch, step, writer, model_dir, fed_means,
                lr, lowest, start_time):
    """One epoch with its progress line and divergence check (raises Diverged).
    Returns (step, the run's lowest loss so far)."""
    n, epochs = data.num_vectors, training["epochs"]
    means = (speaker_means(sess, built.net, data.vectors, data.spk_index,
                           data.spk_labels.shape[0]) if fed_means else None)
    order = epoch_order(built.net.config.seed, epoch, n)
    built.feeder.start_epoch(sess, order, means)
    epoch_start = time.time()
    step, epoch_means, first_loss = run_epoch(
        sess, built, data, training["batch_size"], order, step,
        writer, model_dir, epoch, lr)
    if lowest is None:   # the run's first batch loss, before any update
        lowest = first_loss
    sess.run(built.net.increment_epoch)
    train_time = time.time() - epoch_start
    print(f"epoch {epoch + 1}/{epochs} step {step} "
          + " ".join(f"{name} {value:.6g}" for name, value in epoch_means.items())
          + f" samples/s {n / max(train_time, 1e-9):.1f}"
          + f" elapsed {time.time() - start_time:.1f}s", flush=True)
    writer.add_summary(scalar_summary(tf, epoch_means, "epoch"), step)
    writer.flush()
    if diverged(epoch_means["loss"], lowest):   # before this epoch is saved
        raise Diverged(model_dir, f"training diverged: epoch {epoch + 1} loss "
                       f"{epoch_means['loss']:.3g} grew over {DIVERGENCE_GROWTH:g}-fold "
                       f"from the run's lowest ({lowest:.3g})")
    return step, min(lowest, epoch_means["loss"])
