"""Restoring a model directory's newest intact checkpoint.

A run killed while the Saver wrote, or a disk that filled up, leaves the latest
checkpoint's files truncated; restoring it fails deep inside TensorFlow ("Graph
execution error"). The checkpoints kept before it are usually fine, so we fall back to
the newest one that restores, say which files were damaged, and fail (naming them all)
only when none is left.

Saving is complete or absent (save_complete): the .meta graph first, then the variables,
and only then the state file that lists the checkpoint, so a listed checkpoint always has
all its files; what a failed or killed save leaves (TensorFlow's *.tmp* and *_temp*
files) is removed, then or at the next run (remove_leftovers), and never listed.
"""
import glob
import os
import shutil
import sys

from data_utils.errors import UserError, os_error, tf_error


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
        if not os.path.isfile(prefix + ".meta"):   # a save that never finished
            damaged.append(prefix + ".meta (missing)")
            continue
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


def _partial_files(prefix):
    """The files a save of checkpoint `prefix` (model.ckpt-N) leaves when it fails or is
    killed: TensorFlow's temp files and dirs (<prefix>.meta.tmp..., <prefix>_temp/...)."""
    base = glob.escape(prefix)
    return sorted(set(glob.glob(base + "*.tmp*") + glob.glob(base + "_temp*")))


def remove_leftovers(model_dir, prefix_name):
    """Remove what interrupted saves left in model_dir: never listed, never trusted, but
    they hold disk space and look like checkpoints."""
    for path in _partial_files(os.path.join(model_dir, prefix_name)):
        _remove(path)


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def save_complete(tf, saver, sess, prefix, step):
    """Save checkpoint <prefix>-<step> complete or not at all (see the module's doc).
    A failure (a full disk: TensorFlow's ResourceExhaustedError) is a UserError naming the
    file, after the partial files are removed; the checkpoints saved before stay listed."""
    path = f"{prefix}-{step}"
    try:
        saver.export_meta_graph(path + ".meta")
        saver.save(sess, prefix, global_step=step, write_meta_graph=False)
    except (tf.errors.OpError, OSError, RuntimeError, ValueError) as exc:
        state = tf.train.get_checkpoint_state(os.path.dirname(path) or ".")
        listed = state is not None and os.path.basename(state.model_checkpoint_path) == os.path.basename(path)
        if not listed:
            for partial in _partial_files(path) + glob.glob(glob.escape(path) + ".*"):
                _remove(partial)
        error = os_error(exc, path) if isinstance(exc, OSError) else tf_error(exc)
        raise error from None
    return path
