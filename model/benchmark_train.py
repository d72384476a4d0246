"""Training speed, measured against what the device can do: samples/s of a model's training
step, its FLOP rate as a fraction of one large fp32 matmul's on the same device in the same
run, and the time conf/paper.conf's training would take on the paper's 200k vectors.

    python -m model.benchmark_train [--models vae] [--steps 100] [--rounds 5]
        [--batch-size B] [--input-dim 512] [--hidden-dim H] [--code-dim C]
        [--matmul-size N] [--paper-vectors 200000] [--num-threads 0]

Batch, hidden and code sizes and the epochs default to conf/paper.conf's. The steps are
model.train's: batches gathered on the device from the resident set (model.feeding), the
same fetches. The FLOPs of a step are those of its matrix products: 2 per weight per sample
forward, 2 for the weight gradient and 2 for the input gradient (not needed, so not
computed, for the layer that reads the data). Element-wise work is not counted, so the ratio
says how close the step comes to the device's matmul speed. The matmul and the model are
timed in alternating rounds (a busy machine slows both alike); the medians are reported.
dnf runs at its own recipe size (--dnf-hidden-dim, --flow-layers).
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from data_utils.errors import run_main
from model.cli import device_description, import_tensorflow, session_config
from model.config import MODEL_TYPES, SPEAKER_MEAN_MODELS, ModelConfig, graph_module
from model.feeding import ResidentBatches

PROG = "model.benchmark_train"
PAPER_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "conf", "paper.conf")
WARMUP_STEPS = 10
# Kernels whose input is the data: no input gradient is computed for them.
DATA_FED_KERNELS = ("encoder/hidden1/kernel", "flow/coupling0/hidden1/kernel")
SET_ROWS = 16384   # rows of the random resident training set


def paper_settings(path=PAPER_CONF):
    """{option: value} of the config file's "--name value" lines (comments dropped)."""
    settings = {}
    with open(path) as conf:
        for line in conf:
            words = line.split("#", 1)[0].split()
            if len(words) == 2 and words[0].startswith("--"):
                settings[words[0][2:].replace("-", "_")] = words[1]
    return settings


def parse_args(argv):
    paper = paper_settings()
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODEL_TYPES, default=["vae"])
    p.add_argument("--steps", type=int, default=100, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=int(paper["batch_size"]))
    p.add_argument("--input-dim", type=int, default=512)
    p.add_argument("--hidden-dim", type=int, default=int(paper["hidden_dim"]))
    p.add_argument("--code-dim", type=int, default=int(paper["code_dim"]))
    p.add_argument("--dnf-hidden-dim", type=int, default=512, help="width of the dnf's coupling MLPs")
    p.add_argument("--flow-layers", type=int, default=8, help="dnf coupling layers")
    p.add_argument("--num-spk", type=int, default=1000, help="speakers in the random data (cvae, dnf)")
    p.add_argument("--matmul-size", type=int,
                   help="N of the N x N reference matmul (default 2048 on a CPU, 8192 on a GPU)")
    p.add_argument("--paper-vectors", type=int, default=200000,
                   help="training-set size of the projection (the paper's 200k)")
    p.add_argument("--paper-epochs", type=int, default=int(paper["epochs"]))
    p.add_argument("--num-threads", type=int, default=0)
    return p.parse_args(argv)


def train_flops_per_sample(kernel_shapes):
    """{kernel name: (inputs, outputs)} -> FLOPs of one sample's training step in its matrix
    products: 6 per weight, less the 2 of the input gradient of a data-fed kernel."""
    return sum((4 if name in DATA_FED_KERNELS else 6) * fan_in * fan_out
               for name, (fan_in, fan_out) in kernel_shapes.items())


def format_duration(seconds):
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{seconds / 60.0:.1f} min"


