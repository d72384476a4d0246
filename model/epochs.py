"""The epoch loop of model.train: speaker means, shuffled batches, progress lines, the
divergence check and the checkpoints a run saves.

``built`` below is model.train's TrainingGraph: the model's tensors (``net``, a model.vae or
model.dnf Network), its graph module, the Saver and the logged loss terms.
"""
import os
import time

import numpy as np

from data_utils.errors import UserError
from model.config import SPEAKER_MEAN_MODELS

CHECKPOINT_PREFIX = "model.ckpt"
EVAL_BATCH = 1024         # batch for the forward passes that compute speaker means
# A progress line within an epoch this often: one epoch of 1.2M vectors takes about 15 min.
PROGRESS_SECONDS = 60.0
# Divergence: an epoch's mean loss over this many times the lowest loss of the run.
DIVERGENCE_GROWTH = 1e3
DIVERGENCE_FLOOR = 1.0


def speaker_means(sess, net, vectors, spk_index, num_spk):
    """Mean code mu(x) per speaker over the whole training set, with the current
    weights (the paper recomputes these at the start of every epoch).  Sums are
    accumulated batch by batch so the codes of all utterances are never held.

    Each speaker's whole mean vector is its centre.  The authors' code, filling its table
    of centres, kept only the first dimension of each speaker's mean (``[0]``) and pulled
    every dimension of every code towards that one number; that is a bug, not the
    paper's method, and is not reproduced here."""
    sums = np.zeros((num_spk, int(net.mu.shape[-1])), np.float64)
    for start in range(0, vectors.shape[0], EVAL_BATCH):
        mu = sess.run(net.mu, {net.x: vectors[start:start + EVAL_BATCH]})
        np.add.at(sums, spk_index[start:start + EVAL_BATCH], mu)
    counts = np.bincount(spk_index, minlength=num_spk).astype(np.float64)
    # Labels without utterances keep a zero mean; no sample ever refers to them.
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def diverged(loss, lowest):
    """True when an epoch's mean loss has risen above the run's lowest by more than
    1000 times the size of that lowest loss: growth by three orders of magnitude.

    The reconstruction and KL terms are sums over dimensions (squared error of standardised
    inputs, KL in nats), so an untrained model's first batch costs about the input
    dimension, and a sane run's epoch losses stay within a few times of the
    lowest one seen. ``lowest`` is the lowest of the run's first batch loss and its earlier
    epochs' means. The floor of 1 keeps a near-perfect fit (an auto-encoder's loss near 0)
    from turning ordinary noise into "divergence"; measuring the rise against |lowest|
    keeps the rule meaningful for a loss that can be negative (a log-likelihood).
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
    built.saver.save(sess, os.path.join(model_dir, CHECKPOINT_PREFIX), global_step=step)


def run_epoch(sess, built, data, batch_size, order, step, writer, model_dir, epoch):
    """One pass (``epoch``, counted from 0) over the training set in ``order`` (the batches
    are taken where the graph reads them: built.feeder, model.feeding).  Returns
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
        out = sess.run(fetches, built.feeder.batch_feed(sess, start, len(rows)))
        step += 1
        loss = out["terms"]["loss"]
        if first_loss is None:
            first_loss = float(loss)
        if not np.isfinite(loss):
            raise UserError(model_dir, f"training diverged (loss {loss}) at epoch {epoch + 1}, "
                                       f"step {step}; try a lower --lr")
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
    divergence check, a checkpoint every save_every epochs and at the end.  Returns the step."""
    epochs, seed, n = training["epochs"], built.net.config.seed, data.num_vectors
    fed_means = built.net.config.model in SPEAKER_MEAN_MODELS
    start_time = time.time()
    lowest = None   # lowest loss of this run, for the divergence check
    built.feeder.start_training(sess, data.vectors, data.spk_index if fed_means else None)
    for epoch in range(done, epochs):
        means = (speaker_means(sess, built.net, data.vectors, data.spk_index,
                               data.spk_labels.shape[0]) if fed_means else None)
        order = epoch_order(seed, epoch, n)
        built.feeder.start_epoch(sess, order, means)
        epoch_start = time.time()
        step, epoch_means, first_loss = run_epoch(
            sess, built, data, training["batch_size"], order, step,
            writer, model_dir, epoch)
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
            raise UserError(model_dir, f"training diverged: epoch {epoch + 1} loss "
                            f"{epoch_means['loss']:.3g} grew over {DIVERGENCE_GROWTH:g}-fold "
                            f"from the run's lowest ({lowest:.3g}); try a lower --lr")
        lowest = min(lowest, epoch_means["loss"])
        if (epoch + 1) % training["save_every"] == 0 or epoch + 1 == epochs:
            save_checkpoint(built, sess, model_dir, step)
    return step
