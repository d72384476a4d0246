"""Train a v-vector (vae), c-vector (cvae) or a-vector (ae) model.

    python -m model.train --train-npz data.npz --model-dir exp/vae [--model vae|cvae|ae]
        [--epochs N] [--batch-size B] [--hidden-dim H] [--code-dim C] [--lr LR]
        [--beta1 B1] [--kl-weight W] [--cohesive-weight W] [--seed S]
        [--init-from DIR] [--save-every N] [--num-threads N]

Re-running with the same --model-dir resumes from the latest checkpoint (same
global step and epoch, same shuffling), so ``--epochs`` can be raised to train
further.  Options left out on a re-run are taken from the model's config.json.
A cvae is normally started with ``--init-from`` a trained vae directory.
"""
import argparse
import collections
import os
import sys

# Must precede the first TensorFlow import (done lazily, after input checks).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from model.checkpoints import remove_leftovers, restore_newest_intact
from data_utils.errors import UserError, run_main, tf_error
from data_utils.npz_io import load_npz
from model.cli import device_description, import_tensorflow, session_config
from model.config import (MODEL_TYPES, SPEAKER_MEAN_MODELS, ModelConfig, config_path,
                          graph_module, load_config, save_config)
from model.data import column_mean_std
from model.epochs import CHECKPOINT_PREFIX, run_epochs, save_checkpoint
from model.feeding import ResidentBatches

PROG = "model.train"
KEEP_CHECKPOINTS = 3      # a paper-size checkpoint with Adam slots is ~150 MB

# The recipe's values too (train.sh): ~560 steps in batches of 64 keep the demo within its
# time budget (README, "What differs from the paper").
TRAINING_DEFAULTS = {"epochs": 3, "batch_size": 64, "save_every": 5}
MODEL_OPTIONS = ("model", "hidden_dim", "code_dim", "lr", "beta1",
                 "kl_weight", "cohesive_weight", "flow_layers", "seed")


_DEFAULT = ModelConfig()      # --help states the defaults the code uses


def _int_at_least(low):
    def parse(text):
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--train-npz", required=True, help="training set (.npz from data_utils)")
    p.add_argument("--model-dir", required=True, help="checkpoints, config.json and tb/ go here")
    p.add_argument("--model", choices=MODEL_TYPES, help="default: vae (or the existing model's)")
    # Defaults of None mean "from the existing config.json, else the built-in default".
    p.add_argument("--epochs", type=_int_at_least(0), help=f"total epochs (default {TRAINING_DEFAULTS['epochs']})")
    p.add_argument("--batch-size", type=_int_at_least(1), help=f"default {TRAINING_DEFAULTS['batch_size']}")
    p.add_argument("--hidden-dim", type=_int_at_least(1), help=f"default {_DEFAULT.hidden_dim}")
    p.add_argument("--code-dim", type=_int_at_least(1), help=f"default {_DEFAULT.code_dim}")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {_DEFAULT.lr:g})")
    p.add_argument("--beta1", type=float, help=f"Adam beta1 (default {_DEFAULT.beta1:g})")
    p.add_argument("--kl-weight", type=float, help=f"weight of the KL term (default {_DEFAULT.kl_weight:g})")
    p.add_argument("--cohesive-weight", type=float, help="cvae: weight of the cohesive loss, the mean squared distance of a code to its "
                   f"speaker's mean code (paper: 10; default {_DEFAULT.cohesive_weight:g})")
    p.add_argument("--flow-layers", type=_int_at_least(1), help=f"dnf: affine coupling layers (default {_DEFAULT.flow_layers})")
    p.add_argument("--seed", type=_int_at_least(0), help=f"default {_DEFAULT.seed}")
    p.add_argument("--init-from", metavar="DIR",
                   help="start from the encoder/decoder weights of this model directory")
    p.add_argument("--save-every", type=_int_at_least(1),
                   help=f"checkpoint every N epochs (default {TRAINING_DEFAULTS['save_every']}); always at the end")
    p.add_argument("--num-threads", type=_int_at_least(0), default=0,
                   help="intra/inter-op threads (default 0 = TensorFlow's choice)")
    return p.parse_args(argv)


def has_checkpoint(model_dir):
    """Cheap check (no TensorFlow) for the Saver's checkpoint state file."""
    return os.path.isfile(os.path.join(model_dir, "checkpoint"))


