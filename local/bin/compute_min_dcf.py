#!/bin/sh
root=$(cd "$(dirname "$0")/../.." && pwd)
# No matrix products here: one BLAS thread (OpenBLAS starts its threads at numpy's import,
# 0.05 s of every run), unless the caller chose.
OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} \
PYTHONPATH="$root:$root/local${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kaldi_compat.compute_min_dcf "$@"
