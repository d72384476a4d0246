"""Restoring a model directory's newest intact checkpoint.

A run killed while the Saver wrote, or a disk that filled up, leaves the latest
checkpoint's files truncated; restoring it fails deep inside TensorFlow ("Graph
execution error"). The checkpoints kept before it are usually fine, so we fall back to
the newest one that restores, say which files were damaged, and fail (naming them all)
only when none is left.
"""
import glob
import os
import sys

from data_utils.errors import UserError


def _listed_checkpoints(tf, model_dir):
    """Checkpoint prefixes the state file lists, newest first, as paths from here."""
    try:
        state = tf.train.get_checkpoint_state(model_dir)
    except (tf.errors.OpError, ValueError) as exc:   # the 'checkpoint' text file itself
        raise UserError(os.path.join(model_dir, "checkpoint"),
                        f"cannot parse: {str(exc).splitlines()[0]}") from None
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    # TensorFlow has already put model_dir in front of the relative paths the state file
    # holds; joining it again would give exp/vae/exp/vae/... for a relative model_dir.
    return list(reversed(paths))


def damaged_files(tf, prefix):
    """Which files of one checkpoint fail to read: its .index, else its .data-* shards."""
    index = prefix + ".index"
    if not os.path.isfile(index):
        return [index + " (missing)"]
    # The reader maps TensorFlow's status codes to assorted Python exceptions (OpError,
    # ValueError, IndexError for a short read...): any of them means the file is unreadable.
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception:  # noqa: BLE001
        return [index]
    data = sorted(glob.glob(glob.escape(prefix) + ".data-*")) or [prefix + ".data-* (missing)"]
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception:  # noqa: BLE001  (as above)
        return data
    return [prefix + ".* (readable, but not restorable into this model)"]


def restore_newest_intact(tf, saver, sess, model_dir, prog):
    """Restore the newest checkpoint of model_dir that reads back.

    Returns (restored prefix, the intact prefixes oldest first), or (None, []) when the
    directory lists no checkpoint. Each damaged one passed over is a WARNING line on
    stderr naming its files; if every one is damaged, a UserError names them all.
    """
    damaged = []
    candidates = _listed_checkpoints(tf, model_dir)
    for i, prefix in enumerate(candidates):
        try:
            saver.restore(sess, prefix)
        except (tf.errors.OpError, ValueError):
            damaged.append(", ".join(damaged_files(tf, prefix)))
            continue
        for files in damaged:
            print(f"WARNING ({prog}): {files}: damaged (truncated or corrupt); using the newest "
                  f"intact checkpoint, {os.path.basename(prefix)}", file=sys.stderr, flush=True)
        return prefix, list(reversed(candidates[i:]))
    if damaged:
        raise UserError(model_dir, "no intact checkpoint; damaged (truncated or corrupt): "
                        + "; ".join(damaged))
    return None, []
