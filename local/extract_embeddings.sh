#!/bin/sh
# Code means mu(x) of a trained model for several data dirs, each as a Kaldi data dir.
# Usage: local/extract_embeddings.sh [--nj N] [--cmd CMD] <model-dir> <log> <in-data-dir> <out-data-dir> [<in> <out> ...]
# Each <out> gets xvector.scp (same keys and order as its input) with its ark(s), plus
# utt2spk and spk2utt. model.extract reads each input's table directly and writes its
# output as it goes. Every part goes through one extractor process per job, so
# TensorFlow starts once per job, not once per part.
# --nj N splits every input into N parts (<in>/split<N>/<n>, Kaldi's split_data.sh layout)
# and runs N jobs through --cmd (default $train_cmd from cmd.sh) with logs <log>.<n>;
# job n writes <out>/xvector.<n>.{ark,scp}, and <out>/xvector.scp lists them in input order.
nj=1
cmd=${train_cmd:-local/run_log.sh}
. local/parse_options.sh || exit 1
if [ $# -lt 4 ] || [ $(( $# % 2 )) -ne 0 ]; then
  echo "Usage: $0 [--nj N] [--cmd CMD] <model-dir> <log> <in-data-dir> <out-data-dir> [<in> <out> ...]" >&2; exit 1
fi
model_dir=$1; log=$2; shift 2
args=""; pairs="$*"
while [ $# -gt 0 ]; do
  mkdir -p "$2" || exit 1
  rm -f "$2"/xvector.[0-9]*.ark "$2"/xvector.[0-9]*.scp   # parts of an earlier run with another --nj
  if [ "$nj" -eq 1 ]; then
    args="$args --input $(local/vectors_of.sh "$1") --output ark,scp:$2/xvector.ark,$2/xvector.scp" || exit 1
  else
    python3 -m data_utils.split_data "$1" $nj || exit 1
    args="$args --input scp:$1/split$nj/JOB/xvector.scp --output ark,scp:$2/xvector.JOB.ark,$2/xvector.JOB.scp"
  fi
  shift 2
done
if [ "$nj" -eq 1 ]; then
  $cmd $log python3 -m model.extract --model-dir $model_dir $args || exit 1
else
  $cmd JOB=1:$nj ${log%.log}.JOB.log python3 -m model.extract --model-dir $model_dir $args || exit 1
fi
set -- $pairs
while [ $# -gt 0 ]; do
  if [ "$nj" -gt 1 ]; then
    rm -f "$2/xvector.ark"
    n=1; while [ $n -le $nj ]; do cat "$2/xvector.$n.scp" || exit 1; n=$((n + 1)); done \
      > "$2/xvector.scp.tmp" && mv "$2/xvector.scp.tmp" "$2/xvector.scp" || exit 1
  fi
  cp "$1/utt2spk" "$1/spk2utt" "$2/" || exit 1
  shift 2
done
