"""path.sh's choice of TensorFlow build (CPU wheel or CUDA), tested without installing:
a stand-in nvidia-smi on PATH, and a stand-in venv python that records what pip was asked.
"""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPER = os.path.join(ROOT, "local", "python_requirements.sh")
REQUIREMENTS = os.path.join(ROOT, "requirements.txt")
LISTING = "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"


def write_script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


def machine_env(tmp_path, gpu, **extra):
    """The environment of a machine with (``gpu`` True) or without an nvidia-smi listing a
    GPU: any real nvidia-smi is kept off PATH, a stand-in is put first when ``gpu``."""
    stub_dir = tmp_path / ("with-gpu" if gpu else "without-gpu")
    stub_dir.mkdir(exist_ok=True)
    if gpu:
        write_script(stub_dir / "nvidia-smi", f'[ "$1" = -L ] && echo "{LISTING}"\n')
    path = [d for d in os.environ["PATH"].split(os.pathsep)
            if d and not os.path.exists(os.path.join(d, "nvidia-smi"))]
    env = {k: v for k, v in os.environ.items() if k not in ("VV_TF", "KALDI_ROOT")}
    env.update(PATH=os.pathsep.join([str(stub_dir)] + path), **extra)
    return env


def requirements(env, *args):
    return subprocess.run(["sh", HELPER, *args, REQUIREMENTS], env=env, capture_output=True,
                          text=True, timeout=30)


def pinned_version():
    line = next(l for l in open(REQUIREMENTS) if l.startswith("tensorflow-cpu=="))
    return line.split("==")[1].split(";")[0].strip()


@pytest.mark.parametrize("gpu, vv_tf, build", [
    (True, None, "gpu"), (False, None, "cpu"), (False, "gpu", "gpu"), (True, "cpu", "cpu"),
    (True, "auto", "gpu")])
def test_the_build_follows_nvidia_smi_or_vv_tf(tmp_path, gpu, vv_tf, build):
    env = machine_env(tmp_path, gpu, **({"VV_TF": vv_tf} if vv_tf else {}))
    out = requirements(env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    original = open(REQUIREMENTS).read().splitlines()
    if build == "cpu":   # requirements.txt itself (so path.sh's stamp is unchanged)
        assert out.stdout == open(REQUIREMENTS).read()
    else:                # the same pins, one TensorFlow line: the CUDA build of the same version
        tf_lines = [l for l in lines if l.startswith("tensorflow")]
        assert tf_lines == [f"tensorflow[and-cuda]=={pinned_version()}"]
        assert [l for l in lines if not l.startswith("tensorflow")] == \
            [l for l in original if not l.startswith("tensorflow")]
    why = requirements(env, "--why").stdout
    assert ("with CUDA" in why) == (build == "gpu") and pinned_version() in why


def test_a_bad_vv_tf_is_one_error_line(tmp_path):
    out = requirements(machine_env(tmp_path, False, VV_TF="cuda"))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "ERROR (path.sh): VV_TF must be gpu, cpu or auto, not 'cuda'"]


