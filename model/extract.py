"""Extract embeddings (the code mean mu(x)) with a trained model.

    python -m model.extract --model-dir DIR --input RSPECIFIER --output WSPECIFIER
        [--input ... --output ...] [--batch-size B] [--num-threads N]
    python -m model.extract --model-dir DIR --input-npz in.npz
        [--output ark,scp:out.ark,out.scp] [--output-npz out.npz]

Vectors are written in the input order, keyed by the input's utterance ids.
``--input`` takes any Kaldi rspecifier (``scp:x.scp``, ``ark:x.ark``, ``ark:cmd |``):
it is read record by record and embedded batch by batch, and the output goes out as it
is computed, so memory stays bounded by the batch whatever the table's size.
``--input-npz`` reads an .npz from data_utils instead.  Inputs may be repeated, each
with its own --output (and/or --output-npz), so one process (one TensorFlow start-up)
embeds a training set and every evaluation set.  ``--output`` takes a Kaldi wspecifier
(written by data_utils.kaldi_table); ``--output-npz`` writes ``vectors`` and
``utt_ids`` and passes ``spk_index`` / ``spk_labels`` through when the input has them.
Each output is written atomically: it appears complete or not at all.  Progress goes
to stderr, a line every few seconds and one per input.
"""
import argparse
import contextlib
import os
import sys
import time

# Must precede the first TensorFlow import (done lazily, after input checks).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from data_utils import kaldi_table as kt
from data_utils.errors import UserError, run_main
from data_utils.kaldi_streams import describe
from data_utils.npz_io import load_npz, write_npz
from model.checkpoints import restore_newest_intact
from model.cli import import_tensorflow, session_config
from model.config import config_path, graph_module, load_config

PROG = "model.extract"
PROGRESS_SECONDS = 5.0   # a progress line at most this often (and one per input)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m model.extract", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True, help="trained model directory (config.json + checkpoints)")
    # Both kinds of input go to one list, so they pair with the outputs in command-line order.
    p.add_argument("--input", dest="inputs", action="append", metavar="RSPECIFIER",
                   type=lambda text: ("table", text),
                   help="vectors to embed, any Kaldi rspecifier (scp:, ark:, pipes); repeatable")
    p.add_argument("--input-npz", dest="inputs", action="append", metavar="FILE",
                   type=lambda text: ("npz", text),
                   help="vectors to embed (.npz from data_utils); repeatable")
    p.add_argument("--output", metavar="WSPECIFIER", action="append",
                   help="Kaldi wspecifier, e.g. ark,scp:out.ark,out.scp; one per input")
    p.add_argument("--output-npz", metavar="FILE", action="append",
                   help="write an .npz with vectors and utt_ids; one per input")
    p.add_argument("--batch-size", type=int, default=1024, help="forward-pass batch (default 1024)")
    p.add_argument("--num-threads", type=int, default=0,
                   help="intra/inter-op threads (default 0 = TensorFlow's choice)")
    args = p.parse_args(argv)
    if not args.inputs:
        p.error("give --input and/or --input-npz")
    if args.output is None and args.output_npz is None:
        p.error("give --output and/or --output-npz")
    for name in ("output", "output_npz"):
        given = getattr(args, name)
        if given is not None and len(given) != len(args.inputs):
            p.error(f"--{name.replace('_', '-')} given {len(given)} times for "
                    f"{len(args.inputs)} inputs")
    # One job per input: ((kind, input), wspecifier or None, npz output or None).
    args.jobs = list(zip(args.inputs, args.output or [None] * len(args.inputs),
                         args.output_npz or [None] * len(args.inputs)))
    if args.batch_size < 1 or args.num_threads < 0:
        p.error("--batch-size must be >= 1 and --num-threads >= 0")
    return args


class Model:
    """A restored model in its own graph and session: ``model(batch)`` is mu(batch)."""

    def __init__(self, model_dir, config, num_threads=0):
        tf = import_tensorflow()
        vae = graph_module(config.model)  # model.vae or model.dnf; imports TensorFlow
        v1 = tf.compat.v1
        graph = tf.Graph()
        with graph.as_default():
            self.net = vae.build_graph(config.input_dim, config, training=False)
            # Only the network weights are needed; Adam's slots are not in this graph.
            saver = v1.train.Saver(var_list=vae.model_variables(graph))
        self.sess = v1.Session(graph=graph, config=session_config(tf, num_threads))
        try:
            with graph.as_default():
                restored, _ = restore_newest_intact(tf, saver, self.sess, model_dir, PROG)
        except UserError:
            self.sess.close()
            raise
        if restored is None:
            self.sess.close()
            raise UserError(model_dir, "no checkpoint found")

    @property
    def output_dim(self):
        """The embedding's dimension: the code's (vae, cvae, ae) or the input's (dnf)."""
        return int(self.net.mu.shape[-1])

    def __call__(self, batch):
        return self.sess.run(self.net.mu, {self.net.x: batch})

    def close(self):
        self.sess.close()


def npz_batches(data, batch_size):
    for start in range(0, data.num_vectors, batch_size):
        yield data.utt_ids[start:start + batch_size], data.vectors[start:start + batch_size]


