"""model.feeding (the training set kept where the graph reads it), the device line of
train.log and the start-up filter of model.cli, all on the CPU."""
import os
import re
import types

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from data_utils.npz_io import load_npz  # noqa: E402
from model import cli, feeding  # noqa: E402
from model import train as train_cli  # noqa: E402
from model.epochs import epoch_order  # noqa: E402

v1 = tf.compat.v1
SMALL = ["--hidden-dim", "32", "--code-dim", "8", "--num-threads", "1"]


def make_npz(path, n=203, dim=6, n_spk=7):
    rng = np.random.RandomState(4)
    spk = rng.randint(0, n_spk, n).astype(np.int32)
    np.savez(path, vectors=(rng.randn(n_spk, dim)[spk] + rng.randn(n, dim)).astype(np.float32),
             utt_ids=np.array([f"u{i:04d}" for i in range(n)]), spk_index=spk,
             spk_labels=np.array([f"s{i}" for i in range(n_spk)]))
    return str(path)


@pytest.mark.parametrize("resident_bytes, whole", [(1 << 20, True), (4 * 6 * 50, False)])
def test_batches_are_the_rows_of_the_shuffled_order(tmp_path, resident_bytes, whole):
    """Whole set resident, or slices of 48 rows (50 rounded down to whole batches of 16):
    each step's batch is vectors[order[start:stop]], its speakers spk_index[...], over two
    epochs of different orders (the last batch short)."""
    data = load_npz(make_npz(tmp_path / "d.npz"), need_speakers=True, on_disk=True)
    batch = 16
    with tf.Graph().as_default():
        feeder = feeding.ResidentBatches(tf, data.num_vectors, data.dim, batch, num_spk=7,
                                         means_dim=3, resident_bytes=resident_bytes)
        assert feeder.whole == whole and feeder.capacity == (203 if whole else 48)
        with v1.Session() as sess:
            feeder.start_training(sess, data.vectors, data.spk_index)
            vectors = np.asarray(data.vectors)
            for epoch in range(2):
                order = epoch_order(3, epoch, data.num_vectors)
                means = np.random.RandomState(epoch).randn(7, 3).astype(np.float32)
                feeder.start_epoch(sess, order, means)
                for start in range(0, data.num_vectors, batch):
                    rows = order[start:start + batch]
                    x, spk, table = sess.run([feeder.x, feeder.spk_idx, feeder.spk_means],
                                             feeder.batch_feed(sess, start, len(rows)))
                    np.testing.assert_array_equal(x, vectors[rows])
                    np.testing.assert_array_equal(spk, data.spk_index[rows])
                    np.testing.assert_array_equal(table, means)


def test_resident_rows_fill_the_budget_with_whole_batches():
    assert feeding.resident_rows(1000, 512, 200, resident_bytes=1000 * 2048) == 1000
    assert feeding.resident_rows(1000, 512, 200, resident_bytes=999 * 2048) == 800
    assert feeding.resident_rows(10 ** 6, 512, 200, resident_bytes=100) == 200


def epoch_lines(out):
    return re.findall(r"^epoch \d+/\d+ step \d+ (.*) samples/s", out, re.M)


@pytest.mark.parametrize("model", ["vae", "cvae"])
def test_same_seed_same_losses_whole_or_in_slices(tmp_path, capsys, monkeypatch, model):
    """Two runs with the same seed on the CPU log the same losses to the last digit, one with
    the set resident whole, one streamed in slices of 32 rows (5 slices per epoch, so the
    block is refilled between steps); and train.log names the device."""
    data = make_npz(tmp_path / "d.npz", n=150)
    args = ["--train-npz", data, "--model", model, "--epochs", 2, "--batch-size", 16,
            "--lr", 1e-3] + SMALL
    logs = []
    for name, budget in (("whole", None), ("slices", 4 * 6 * 40)):
        if budget:
            monkeypatch.setattr(feeding, "RESIDENT_BYTES", budget)
        assert train_cli.main([str(a) for a in args + ["--model-dir", tmp_path / name]]) == 0
        out = capsys.readouterr().out
        assert f"model.train: training on the CPU ({os.cpu_count()} cores)" in out
        logs.append(epoch_lines(out))
    assert len(logs[0]) == 2 and logs[0] == logs[1]


def fake_tf(gpus, details=None, cuda_build=True):
    config = types.SimpleNamespace(
        list_physical_devices=lambda kind: list(gpus) if kind == "GPU" else [],
        experimental=types.SimpleNamespace(get_device_details=lambda dev: details or {}))
    return types.SimpleNamespace(config=config, test=types.SimpleNamespace(
        is_built_with_cuda=lambda: cuda_build))


def test_the_device_line_names_the_gpu_or_why_the_cpu(monkeypatch):
    monkeypatch.setattr(cli, "nvidia_gpu_present", lambda: True)
    assert cli.device_description(fake_tf(["gpu0"], {"device_name": "NVIDIA H200"})) \
        == "GPU 0 (NVIDIA H200)"
    assert cli.device_description(fake_tf(["g0", "g1"], {"device_name": "NVIDIA A100"})) \
        == "GPU 0 (NVIDIA A100, 2 visible, the first used)"
    assert "no CUDA support (source path.sh with VV_TF=gpu" in \
        cli.device_description(fake_tf([], cuda_build=False))
    assert "TensorFlow found no usable GPU" in cli.device_description(fake_tf([]))
    monkeypatch.setattr(cli, "nvidia_gpu_present", lambda: False)
    assert cli.device_description(fake_tf([])) == f"the CPU ({os.cpu_count()} cores)"
    # The real TensorFlow of this machine agrees with what it lists.
    real = cli.device_description(tf)
    assert real.startswith("GPU 0") == bool(tf.config.list_physical_devices("GPU"))


START_UP = {
    "absl": "WARNING: All log messages before absl::InitializeLog() is called go to stderr",
    "onednn": "I0000 00:00:1733212345.123456   1234 port.cc:153] oneDNN custom operations are on.",
    "factory": "E0000 00:00:1733212345.123456   1234 cuda_dnn.cc:8310] Unable to register "
               "cuDNN factory: Attempting to register factory for plugin cuDNN when one has "
               "already been registered",
    "cuinit": "E0000 00:00:1733212345.123456   1234 cuda_executor.cc:1228] failed call to "
              "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "dlopen": "W0000 00:00:1733212345.123456   1234 gpu_device.cc:2344] Cannot dlopen some GPU "
              "libraries. Please make sure the missing libraries mentioned above are installed "
              "properly if you would like to use GPU. Skipping registering GPU devices...",
    "python": "Traceback (most recent call last):",
}


@pytest.mark.parametrize("gpu_present, shown", [
    (False, {"python"}),
    (True, {"python", "cuinit", "dlopen"})])
def test_cuda_errors_are_shown_where_there_is_a_gpu(gpu_present, shown):
    assert {name for name, line in START_UP.items()
            if not cli.start_up_noise(line, gpu_present)} == shown