def resolve_settings(args, input_dim):
    """Merge the command line with an existing config.json.

    Returns (ModelConfig, training dict, existing: bool).  Refuses a change of
    architecture; other changes are allowed and reported.
    """
    cfg_file = config_path(args.model_dir)
    old_cfg, old_training = (load_config(args.model_dir) if os.path.exists(cfg_file)
                             else (None, {}))
    if old_cfg is None and has_checkpoint(args.model_dir):
        raise UserError(cfg_file, "missing, but the directory holds checkpoints")

    values = (old_cfg or ModelConfig()).to_dict()
    values.update({name: getattr(args, name) for name in MODEL_OPTIONS
                   if getattr(args, name) is not None})
    values["input_dim"] = input_dim
    try:
        config = ModelConfig.from_dict(values)
    except ValueError as exc:
        raise UserError("command line", str(exc)) from None

    training = dict(TRAINING_DEFAULTS)
    training.update(old_training)
    training.update({name: getattr(args, name) for name in TRAINING_DEFAULTS
                     if getattr(args, name) is not None})

    if old_cfg is not None:
        diffs = old_cfg.architecture_differences(config)
        if diffs:
            raise UserError(cfg_file, "architecture differs from the existing model ("
                            + ", ".join(diffs) + "); use a new --model-dir")
        old_all = {**old_cfg.to_dict(), **old_training}
        for name, value in {**config.to_dict(), **training}.items():
            if name in old_all and old_all[name] != value:
                print(f"note: {name} changed from {old_all[name]!r} to {value!r}", flush=True)
    return config, training, old_cfg is not None


def check_init_source(init_dir, config):
    """Pre-TensorFlow check that --init-from holds a compatible model."""
    src, _ = load_config(init_dir)
    for name in ("input_dim", "hidden_dim", "code_dim"):
        if getattr(src, name) != getattr(config, name):
            raise UserError(init_dir, f"cannot initialise from this model: {name} "
                                      f"{getattr(src, name)} != {getattr(config, name)}")
    if src.model == "ae" and config.model != "ae":
        raise UserError(init_dir, f"cannot initialise a {config.model} from an ae (no sigma head)")
    if not has_checkpoint(init_dir):
        raise UserError(init_dir, "no checkpoint found")


def restore_init_from(tf, sess, init_dir, variables):
    """Restore the encoder/decoder weights (not Adam slots, global step or epoch)."""
    latest = tf.train.latest_checkpoint(init_dir)
    if latest is None:
        raise UserError(init_dir, "no checkpoint found")
    shapes = tf.train.load_checkpoint(latest).get_variable_to_shape_map()
    for var in variables:
        name = var.op.name
        if name not in shapes:
            raise UserError(latest, f"has no variable {name}")
        if list(shapes[name]) != var.shape.as_list():
            raise UserError(latest, f"variable {name} has shape {shapes[name]}, "
                                    f"expected {var.shape.as_list()}")
    tf.compat.v1.train.Saver(var_list=variables).restore(sess, latest)
    return latest


# The training graph: the model's tensors (model.vae / model.dnf Network), its module, the
# Saver, the variables' initialiser and the {name: tensor} loss terms the progress lines show.
# ``feeder`` (model.feeding) keeps the training set where the graph reads it.
TrainingGraph = collections.namedtuple("TrainingGraph", "graph net module saver init terms feeder")


def build_training_graph(tf, config, data, batch_size):
    """Build the model of ``config`` with its optimiser, fed from ``data``'s rows kept on the
    training device, in a graph of its own."""
    module = graph_module(config.model)  # model.vae or model.dnf; imports TensorFlow
    graph = tf.Graph()
    with graph.as_default():
        speakers = config.model in SPEAKER_MEAN_MODELS
        feeder = ResidentBatches(
            tf, data.num_vectors, data.dim, batch_size,
            num_spk=data.spk_labels.shape[0] if speakers else None,
            means_dim=(data.dim if config.model == "dnf" else config.code_dim) if speakers else None)
        net = module.build_graph(data.dim, config, batches=feeder)
        saver = tf.compat.v1.train.Saver(max_to_keep=KEEP_CHECKPOINTS, save_relative_paths=True)
        init = tf.compat.v1.global_variables_initializer()
        terms = module.loss_terms(net)
    return TrainingGraph(graph, net, module, saver, init, terms, feeder)


