#!/bin/sh
# Code means mu(x) of a trained model for one data dir, as a Kaldi data dir.
# Usage: local/extract_embeddings.sh <model-dir> <in-data-dir> <out-data-dir> <log>
# Writes <out>/xvector.{ark,scp} (same keys and order as the input) plus utt2spk, spk2utt.
if [ $# -ne 4 ]; then
  echo "Usage: $0 <model-dir> <in-data-dir> <out-data-dir> <log>" >&2; exit 1
fi
model_dir=$1; in=$2; out=$3; log=$4
mkdir -p $out || exit 1
local/run_log.sh $log sh -c "python3 -m data_utils.ark2npz --data-dir $in $out/.input.npz && \
  python3 -m model.extract --model-dir $model_dir --input-npz $out/.input.npz \
    --output ark,scp:$out/xvector.ark,$out/xvector.scp" || exit 1
rm -f $out/.input.npz
cp $in/utt2spk $in/spk2utt $out/ || exit 1
