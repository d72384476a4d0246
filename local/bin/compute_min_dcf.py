#!/bin/sh
root=$(cd "$(dirname "$0")/../.." && pwd)
PYTHONPATH="$root:$root/local${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kaldi_compat.compute_min_dcf "$@"
