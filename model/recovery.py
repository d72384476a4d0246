"""Recovery from a diverged epoch, for every model: back to the last good checkpoint, at half
the learning rate, and on; the error only after MAX_RECOVERIES recoveries have failed.

The last good checkpoint is kept in memory as well as on disk (``Snapshot``): the values of
every variable (weights, Adam's slots, the step and epoch counters) at the run's start and
at each checkpoint it saves.  Going back to it needs no new op in the finalised graph, and
works before the first checkpoint of a fresh run too (the start is then the initialised
model).  A snapshot holds what the disk checkpoint holds, so a run killed after a recovery
and resumed continues exactly as the uninterrupted run would: the halved learning rate is
stored in config.json (training section, ``lr_scale``) when the recovery is made.
"""
import sys

from data_utils.errors import UserError

# Recoveries a model directory may use (each halves the learning rate) before a
# divergence is an error: a rate 8 times lower that still diverges is not a step-size problem.
MAX_RECOVERIES = 3
LR_FACTOR = 0.5


class Diverged(UserError):
    """An epoch (or a batch) whose loss diverged; the message says which and by how much."""


def lr_scale(training):
    """The factor on the configured learning rate after this directory's recoveries."""
    return float(training.get("lr_scale", 1.0))


class Snapshot:
    """The values of a session's global variables at one moment (a checkpoint in memory)."""

    def __init__(self, sess, variables):
        self.variables = list(variables)
        self.values = sess.run(self.variables)

    def restore(self, sess):
        # Variable.load feeds the value into the variable's initialiser op: no new op in
        # the (finalised) graph.
        for var, value in zip(self.variables, self.values):
            var.load(value, sess)


def recover(error, sess, snapshot, training, save_training, prog):
    """Handle one divergence: the error itself once MAX_RECOVERIES are used up, else restore
    ``snapshot``, halve the learning rate (stored through ``save_training``) and say so in one
    line.  Returns the new training dict."""
    used = int(training.get("recoveries", 0))
    if used >= MAX_RECOVERIES:
        raise UserError(f"{error}; try a lower --lr (after {used} recoveries at halved "
                        f"learning rates, lr x{lr_scale(training):g})") from None
    snapshot.restore(sess)
    training = dict(training, recoveries=used + 1, lr_scale=lr_scale(training) * LR_FACTOR)
    save_training(training)
    print(f"WARNING ({prog}): {error}; recovery {used + 1}/{MAX_RECOVERIES}: back to the last "
          f"good checkpoint, learning rate x{training['lr_scale']:g}", file=sys.stderr, flush=True)
    return training
