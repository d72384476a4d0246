#!/bin/sh
# The test suite, as the README's Quick start runs it:  sh tests/run.sh [pytest args]
# path.sh creates the Python environment on first use, so this works on a fresh clone.
cd "$(dirname "$0")/.." || exit 1
. ./path.sh || exit 1
# One worker per core (-n auto); a test file's tests stay together on one worker, so a
# module's fixtures (a trained tiny exp, a Slurm cluster) are made once; the longest modules
# start first (tests/conftest.py).  -n 0: no workers.
exec python3 -m pytest -q -ra -n auto --dist loadfile --no-loadscope-reorder tests "$@"