def table_batches(rspecifier, input_dim, batch_size, model_dir):
    """(keys, float32 rows) batches of a Kaldi table, read record by record."""
    name = describe(kt.parse_rspecifier(rspecifier)[2])
    keys, rows = [], []
    for key, vec in kt.read_vectors(rspecifier):
        if vec.shape[0] != input_dim:
            raise UserError(name, f"key {key}: vector dimension {vec.shape[0]} does not match "
                                  f"the model's input dimension {input_dim} ({config_path(model_dir)})")
        keys.append(key)
        rows.append(vec)
        if len(keys) == batch_size:
            yield keys, np.array(rows, np.float32)
            keys, rows = [], []
    if keys:
        yield keys, np.array(rows, np.float32)


class Progress:
    """Plain progress lines on stderr (the job runner puts them in the log)."""

    def __init__(self, what):
        self.what, self.count = what, 0
        self.start = self.last = time.time()

    def add(self, n):
        self.count += n
        now = time.time()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.report("embedded so far")

    def report(self, label):
        rate = self.count / max(time.time() - self.start, 1e-9)
        print(f"LOG ({PROG}) {self.what}: {self.count} vectors {label} ({rate:.0f}/s)",
              file=sys.stderr, flush=True)


def embed(model, source, batches, wspecifier, npz_out, speakers=None):
    """Embed one input batch by batch. The Kaldi output is written as it goes; an npz
    output (which needs the whole array) when all is done, with the speaker arrays of
    ``speakers`` (an npz input's TrainingSet) passed through. Returns the count."""
    progress = Progress(source)
    npz_parts = []
    with (kt.VectorWriter(wspecifier) if wspecifier is not None else contextlib.nullcontext()) as writer:
        for keys, rows in batches:
            mu = model(rows)
            if not np.isfinite(mu).all():
                bad = keys[int(np.argwhere(~np.isfinite(mu))[0][0])]
                raise UserError(source, f"key {bad}: the model gives NaN or Inf")
            if writer is not None:
                writer.write([str(key) for key in keys], mu)
            if npz_out is not None:
                npz_parts.append((keys, mu))
            progress.add(len(keys))
        if progress.count == 0:
            raise UserError(source, "no vectors")
    if npz_out is not None:
        utt_ids = np.concatenate([np.asarray(keys, dtype=str) for keys, _ in npz_parts])
        spk_index, spk_labels = ((speakers.spk_index, speakers.spk_labels) if speakers is not None
                                 else (None, None))
        write_npz(npz_out, np.concatenate([mu for _, mu in npz_parts]), utt_ids, spk_index, spk_labels)
    progress.report(f"written to {wspecifier or npz_out}")
    return progress.count


def check_table_input(rspecifier):
    """Cheap checks before TensorFlow starts: the rspecifier parses and a plain file exists
    (pipes are not run twice; their problems show when they are read)."""
    name = kt.parse_rspecifier(rspecifier)[2].strip()
    if name not in ("", "-") and not name.endswith("|") and not os.path.exists(name):
        raise UserError(name, "no such file")


def check_table_output(wspecifier):
    """Before TensorFlow starts: the wspecifier parses and its files' directories exist."""
    for name in kt.parse_wspecifier(wspecifier)[:2]:
        if name is not None and name.strip() not in ("", "-") and not name.lstrip().startswith("|") \
                and not os.path.isdir(os.path.dirname(os.path.abspath(name.strip()))):
            raise UserError(name, "output directory does not exist")


def run(args):
    config, _ = load_config(args.model_dir)
    if not os.path.isfile(os.path.join(args.model_dir, "checkpoint")):
        raise UserError(args.model_dir, "no checkpoint found (model not trained yet?)")
    for _, wspecifier, npz_out in args.jobs:
        if wspecifier is not None:
            check_table_output(wspecifier)
        if npz_out is not None and not os.path.isdir(os.path.dirname(os.path.abspath(npz_out))):
            raise UserError(npz_out, "output directory does not exist")
    # Every input is checked as far as it can be before TensorFlow starts: npz files
    # completely, tables by name (their records are checked as they stream).
    jobs = []
    for (kind, source), wspecifier, npz_out in args.jobs:
        if kind == "npz":
            data = load_npz(source, need_utt_ids=True, on_disk=True)   # read batch by batch
            if data.dim != config.input_dim:
                raise UserError(source, f"vector dimension {data.dim} does not match the model's "
                                        f"input dimension {config.input_dim} ({config_path(args.model_dir)})")
            jobs.append(((kind, source, data), wspecifier, npz_out))
        else:
            check_table_input(source)
            jobs.append(((kind, source), wspecifier, npz_out))
    model = Model(args.model_dir, config, args.num_threads)
    try:
        for (kind, source, *data), wspecifier, npz_out in jobs:
            if kind == "npz":
                batches, speakers = npz_batches(data[0], args.batch_size), data[0]
            else:
                batches = table_batches(source, config.input_dim, args.batch_size, args.model_dir)
                speakers = None
            count = embed(model, source, batches, wspecifier, npz_out, speakers)
            print(f"{PROG}: wrote {count} embeddings of dimension {model.output_dim}"
                  f" to {wspecifier or npz_out}", flush=True)
    finally:
        model.close()
    return 0


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    run_main(PROG, main)
