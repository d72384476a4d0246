#!/bin/sh
# The paper's out-of-domain protocol (Table 3) on one labelled data dir, k-fold by speaker:
#   scheme1  the in-domain front-ends and back-ends applied as they are;
#   scheme2  for each fold, everything but the x-vectors retrained on the other folds
#            (VAE/cVAE/AE by train.sh, back-ends by eval.sh/baseline.sh) and the fold scored;
#   scheme3  as scheme1, with each PLDA adapted without labels to the other folds.
# Scores are pooled over the folds for EER and minDCF; the table goes to $exp/results_ood/.
#
#   sh local/run_ood.sh [--ood-data data/demo/shifted] [--folds 3] [--schemes "1 2 3"] [--stop-stage N] ...
# Needs the in-domain run first (baseline.sh, train.sh, eval.sh) for schemes 1 and 3.
# Training options of train.sh (--epochs, --kl-weight, ...) can be given with --train-opts "...".
# Trials: the data dir's own list of utterance pairs ("enroll-utt test-utt target|nontarget")
# when it has one ($ood_data/trials, or --ood-trials FILE), else generated per fold.
ood_data=data/demo/shifted
ood_trials=
folds=3
seed=7
model=$(local/names.sh front_ends train.sh)   # the trained front-ends (conf/front_ends.tsv)
schemes="1 2 3"
train_opts=""
lda_dim=150
pca_dim=150
stage=0
stop_stage=100          # run stages --stage to --stop-stage, as in Kaldi's recipes
nj=1                # parallel extraction jobs ($train_cmd, from cmd.sh)
. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. local/parse_options.sh || exit 1
exp=${exp:-exp/$(basename "$data")}   # the in-domain run's exp dir (as baseline.sh, train.sh, eval.sh)

ood=$exp/ood
fold_sets=$(i=1; while [ $i -le $folds ]; do printf 'fold%d ' $i; i=$((i + 1)); done)
dims="--lda-dim $lda_dim --pca-dim $pca_dim"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  local/check_paths.sh "$0" "$ood_data" "$exp" ${ood_trials:+"$ood_trials"} || exit 1
  local/make_demo.sh "$ood_data" $exp/log || exit 1   # the default --ood-data is the demo's
  [ -z "$ood_trials" ] && [ -f "$ood_data/trials" ] && ood_trials=$ood_data/trials
  $train_cmd $ood/log/kfold.log python3 local/analysis/kfold.py --data "$ood_data" --out $ood/folds \
    --folds $folds --seed $seed ${ood_trials:+--trials "$ood_trials"} || exit 1
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  # Schemes 1 and 3 need the in-domain vectors of each fold from the in-domain models.
  for fe in $model; do
    pairs=""
    for set in $fold_sets; do
      for part in train enroll test; do pairs="$pairs $ood/folds/$set/$part $ood/vectors/$fe/$set/$part"; done
    done
    local/extract_embeddings.sh --nj $nj $exp/$fe $ood/vectors/$fe/log/extract.log $pairs || exit 1
  done
fi

vectors_root() {  # front-end -> where its fold vectors are
  if [ "$1" = xvector ]; then echo $ood/folds; else echo $ood/vectors/$1; fi
}

for scheme in $schemes; do
  case $scheme in
    1|3) [ -f $exp/backend/xvector/plda ] || { echo "ERROR ($0): scheme $scheme needs the in-domain back-ends; run baseline.sh and eval.sh first" >&2; exit 1; } ;;
    2) ;;
    *) echo "ERROR ($0): unknown scheme $scheme (1, 2 or 3)" >&2; exit 1 ;;
  esac
done

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  # Scores of each fold: $ood/scheme<N>/<front-end>/<fold>/scores_<backend> (schemes 1 and 3),
  # $ood/scheme2/exp_<fold>/backend/<front-end>/<fold>/scores_<backend> (scheme 2's recipes).
  for scheme in $schemes; do
    for fe in xvector $model; do
      echo "$0: scheme $scheme, $fe ..." >&2
      vec=$(vectors_root $fe)
      for set in $fold_sets; do
        out=$ood/scheme$scheme/$fe/$set
        fold="$vec/$set/enroll $vec/$set/test $ood/folds/$set/trials $out"
        case $scheme in
          1) local/score_backends.sh $exp/backend/$fe $fold || exit 1 ;;
          3) local/adapt_backends.sh $exp/backend/$fe $vec/$set/train $ood/scheme3/$fe/backend_$set || exit 1
             local/score_backends.sh --backends "$(local/names.sh backends plda)" \
               $ood/scheme3/$fe/backend_$set $fold || exit 1 ;;
          2) # The recipes themselves, pointed at the fold: its training part and its trials.
             fold_exp=$ood/scheme2/exp_$set
             if [ $fe = xvector ]; then
               sh baseline.sh --data $ood/folds --train-set $set/train --eval-sets $set --exp $fold_exp $dims \
                 --score-norm none || exit 1
             else
               sh train.sh --data $ood/folds --train-set $set/train --exp $fold_exp --model $fe $train_opts || exit 1
               sh eval.sh --data $ood/folds --train-set $set/train --eval-sets $set --exp $fold_exp --model $fe \
                 --analysis false --score-norm none $dims || exit 1
             fi ;;
        esac
      done
    done
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # Each scheme's fold scores pooled into $ood/scheme<N>/<front-end>/scores_<backend>, scored
  # against the folds' trials pooled in the same order ($ood/pooled/trials).
  mkdir -p $ood/pooled || exit 1
  for set in $fold_sets; do cat $ood/folds/$set/trials || exit 1; done > $ood/pooled/trials || exit 1
  rows=""
  for scheme in $schemes; do
    backends=$(local/names.sh backends) || exit 1
    [ $scheme = 3 ] && backends=$(local/names.sh backends plda)   # adaptation is a PLDA matter
    for fe in xvector $model; do
      pooled=$ood/scheme$scheme/$fe; mkdir -p $pooled || exit 1
      for b in $backends; do
        for set in $fold_sets; do
          [ $scheme = 2 ] && fold_scores=$ood/scheme2/exp_$set/backend/$fe/$set || fold_scores=$pooled/$set
          cat $fold_scores/scores_$b || exit 1
        done > $pooled/scores_$b || exit 1
      done
      local/compute_metrics.sh --backends "$backends" $fe scheme$scheme $ood/pooled/trials $pooled \
        $pooled/results.tsv || exit 1
      rows="$rows $pooled/results.tsv"
    done
  done
  python3 local/analysis/results_table.py --table-dir $exp/results_ood $rows || exit 1
fi
echo "$0: done; table in $exp/results_ood/results.md" >&2