def time_matmul(sess, product, reps):
    """Seconds of one product, the best of ``reps`` (its output stays on the device)."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        sess.run(product.op)
        best = min(best, time.perf_counter() - start)
    return best


def benchmark(tf, model, args, matmul_n):
    """-> (median samples/s, median matmul FLOP/s, FLOPs per sample), rounds alternating."""
    v1 = tf.compat.v1
    rng = np.random.RandomState(0)
    config = ModelConfig(model=model, input_dim=args.input_dim, code_dim=args.code_dim,
                         hidden_dim=args.dnf_hidden_dim if model == "dnf" else args.hidden_dim,
                         flow_layers=args.flow_layers)
    rows = max(SET_ROWS, args.batch_size)
    vectors = rng.randn(rows, args.input_dim).astype(np.float32)
    speakers = model in SPEAKER_MEAN_MODELS
    graph = tf.Graph()
    with graph.as_default():
        means_dim = args.input_dim if model == "dnf" else args.code_dim
        feeder = ResidentBatches(tf, rows, args.input_dim, args.batch_size,
                                 num_spk=args.num_spk if speakers else None,
                                 means_dim=means_dim if speakers else None)
        net = graph_module(model).build_graph(args.input_dim, config, batches=feeder)
        kernels = {v.op.name: tuple(v.shape.as_list()) for v in v1.trainable_variables()
                   if len(v.shape) == 2}
        a = v1.Variable(v1.random_normal([matmul_n, matmul_n]), trainable=False)
        b = v1.Variable(v1.random_normal([matmul_n, matmul_n]), trainable=False)
        product = tf.matmul(a, b)
        init = v1.global_variables_initializer()
        with v1.Session(graph=graph, config=session_config(tf, args.num_threads)) as sess:
            sess.run(init)
            graph.finalize()
            feeder.start_training(sess, vectors, rng.randint(0, args.num_spk, rows) if speakers else None)
            feeder.start_epoch(sess, rng.permutation(rows),
                               rng.randn(args.num_spk, means_dim).astype(np.float32) if speakers else None)
            fetches = [net.train_op, net.total_loss]
            position = [0]

            def steps(count):
                for _ in range(count):
                    if position[0] + args.batch_size > rows:
                        position[0] = 0
                    sess.run(fetches, feeder.batch_feed(sess, position[0], args.batch_size))
                    position[0] += args.batch_size

            steps(WARMUP_STEPS)
            time_matmul(sess, product, 1)   # warm-up
            rates, matmul_rates = [], []
            for _ in range(args.rounds):
                matmul_rates.append(2.0 * matmul_n ** 3 / time_matmul(sess, product, 3))
                start = time.perf_counter()
                steps(args.steps)
                rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    return statistics.median(rates), statistics.median(matmul_rates), train_flops_per_sample(kernels)


def main(argv=None):
    args = parse_args(argv)
    tf = import_tensorflow()
    device = device_description(tf)
    matmul_n = args.matmul_size or (8192 if device.startswith("GPU") else 2048)
    print(f"benchmark: {device}, TensorFlow {tf.__version__}, threads "
          f"{args.num_threads or 'default'}; input {args.input_dim}, hidden {args.hidden_dim}, "
          f"code {args.code_dim}, batch {args.batch_size}; {args.rounds} rounds of "
          f"{args.steps} steps and a {matmul_n} x {matmul_n} fp32 matmul", flush=True)
    for model in args.models:
        rate, matmul_rate, flops = benchmark(tf, model, args, matmul_n)
        model_rate = rate * flops
        print(f"{model}: {rate:.1f} samples/s ({args.batch_size / rate * 1000:.2f} ms/step), "
              f"{flops / 1e6:.6g} MFLOP/sample: {model_rate / 1e9:.4g} GFLOP/s, "
              f"{100.0 * model_rate / matmul_rate:.1f}% of the matmul's "
              f"{matmul_rate / 1e9:.4g} GFLOP/s", flush=True)
        seconds = args.paper_epochs * args.paper_vectors / rate
        print(f"{model}: {args.paper_epochs} epochs of {args.paper_vectors} vectors "
              f"(conf/paper.conf) would take {format_duration(seconds)} ({seconds:.0f} s) "
              f"at this rate", flush=True)
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
