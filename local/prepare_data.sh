#!/bin/sh
# Make sure the data are there and sound before a recipe starts working on them.
# Usage: local/prepare_data.sh <data> <train-set> "<eval-sets>" <log-dir> ["<model-dirs>"]
# The embedded demo corpora are generated on first use (local/make_demo.sh); any other
# data dir must already exist. Then every set is checked
# (vectors, utt2spk/spk2utt, one dimension across sets, trials' keys). Paths with white
# space are refused first (local/check_paths.sh says why). Model dirs, when given, must
# hold trained models whose input dimension is the data's (eval.sh, before extracting).
if [ $# -ne 4 ] && [ $# -ne 5 ]; then
  echo "Usage: $0 <data> <train-set> \"<eval-sets>\" <log-dir> [\"<model-dirs>\"]" >&2; exit 1
fi
data=$1; train_set=$2; eval_sets=$3; logdir=$4; model_dirs=${5:-}
local/check_paths.sh "$0" "$data" "$train_set" "$logdir" || exit 1
local/make_demo.sh "$data" "$logdir" || exit 1
${train_cmd:-local/run_log.sh} $logdir/check_sets.log python3 -m data_utils.check_sets --data "$data" \
  --train-set "$train_set" --eval-sets "$eval_sets" --model-dirs "$model_dirs" || exit 1
sed -n 's/^[^#]/  &/p' $logdir/check_sets.log | grep -v '^  *check_sets' >&2
exit 0
