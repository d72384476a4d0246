#!/bin/sh
# The test suite, as the README's Quick start runs it:  sh tests/run.sh [pytest args]
# path.sh creates the Python environment on first use, so this works on a fresh clone.
cd "$(dirname "$0")/.." || exit 1
. ./path.sh || exit 1
exec python3 -m pytest -q -ra tests "$@"