def restore_or_initialise(tf, sess, built, args, data):
    """Resume from the model directory's newest intact checkpoint, else initialise: fresh
    weights, the training data's standardisation, then any --init-from weights.
    Returns (the restored checkpoint or None, a phrase saying where the weights came from)."""
    remove_leftovers(args.model_dir, CHECKPOINT_PREFIX)   # of a save killed last time
    latest, kept = restore_newest_intact(tf, built.saver, sess, args.model_dir, PROG)
    if latest is not None:
        # A new Saver knows nothing of older files; hand it the list so
        # max_to_keep also prunes the checkpoints of earlier runs.
        built.saver.recover_last_checkpoints(kept)
        if args.init_from:
            print(f"note: ignoring --init-from {args.init_from}: resuming {args.model_dir}", flush=True)
        return latest, f"resumed from {os.path.basename(latest)}"
    sess.run(built.init)
    # Standardisation from the training data (an --init-from below overrides it
    # with the source model's, so a cvae sees its vae's input space).
    mean, std = column_mean_std(data.vectors)
    built.net.input_mean.load(mean, sess)
    built.net.input_std.load(np.where(std > 1e-6, std, 1.0), sess)
    if built.net.config.model == "cvae" and not args.init_from:
        print("note: cvae without --init-from starts from random weights "
              "(the paper initialises it from a trained vae)", flush=True)
    if args.init_from:
        variables = built.module.model_variables(built.graph)
        return None, f"initialised from {restore_init_from(tf, sess, args.init_from, variables)}"
    return None, "fresh start"


def train(args, data, config, training):
    """Build the graph, restore or initialise, run the epochs.  Returns exit status."""
    tf = import_tensorflow()
    model_dir, epochs = args.model_dir, training["epochs"]
    built = build_training_graph(tf, config, data, training["batch_size"])
    with built.graph.as_default():
        sess = tf.compat.v1.Session(graph=built.graph, config=session_config(tf, args.num_threads))
        writer = None
        finished = False   # the run ended as it should (its writer may still fail to close)
        try:
            latest, origin = restore_or_initialise(tf, sess, built, args, data)
            built.graph.finalize()  # nothing below may add ops (a classic TF1 memory leak)

            step, done = (int(v) for v in sess.run([built.net.global_step, built.net.epoch]))
            if latest is not None and done >= epochs:
                print(f"{PROG}: {model_dir} already trained for {done} epochs "
                      f"(--epochs {epochs}); nothing to do", flush=True)
                finished = True
                return 0

            if latest is None:  # provenance of the starting weights
                training = dict(training, init_from=args.init_from)
            save_config(model_dir, config, training)
            writer = tf.compat.v1.summary.FileWriter(os.path.join(model_dir, "tb"),
                                                     graph=built.graph if latest is None else None)
            print(f"{PROG}: {config.model}, {data.num_vectors} vectors x {data.dim} dims, "
                  f"{-(-data.num_vectors // training['batch_size'])} steps/epoch, "
                  f"epoch {done}/{epochs}, step {step}, {origin}", flush=True)
            print(f"{PROG}: training on {device_description(tf)}", flush=True)
            step = run_epochs(tf, sess, built, data, training, done, step, writer, model_dir)
            if latest is None and done >= epochs:
                # --epochs 0 on a fresh directory: keep the initialised model
                # (e.g. a cvae straight after --init-from).
                save_checkpoint(built, sess, model_dir, step)
            finished = True
            print(f"{PROG}: done, {epochs} epochs, step {step}, checkpoints in {model_dir}", flush=True)
            return 0
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted; run the same command again to resume from the "
                  f"last checkpoint", file=sys.stderr, flush=True)
            return 130
        except RuntimeError as exc:
            # The TensorBoard writer's thread hands back its I/O errors (a full disk) so.
            if "tfevents" not in str(exc):
                raise
            writer = None   # closing it would raise the same error again
            raise tf_error(exc) from None
        finally:
            if writer is not None:
                try:
                    writer.close()
                except RuntimeError as exc:
                    if finished:   # else the error on its way out says more; let it pass
                        raise tf_error(exc) from None
            sess.close()


def run(args):
    if os.path.exists(args.model_dir) and not os.path.isdir(args.model_dir):
        raise UserError(args.model_dir, "exists and is not a directory")
    # The model type decides which arrays are needed, and may come from config.json.
    model_type = args.model
    if model_type is None and os.path.exists(config_path(args.model_dir)):
        model_type = load_config(args.model_dir)[0].model
    # Vectors left on disk, each batch read from the file: a VoxCeleb-size set (1.2M x 512)
    # trains without a copy in memory.
    data = load_npz(args.train_npz, need_speakers=(model_type in SPEAKER_MEAN_MODELS),
                    load_utt_ids=False, on_disk=True)
    config, training, _ = resolve_settings(args, data.dim)
    if args.init_from and not has_checkpoint(args.model_dir):
        check_init_source(args.init_from, config)
    try:
        os.makedirs(args.model_dir, exist_ok=True)
    except OSError as exc:
        raise UserError(args.model_dir, f"cannot create directory: {exc.strerror}") from None
    return train(args, data, config, training)


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    run_main(PROG, main)
