"""model.benchmark_train at a tiny size (seconds): what it prints adds up."""
import os
import re

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from model import benchmark_train  # noqa: E402

TINY = ["--steps", "3", "--rounds", "2", "--input-dim", "8", "--hidden-dim", "16",
        "--code-dim", "4", "--batch-size", "10", "--matmul-size", "64",
        "--paper-vectors", "5000", "--paper-epochs", "7"]


def test_paper_settings_are_read_from_the_conf_file(tmp_path):
    conf = tmp_path / "paper.conf"
    conf.write_text("# comment\n--hidden-dim 1800   # why\n--batch-size 200\n--epochs 200\n")
    assert benchmark_train.paper_settings(str(conf)) == {
        "hidden_dim": "1800", "batch_size": "200", "epochs": "200"}
    args = benchmark_train.parse_args([])   # the defaults are conf/paper.conf's
    paper = benchmark_train.paper_settings()
    assert (args.batch_size, args.hidden_dim, args.code_dim, args.paper_epochs) == (
        int(paper["batch_size"]), int(paper["hidden_dim"]), int(paper["code_dim"]),
        int(paper["epochs"]))


def test_flops_of_a_training_step():
    """6 FLOPs per weight and sample; the data-fed layer's input gradient is not computed."""
    assert benchmark_train.train_flops_per_sample(
        {"encoder/hidden1/kernel": (8, 16), "encoder/hidden2/kernel": (16, 4)}) == \
        4 * 8 * 16 + 6 * 16 * 4


def test_printed_figures_add_up(capsys):
    assert benchmark_train.main(TINY + ["--models", "vae"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^benchmark: (the CPU|GPU 0) .*batch 10; 2 rounds of 3 steps and a "
                     r"64 x 64 fp32 matmul$", out, re.M), out
    rate, ms, mflop, gflops, percent, matmul = re.search(
        r"^vae: (\S+) samples/s \((\S+) ms/step\), (\S+) MFLOP/sample: (\S+) GFLOP/s, "
        r"(\S+)% of the matmul's (\S+) GFLOP/s$", out, re.M).groups()
    rate = float(rate)
    # The vae's kernels at 8 -> 16 -> 16 -> 16 -> 4 (mu and sigma) -> 16 -> 16 -> 8.
    weights = 16 * 16 + 16 * 16 + 16 * 4 + 16 * 4 + 4 * 16 + 16 * 16 + 16 * 8
    assert float(mflop) * 1e6 == pytest.approx(4 * 8 * 16 + 6 * weights)
    assert float(ms) == pytest.approx(10 / rate * 1000, rel=1e-2)
    assert float(gflops) == pytest.approx(rate * float(mflop) / 1e3, rel=2e-3)
    assert float(percent) == pytest.approx(100 * float(gflops) / float(matmul), rel=2e-3, abs=0.06)
    seconds = int(re.search(r"^vae: 7 epochs of 5000 vectors \(conf/paper.conf\) would take "
                            r".* \((\d+) s\) at this rate$", out, re.M).group(1))
    assert seconds == pytest.approx(7 * 5000 / rate, abs=1)


def test_durations_read_as_hours_and_minutes():
    assert benchmark_train.format_duration(4 * 3600 + 10 * 60 + 20) == "4 h 10 min"
    assert benchmark_train.format_duration(9 * 60 + 30) == "9.5 min"
