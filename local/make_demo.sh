#!/bin/sh
# The embedded demo corpora, generated on first use, deterministically from their seed
# (data_utils/demo_corpus.py):
#   data/demo       x-vector-like vectors, with its domain-shifted set data/demo/shifted
#                   (local/run_ood.sh's default --ood-data);
#   data/demo_relu  sparse ReLU outputs (--kind relu).
# Usage: local/make_demo.sh <data-dir> <log-dir>
# <data-dir> is one of them or a dir inside one; for any other dir it does nothing, so the
# recipes hand it whatever data they are given (local/prepare_data.sh, local/run_ood.sh) and
# only this script knows the demo.
if [ $# -ne 2 ]; then
  echo "Usage: $0 <data-dir> <log-dir>" >&2; exit 1
fi
case "${1%/}" in
  data/demo|data/demo/*) corpus=data/demo; kind=xvector ;;
  data/demo_relu|data/demo_relu/*) corpus=data/demo_relu; kind=relu ;;
  *) exit 0 ;;
esac
[ -f $corpus/README ] && exit 0
echo "$0: generating the demo corpus in $corpus ..." >&2
${train_cmd:-local/run_log.sh} $2/make_demo_corpus.log python3 -m data_utils.demo_corpus \
  --kind $kind --out $corpus || exit 1