def source_path_sh(env):
    """Source path.sh as a recipe does; -> (stderr, the stand-in pip's log since last time)."""
    out = subprocess.run(["bash", "-c", ". ./path.sh"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    log = os.path.join(env["VV_VENV"], "pip.log")
    calls = open(log).read() if os.path.exists(log) else ""
    if os.path.exists(log):
        os.unlink(log)
    return out.stderr, calls


UV = re.search(r"^ *vv_uv=(uv==\S+)$", open(os.path.join(ROOT, "path.sh")).read(), re.M).group(1)


def stand_in_venv(venv, uv_status=0):
    """A venv whose python and uv record each call (in pip.log) with the TensorFlow line of
    the requirements they were given; its pip makes the uv (exit status uv_status)."""
    record = ('echo "$*" >> "$(dirname "$0")/../pip.log"\n'
              'for a; do [ -f "$a" ] && grep "^tensorflow" "$a" >> "$(dirname "$0")/../pip.log"; done\n')
    write_script(venv / "bin" / "python",
                 record + f'[ "$*" != "-m pip install -q --disable-pip-version-check {UV}" ] || '
                 f'printf \'#!/bin/sh\\necho "uv $*" >> "$(dirname "$0")/../pip.log"\\n'
                 f'for a; do [ -f "$a" ] && grep "^tensorflow" "$a" >> "$(dirname "$0")/../pip.log"; done\\n'
                 f'exit {uv_status}\\n\' > "$(dirname "$0")/uv" && chmod +x "$(dirname "$0")/uv"\n'
                 'exit 0\n')


def test_path_sh_installs_with_uv_and_falls_back_on_pip(tmp_path):
    """The wheels come through uv (installed first, pinned); where uv fails, pip installs the
    same lines, after one line that says so."""
    version = pinned_version()
    for uv_status in (0, 1):
        venv = tmp_path / f"venv{uv_status}"
        (venv / "bin").mkdir(parents=True)
        stand_in_venv(venv, uv_status)
        err, calls = source_path_sh(machine_env(tmp_path, False, VV_VENV=str(venv)))
        # The calls, each with the CPU wheel's line of what it was given.
        steps = [l for l in calls.splitlines() if not l.startswith("tensorflow==")]
        expected = [f"-m pip install -q --disable-pip-version-check {UV}",
                    f"uv pip install -q --python {venv}/bin/python --compile-bytecode "
                    f"-r {venv}/.requirements.txt",
                    f'tensorflow-cpu=={version}; sys_platform == "linux" and platform_machine == "x86_64"']
        if uv_status:
            expected += [f"-m pip install -q --disable-pip-version-check -r {venv}/.requirements.txt",
                         expected[-1]]
        assert [l for l in steps if not l.startswith("-c ")] == expected, calls
        fallback = [l for l in err.splitlines() if "installing with pip" in l]
        assert fallback == ([f"path.sh: uv could not install them (see {venv}/.uv.log); "
                             "installing with pip ..."] if uv_status else []), err
        assert "ERROR" not in err


def test_path_sh_installs_the_chosen_build_once_and_switches(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stand_in_venv(venv)
    gpu = machine_env(tmp_path, True, VV_VENV=str(venv))
    cpu = machine_env(tmp_path, False, VV_VENV=str(venv))
    version = pinned_version()

    err, calls = source_path_sh(cpu)     # a venv of the CPU wheel
    assert f"tensorflow-cpu=={version}" in calls and "uninstall" not in calls
    assert f"TensorFlow {version} for the CPU" in err
    err, calls = source_path_sh(gpu)     # a GPU appears: the CPU wheel goes, CUDA's comes
    lines = calls.splitlines()
    assert lines[0] == "-m pip uninstall -q -y tensorflow tensorflow-cpu"
    assert lines[1] == f"-m pip install -q --disable-pip-version-check {UV}"
    assert lines[2].startswith("uv pip install") and lines[3:] == [f"tensorflow[and-cuda]=={version}"]
    assert f"TensorFlow {version} with CUDA" in err
    err, calls = source_path_sh(gpu)     # installed: said once, not again
    assert calls == "" and err == ""

    err, calls = source_path_sh(cpu)     # the GPU went away: back to the CPU wheel
    lines = calls.splitlines()
    assert lines[0] == "-m pip uninstall -q -y tensorflow tensorflow-cpu"
    assert any(l.startswith("-m pip install") for l in lines)
    assert f"tensorflow-cpu=={version}" in calls and "and-cuda" not in calls
    assert f"TensorFlow {version} for the CPU" in err
    # The CPU build's stamp is requirements.txt's checksum, as before the choice existed.
    stamp = subprocess.run(["cksum"], stdin=open(REQUIREMENTS), capture_output=True,
                           text=True).stdout
    assert (venv / ".requirements.sha256").read_text() == stamp
    assert source_path_sh(cpu) == ("", "")
