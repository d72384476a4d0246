"""Training throughput (samples/s) of the paper-size models on random data.

    python -m model.benchmark_train [--models vae ae dnf] [--steps 200] [--batch-size 128]
        [--input-dim 512] [--hidden-dim 1800] [--code-dim 200] [--num-threads 0]
        [--dnf-hidden-dim 512] [--flow-layers 8]

dnf runs at its own recipe size (train.sh's dnf_hidden_dim and flow_layers).

Times the same session.run(train_op) with feed_dict that model.train uses,
after a few warm-up steps (the first steps include graph optimisation and
memory allocation).  Random inputs are fine: the cost does not depend on values.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from data_utils.errors import run_main
from model.cli import import_tensorflow, session_config
from model.config import MODEL_TYPES, SPEAKER_MEAN_MODELS, ModelConfig, graph_module

WARMUP_STEPS = 10


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m model.benchmark_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODEL_TYPES, default=["vae", "ae"])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--input-dim", type=int, default=512)
    p.add_argument("--hidden-dim", type=int, default=1800)
    p.add_argument("--code-dim", type=int, default=200)
    p.add_argument("--dnf-hidden-dim", type=int, default=512, help="width of the dnf's coupling MLPs")
    p.add_argument("--flow-layers", type=int, default=8, help="dnf coupling layers")
    p.add_argument("--num-spk", type=int, default=1000, help="speakers in the random data (cvae, dnf)")
    p.add_argument("--num-threads", type=int, default=0)
    return p.parse_args(argv)


def benchmark(tf, model, args):
    """-> samples/s of the timed steps."""
    vae = graph_module(model)
    v1 = tf.compat.v1
    rng = np.random.RandomState(0)
    # A pool of batches, so each step copies fresh rows as training does.
    pool = rng.randn(8, args.batch_size, args.input_dim).astype(np.float32)
    config = ModelConfig(model=model, input_dim=args.input_dim, code_dim=args.code_dim,
                         hidden_dim=args.dnf_hidden_dim if model == "dnf" else args.hidden_dim,
                         flow_layers=args.flow_layers)
    graph = tf.Graph()
    with graph.as_default():
        net = vae.build_graph(args.input_dim, config)
        means = rng.randn(args.num_spk, int(net.mu.shape[-1])).astype(np.float32)
        init = v1.global_variables_initializer()
        with v1.Session(graph=graph, config=session_config(tf, args.num_threads)) as sess:
            sess.run(init)
            graph.finalize()

            def step(i):
                feed = {net.x: pool[i % len(pool)]}
                if model in SPEAKER_MEAN_MODELS:
                    spk = rng.randint(0, args.num_spk, args.batch_size)
                    present, local = np.unique(spk, return_inverse=True)
                    feed[net.spk_idx] = local.reshape(-1).astype(np.int32)
                    feed[net.spk_means] = means[present]
                sess.run([net.train_op, net.total_loss], feed)

            for i in range(WARMUP_STEPS):
                step(i)
            start = time.perf_counter()
            for i in range(args.steps):
                step(i)
            seconds = time.perf_counter() - start
    return args.steps * args.batch_size / seconds, seconds


def main(argv=None):
    args = parse_args(argv)
    tf = import_tensorflow()
    print(f"benchmark: input {args.input_dim}, hidden {args.hidden_dim}, code {args.code_dim}, "
          f"batch {args.batch_size}, {args.steps} steps, threads {args.num_threads or 'default'}, "
          f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}", flush=True)
    for model in args.models:
        rate, seconds = benchmark(tf, model, args)
        print(f"{model}: {rate:.1f} samples/s ({seconds / args.steps * 1000:.1f} ms/step)", flush=True)
    return 0


if __name__ == "__main__":
    run_main("model.benchmark_train", main)
