# Environment for the v-vector recipes; source it from the repository root:  . ./path.sh
#
# - Python: a virtualenv in .venv with the pinned requirements, created on first use
#   and refreshed when requirements.txt changes (needs Python >= 3.10 as python3).
# - Back-end tools: Kaldi's binaries when KALDI_ROOT points at a compiled Kaldi,
#   otherwise our Python tools of the same names (local/bin). The recipes call the
#   tools by name and never ask which engine answers.

vv_root=$PWD
if [ ! -f "$vv_root/path.sh" ] || [ ! -d "$vv_root/local" ]; then
  echo "ERROR (path.sh): source path.sh from the v-vector-tf root, not from $PWD" >&2
  return 1 2>/dev/null || exit 1
fi

export LC_ALL=C                 # Kaldi sorts keys byte-wise
export PYTHONUNBUFFERED=1       # progress lines appear as they happen in logs
export TF_CPP_MIN_LOG_LEVEL=2   # TensorFlow's C++ start-up chatter hides our progress
export PYTHONPATH="$vv_root:$vv_root/local${PYTHONPATH:+:$PYTHONPATH}"

# ---- Python environment ------------------------------------------------------
# TensorFlow's build follows the machine: with CUDA when `nvidia-smi -L` lists a GPU, the
# CPU wheel otherwise; VV_TF=gpu|cpu chooses (local/python_requirements.sh). A change of
# requirements.txt or of the build reinstalls on the next source, so a machine that
# gains a GPU (or a VV_TF=gpu) switches without hand work.
vv_venv=${VV_VENV:-$vv_root/.venv}
vv_python=${VV_PYTHON:-python3}
vv_stamp="$vv_venv/.requirements.sha256"
vv_reqs=$(sh "$vv_root/local/python_requirements.sh" "$vv_root/requirements.txt") ||
  { return 1 2>/dev/null || exit 1; }
# For the CPU build the lines are requirements.txt itself, so the stamp is its checksum.
vv_want=$(printf '%s\n' "$vv_reqs" | cksum)
# A grid job (slurm.pl, queue.pl: a fresh shell on a node, which sources this file) uses the
# environment the submitting shell made: installing into it here would change it under the
# other jobs of the run.
if [ -n "${SLURM_JOB_ID:-}${JOB_ID:-}" ] && [ -x "$vv_venv/bin/python" ] && [ -f "$vv_stamp" ] &&
   [ "$(cat "$vv_stamp")" != "$vv_want" ]; then
  echo "path.sh: grid job: using $vv_venv as it is (installed for other requirements; source path.sh on the submit host to update it)" >&2
  vv_want=$(cat "$vv_stamp")
fi
if [ ! -x "$vv_venv/bin/python" ] || [ "$(cat "$vv_stamp" 2>/dev/null)" != "$vv_want" ]; then
  if ! "$vv_python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "ERROR (path.sh): need Python >= 3.10 as '$vv_python' (set VV_PYTHON to another interpreter)" >&2
    return 1 2>/dev/null || exit 1
  fi
  vv_build=$(sh "$vv_root/local/python_requirements.sh" --why "$vv_root/requirements.txt")
  echo "path.sh: installing the Python environment into $vv_venv (a minute or two): $vv_build ..." >&2
  vv_installed="$vv_venv/.requirements.txt"   # the lines last installed
  # The CPU wheel and the CUDA build install the same files under two names: when the
  # build changes, the old one goes first, or removing it later would break the new one.
  # (A venv made before path.sh recorded its lines holds the CPU wheel.)
  vv_cuda='^tensorflow\[and-cuda\]=='
  vv_switch=false
  if [ -x "$vv_venv/bin/python" ]; then
    if printf '%s\n' "$vv_reqs" | grep -q "$vv_cuda"; then
      grep -q "$vv_cuda" "$vv_installed" 2>/dev/null || vv_switch=true
    else
      ! grep -q "$vv_cuda" "$vv_installed" 2>/dev/null || vv_switch=true
    fi
  fi
  # uv unpacks the wheels in parallel: these requirements took 19 s with it against 57 s
  # with pip on a 2-core machine, a minute of a first quick start. pip stays the fallback:
  # uv reads none of pip's configuration (a private index in pip.conf), and may not install.
  vv_uv=uv==0.13.9
  vv_uv_log="$vv_venv/.uv.log"
  { [ -x "$vv_venv/bin/python" ] || "$vv_python" -m venv "$vv_venv"; } &&
    { ! $vv_switch || "$vv_venv/bin/python" -m pip uninstall -q -y tensorflow tensorflow-cpu >&2; } &&
    printf '%s\n' "$vv_reqs" > "$vv_installed" &&
    { { "$vv_venv/bin/python" -m pip install -q --disable-pip-version-check "$vv_uv" &&
        "$vv_venv/bin/uv" pip install -q --python "$vv_venv/bin/python" --compile-bytecode \
          -r "$vv_installed"; } > "$vv_uv_log" 2>&1 ||
      { echo "path.sh: uv could not install them (see $vv_uv_log); installing with pip ..." >&2
        "$vv_venv/bin/python" -m pip install -q --disable-pip-version-check -r "$vv_installed" >&2; }; } ||
    { echo "ERROR (path.sh): could not install $vv_installed (from requirements.txt) into $vv_venv" >&2; return 1 2>/dev/null || exit 1; }
  echo "$vv_want" > "$vv_stamp"
  echo "path.sh: Python environment ready: $vv_build." >&2
fi
export PATH="$vv_venv/bin:$PATH"

# ---- Back-end engine -----------------------------------------------------------
# A compiled Kaldi is recognised by its PLDA scorer; then Kaldi's own binaries and
# sid/compute_min_dcf.py come first on PATH. Without it, our tools answer to the names.
if [ -n "${KALDI_ROOT:-}" ] && [ -x "$KALDI_ROOT/src/ivectorbin/ivector-plda-scoring" ]; then
  export KALDI_ROOT
  export PATH="$KALDI_ROOT/src/bin:$KALDI_ROOT/src/ivectorbin:$KALDI_ROOT/src/featbin:$KALDI_ROOT/src/nnet3bin:$KALDI_ROOT/tools/openfst/bin:$KALDI_ROOT/egs/sre08/v1/sid:$KALDI_ROOT/egs/wsj/s5/utils:$PATH"
  export VV_ENGINE=kaldi
else
  if [ -n "${KALDI_ROOT:-}" ]; then
    echo "path.sh: no compiled Kaldi under KALDI_ROOT=$KALDI_ROOT; using the Python tools" >&2
  fi
  export PATH="$vv_root/local/bin:$PATH"
  export VV_ENGINE=python
fi
