#!/bin/sh
root=$(cd "$(dirname "$0")/../.." && pwd)
# One BLAS thread unless the caller sets OPENBLAS_NUM_THREADS, as Kaldi builds its own
# OpenBLAS (USE_THREAD=0; parallel work comes from jobs): OpenBLAS's threads cost 0.05 s
# at numpy's import, and when another process holds a core (the other end of a pipe,
# other jobs) they make the matrix products several times slower, not faster.
OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} \
PYTHONPATH="$root:$root/local${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kaldi_compat.compute_min_dcf "$@"
