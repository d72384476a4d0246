#!/bin/sh
# baseline.sh: the five back-ends on the raw x-vectors (the x-vector rows of Table 1).
#
#   sh baseline.sh [--stage N] [--lda-dim 150] [--pca-dim 150] [--data DIR] ...
# Options are the variables below and those of conf/data.sh, as --name value.
# Results: $exp/backend/xvector/results.tsv, merged into $exp/results/results.{tsv,md}.
stage=0
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
nj=1                    # parallel scoring jobs ($train_cmd, from cmd.sh)
score_norm=asnorm       # also report every back-end with AS-norm (local/score_norm.py); none: off
asnorm_top_n=300        # AS-norm: cohort scores per side in the statistics
help_message="Usage: sh baseline.sh [--stage N] [--data DIR] [--eval-sets \"a b\"] [--lda-dim N] [--pca-dim N] [--nj N] [--score-norm asnorm|none] [--asnorm-top-n N]"

. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. local/parse_options.sh || exit 1
case $score_norm in none|asnorm) ;;
  *) echo "ERROR ($0): --score-norm must be none or asnorm, got '$score_norm'" >&2; exit 1 ;;
esac
. local/lock.sh
# Paths first: a refused path must not leave a lock file behind.
local/check_paths.sh baseline.sh "$data" "$exp" && take_lock $exp baseline.sh || exit 1
echo "baseline.sh: engine for back-end tools: $VV_ENGINE" >&2

if [ $stage -le 0 ]; then
  local/prepare_data.sh "$data" "$train_set" "$eval_sets" "$exp/log" || exit 1
fi
if [ $stage -le 1 ]; then
  echo "baseline.sh: back-ends on x-vectors ..." >&2
  local/run_backends.sh --nj $nj --train-set "$train_set" --eval-sets "$eval_sets" --lda-dim $lda_dim \
    --pca-dim $pca_dim --lda-total-covariance-factor $lda_total_covariance_factor \
    --score-norm $score_norm --top-n $asnorm_top_n \
    xvector "$data" "$data" $exp/backend/xvector || exit 1
fi
if [ $stage -le 2 ]; then
  python3 local/results_table.py --table-dir $exp/results $exp/backend/xvector/results.tsv || exit 1
fi
echo "baseline.sh: done; table in $exp/results/results.md" >&2
