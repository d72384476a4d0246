#!/bin/sh
# baseline.sh: the five back-ends on the raw x-vectors (the x-vector rows of Table 1).
#
#   sh baseline.sh [--stage N] [--lda-dim 150] [--pca-dim 150] [--data DIR] ...
# Options are the variables below and those of conf/data.sh and conf/backend.sh, as --name value.
# Results: $exp/backend/xvector/<set>/results.tsv, merged into $exp/results/results.{tsv,md}.
# Paths below are relative to the repository root (as in a Kaldi egs/ dir).
[ -f local/recipe_setup.sh ] && [ -f path.sh ] ||
  { echo "ERROR (baseline.sh): run it from the repository root: cd $(dirname "$0") && sh baseline.sh ..." >&2; exit 1; }
recipe=baseline.sh
stage=0
stop_stage=100          # run stages --stage to --stop-stage, as in Kaldi's recipes
nj=1                    # parallel scoring jobs ($train_cmd, from cmd.sh)
help_message="Usage: sh baseline.sh [--stage N] [--stop-stage N] [--data DIR] [--exp DIR] [--eval-sets \"a b\"] [--lda-dim N] [--pca-dim N] [--nj N] [--score-norm asnorm|none] [--asnorm-top-n N]"
# Back-end options (--lda-dim, --pca-dim, --score-norm, ...): conf/backend.sh.
. local/recipe_setup.sh

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  local/prepare_data.sh "$data" "$train_set" "$eval_sets" "$exp/log" || exit 1
  identify_run "" || exit 1
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "baseline.sh: back-ends on x-vectors ..." >&2
  run_backends_on xvector "$data" || exit 1
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  make_table $(results_of xvector) || exit 1
fi
echo "baseline.sh: done; table in $exp/results/results.md" >&2
