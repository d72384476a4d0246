#!/bin/sh
# eval.sh: v-/c-/a-vectors out of the trained models, the five back-ends on each, and the
# results table (with the x-vector rows of baseline.sh) like the paper's Table 1.
#
#   sh eval.sh [--model "vae cvae ae"] [--lda-dim 150] [--pca-dim 150] [--stage N] ...
# Vectors: $exp/vectors/<model>/<train-set|set/enroll|set/test>/xvector.{ark,scp} (Kaldi float
# vectors, the code mean mu(x)) with utt2spk and spk2utt, so Kaldi's tools read them directly.
stage=0
model="vae cvae ae"
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
help_message="Usage: sh eval.sh [--stage N] [--model \"vae cvae ae\"] [--lda-dim N] [--pca-dim N] [--data DIR] [--eval-sets \"a b\"]"

. ./path.sh || exit 1
. conf/data.sh
. local/parse_options.sh || exit 1
echo "eval.sh: engine for back-end tools: $VV_ENGINE" >&2

if [ $stage -le 0 ]; then
  local/prepare_data.sh "$data" "$train_set" "$eval_sets" $exp/log || exit 1
  for m in $model; do
    [ -f $exp/$m/config.json ] || { echo "ERROR (eval.sh): no trained model in $exp/$m; run train.sh first" >&2; exit 1; }
  done
fi

if [ $stage -le 1 ]; then
  for m in $model; do
    echo "eval.sh: extracting $m vectors ..." >&2
    for part in $train_set $(for s in $eval_sets; do echo $s/enroll $s/test; done); do
      local/extract_embeddings.sh $exp/$m "$data/$part" $exp/vectors/$m/$part \
        $exp/vectors/$m/log/$(echo $part | tr / _).log || exit 1
    done
  done
fi

if [ $stage -le 2 ]; then
  for m in $model; do
    echo "eval.sh: back-ends on $m vectors ..." >&2
    local/run_backends.sh --train-set "$train_set" --eval-sets "$eval_sets" --lda-dim $lda_dim \
      --pca-dim $pca_dim --lda-total-covariance-factor $lda_total_covariance_factor \
      $m $exp/vectors/$m "$data" $exp/backend/$m || exit 1
  done
fi

if [ $stage -le 3 ]; then
  rows=""
  for m in $model; do rows="$rows $exp/backend/$m/results.tsv"; done
  python3 local/results_table.py --table-dir $exp/results $rows || exit 1
fi
echo "eval.sh: done; table in $exp/results/results.md" >&2
