#!/bin/sh
# The test suite, as the README's Quick start runs it:  sh tests/run.sh [pytest args]
# path.sh creates the Python environment on first use, so this works on a fresh clone.
cd "$(dirname "$0")/.." || exit 1
. ./path.sh || exit 1
# One worker per core and one more: the Slurm test mostly waits on the grid (55 s of CPU in
# ~170 s), and its worker would leave a core idle. A test file's tests stay together on one
# worker, so a module's fixtures (a trained tiny exp, a Slurm cluster) are made once; the
# longest modules start first (tests/conftest.py).  -n 0: no workers.
workers=$(( $(nproc 2>/dev/null || echo 1) + 1 ))
exec python3 -m pytest -q -ra -n $workers --dist loadfile --no-loadscope-reorder tests "$@"
