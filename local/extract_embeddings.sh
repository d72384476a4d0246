#!/bin/sh
# Code means mu(x) of a trained model for several data dirs, each as a Kaldi data dir.
# Usage: local/extract_embeddings.sh <model-dir> <log> <in-data-dir> <out-data-dir> [<in> <out> ...]
# Each <out> gets xvector.{ark,scp} (same keys and order as its input) plus utt2spk, spk2utt.
# All parts go through one extractor process, so TensorFlow starts once per model.
if [ $# -lt 4 ] || [ $(( $# % 2 )) -ne 0 ]; then
  echo "Usage: $0 <model-dir> <log> <in-data-dir> <out-data-dir> [<in> <out> ...]" >&2; exit 1
fi
model_dir=$1; log=$2; shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/extract.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
args=""; n=0; pairs="$*"
while [ $# -gt 0 ]; do
  n=$((n + 1))
  mkdir -p "$2" || exit 1
  local/run_log.sh ${log%.log}.ark2npz$n.log python3 -m data_utils.ark2npz --data-dir "$1" $tmp/$n.npz || exit 1
  args="$args --input-npz $tmp/$n.npz --output ark,scp:$2/xvector.ark,$2/xvector.scp"
  shift 2
done
local/run_log.sh $log python3 -m model.extract --model-dir $model_dir $args || exit 1
set -- $pairs
while [ $# -gt 0 ]; do
  cp "$1/utt2spk" "$1/spk2utt" "$2/" || exit 1
  shift 2
done
