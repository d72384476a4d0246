"""Extract embeddings (the code mean mu(x)) with a trained model.

    python -m model.extract --model-dir DIR --input-npz in.npz
        [--output ark,scp:out.ark,out.scp] [--output-npz out.npz]
        [--batch-size B] [--num-threads N]

Vectors are written in the input order, keyed by the input's utterance ids.
--input-npz may be repeated, each with its own --output (and/or --output-npz), so one
process (one TensorFlow start-up) embeds a training set and every evaluation set.
``--output`` takes a Kaldi wspecifier (written by data_utils.kaldi_table);
``--output-npz`` writes ``vectors`` and ``utt_ids`` and passes ``spk_index`` /
``spk_labels`` through when the input has them.  At least one is required.
"""
import argparse
import importlib
import os
import sys

# Must precede the first TensorFlow import (done lazily, after input checks).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from model.cli import UserError, atomic_write, import_tensorflow, report, session_config
from model.config import config_path, graph_module, load_config
from model.data import load_dataset

PROG = "model.extract"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m model.extract", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True, help="trained model directory (config.json + checkpoints)")
    p.add_argument("--input-npz", required=True, action="append",
                   help="vectors to embed (.npz from data_utils); repeatable")
    p.add_argument("--output", metavar="WSPECIFIER", action="append",
                   help="Kaldi wspecifier, e.g. ark,scp:out.ark,out.scp; one per --input-npz")
    p.add_argument("--output-npz", metavar="FILE", action="append",
                   help="write an .npz with vectors and utt_ids; one per --input-npz")
    p.add_argument("--batch-size", type=int, default=1024, help="forward-pass batch (default 1024)")
    p.add_argument("--num-threads", type=int, default=0,
                   help="intra/inter-op threads (default 0 = TensorFlow's choice)")
    args = p.parse_args(argv)
    if args.output is None and args.output_npz is None:
        p.error("give --output and/or --output-npz")
    for name in ("output", "output_npz"):
        given = getattr(args, name)
        if given is not None and len(given) != len(args.input_npz):
            p.error(f"--{name.replace('_', '-')} given {len(given)} times for "
                    f"{len(args.input_npz)} --input-npz")
    # One job per input: (input npz, wspecifier or None, npz output or None).
    args.jobs = list(zip(args.input_npz, args.output or [None] * len(args.input_npz),
                         args.output_npz or [None] * len(args.input_npz)))
    if args.batch_size < 1 or args.num_threads < 0:
        p.error("--batch-size must be >= 1 and --num-threads >= 0")
    return args


def compute_embeddings(model_dir, config, vector_sets, batch_size, num_threads=0):
    """mu(x) for every row of each array in ``vector_sets``, with the latest checkpoint."""
    tf = import_tensorflow()
    vae = graph_module(config.model)  # model.vae or model.dnf; imports TensorFlow
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        g = vae.build_graph(config.input_dim, config, training=False)
        # Only the network weights are needed; Adam's slots are not in this graph.
        saver = v1.train.Saver(var_list=vae.model_variables(graph))
        latest = tf.train.latest_checkpoint(model_dir)
        if latest is None:
            raise UserError(model_dir, "no checkpoint found")
        with v1.Session(graph=graph, config=session_config(tf, num_threads)) as sess:
            try:
                saver.restore(sess, latest)
            except (tf.errors.OpError, ValueError) as exc:
                raise UserError(latest, f"cannot restore checkpoint: {str(exc).splitlines()[0]}") from None
            results = []
            for vectors in vector_sets:
                out = np.empty((vectors.shape[0], int(g.mu.shape[-1])), np.float32)
                for start in range(0, vectors.shape[0], batch_size):
                    out[start:start + batch_size] = sess.run(
                        g.mu, {g.x: vectors[start:start + batch_size]})
                results.append(out)
    return results


def write_npz(path, data, embeddings):
    arrays = {"vectors": embeddings, "utt_ids": data.utt_ids}
    if data.spk_index is not None:
        arrays.update(spk_index=data.spk_index, spk_labels=data.spk_labels)
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")
    except OSError as exc:
        raise UserError(path, f"cannot write: {exc.strerror or exc}") from None


def write_kaldi(wspecifier, utt_ids, embeddings):
    try:
        kaldi_table = importlib.import_module("data_utils.kaldi_table")
    except ImportError as exc:
        raise UserError(wspecifier, f"Kaldi output unavailable ({exc})") from None
    try:
        kaldi_table.write_vectors(wspecifier, [str(u) for u in utt_ids], embeddings)
    except kaldi_table.KaldiError as exc:
        # KaldiError's one-line message already names the file.
        raise UserError(None, str(exc)) from None


def run(args):
    config, _ = load_config(args.model_dir)
    if not os.path.isfile(os.path.join(args.model_dir, "checkpoint")):
        raise UserError(args.model_dir, "no checkpoint found (model not trained yet?)")
    for _, _, npz_out in args.jobs:
        if npz_out is not None and not os.path.isdir(os.path.dirname(os.path.abspath(npz_out))):
            raise UserError(npz_out, "output directory does not exist")
    # Every input is checked before TensorFlow starts, and nothing is written until
    # every embedding is computed; each writer is atomic.
    datasets = [load_dataset(npz_in, need_utt_ids=True) for npz_in, _, _ in args.jobs]
    for (npz_in, _, _), data in zip(args.jobs, datasets):
        if data.dim != config.input_dim:
            raise UserError(npz_in, f"vector dimension {data.dim} does not match the model's "
                                    f"input dimension {config.input_dim} ({config_path(args.model_dir)})")
    embeddings = compute_embeddings(args.model_dir, config, [d.vectors for d in datasets],
                                    args.batch_size, args.num_threads)
    for (_, wspecifier, npz_out), data, emb in zip(args.jobs, datasets, embeddings):
        if wspecifier is not None:
            write_kaldi(wspecifier, data.utt_ids, emb)
        if npz_out is not None:
            write_npz(npz_out, data, emb)
        print(f"{PROG}: wrote {emb.shape[0]} embeddings of dimension {emb.shape[1]}"
              f" to {wspecifier or npz_out}", flush=True)
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except UserError as err:
        report(PROG, err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
