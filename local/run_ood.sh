#!/bin/sh
# The paper's out-of-domain protocol (Table 3) on one labelled data dir, k-fold by speaker:
#   scheme1  the in-domain front-ends and back-ends applied as they are;
#   scheme2  for each fold, everything but the x-vectors retrained on the other folds
#            (VAE/cVAE/AE by train.sh, back-ends by eval.sh/baseline.sh) and the fold scored;
#   scheme3  as scheme1, with each PLDA adapted without labels to the other folds.
# Scores are pooled over the folds for EER and minDCF; the table goes to $exp/results_ood/.
#
#   sh local/run_ood.sh [--ood-data data/demo/shifted] [--folds 3] [--schemes "1 2 3"] ...
# Needs the in-domain run first (baseline.sh, train.sh, eval.sh) for schemes 1 and 3.
# Training options of train.sh (--epochs, --kl-weight, ...) can be given with --train-opts "...".
# Trials: the data dir's own list of utterance pairs ("enroll-utt test-utt target|nontarget")
# when it has one ($ood_data/trials, or --ood-trials FILE), else generated per fold.
ood_data=data/demo/shifted
ood_trials=
folds=3
seed=7
model="vae cvae ae dnf"
schemes="1 2 3"
train_opts=""
lda_dim=150
pca_dim=150
stage=0
nj=1                # parallel extraction jobs ($train_cmd, from cmd.sh)
. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. local/parse_options.sh || exit 1

ood=$exp/ood
fold_sets=$(i=1; while [ $i -le $folds ]; do printf 'fold%d ' $i; i=$((i + 1)); done)
dims="--lda-dim $lda_dim --pca-dim $pca_dim"

if [ $stage -le 0 ]; then
  local/check_paths.sh "$0" "$ood_data" "$exp" ${ood_trials:+"$ood_trials"} || exit 1
  if [ "${ood_data%/}" = data/demo/shifted ] && [ ! -f data/demo/README ]; then
    local/prepare_data.sh data/demo train "" $exp/log || exit 1
  fi
  [ -z "$ood_trials" ] && [ -f "$ood_data/trials" ] && ood_trials=$ood_data/trials
  $train_cmd $ood/log/kfold.log python3 local/kfold.py --data "$ood_data" --out $ood/folds \
    --folds $folds --seed $seed ${ood_trials:+--trials "$ood_trials"} || exit 1
fi

if [ $stage -le 1 ]; then
  # Schemes 1 and 3 need the in-domain vectors of each fold from the in-domain models.
  for m in $model; do
    pairs=""
    for set in $fold_sets; do
      for part in train enroll test; do pairs="$pairs $ood/folds/$set/$part $ood/vectors/$m/$set/$part"; done
    done
    local/extract_embeddings.sh --nj $nj $exp/$m $ood/vectors/$m/log/extract.log $pairs || exit 1
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

if [ $stage -le 2 ]; then
  for scheme in $schemes; do
    for fe in xvector $model; do
      echo "$0: scheme $scheme, $fe ..." >&2
      for set in $fold_sets; do
        out=$ood/scheme$scheme/$fe/$set
        case $scheme in
          1) local/run_backends.sh --eval-sets $set --models-from $exp/backend/$fe $dims \
               $fe $(vectors_root $fe) $ood/folds $out || exit 1 ;;
          3) local/run_backends.sh --eval-sets $set --models-from $exp/backend/$fe \
               --adapt-from $(vectors_root $fe)/$set/train --backends "plda lda_plda pca_plda" $dims \
               $fe $(vectors_root $fe) $ood/folds $out || exit 1 ;;
          2) # The recipes themselves, pointed at the fold: its training part and its trials.
             fold_exp=$ood/scheme2/exp_$set
             if [ $fe = xvector ]; then
               sh baseline.sh --data $ood/folds --train-set $set/train --eval-sets $set --exp $fold_exp $dims \
                 --score-norm none || exit 1
             else
               sh train.sh --data $ood/folds --train-set $set/train --exp $fold_exp --model $fe $train_opts || exit 1
               sh eval.sh --data $ood/folds --train-set $set/train --eval-sets $set --exp $fold_exp --model $fe \
                 --analysis false --score-norm none $dims || exit 1
             fi
             mkdir -p $out/$set && cp $fold_exp/backend/$fe/$set/scores_* $out/$set/ || exit 1 ;;
        esac
      done
    done
  done
fi

if [ $stage -le 3 ]; then
  # Pool each scheme's fold scores (and trials) into one "set" named after the scheme, and
  # let run_backends.sh's scoring stage compute EER and minDCF on it.
  mkdir -p $ood/pooled || exit 1
  rows=""
  for scheme in $schemes; do
    mkdir -p $ood/pooled/scheme$scheme || exit 1
    for set in $fold_sets; do cat $ood/folds/$set/trials; done > $ood/pooled/scheme$scheme/trials || exit 1
    for fe in xvector $model; do
      backends="cosine pca_cosine plda lda_plda pca_plda"
      [ $scheme = 3 ] && backends="plda lda_plda pca_plda"
      dir=$ood/scheme$scheme/$fe; mkdir -p $dir/scheme$scheme || exit 1
      for b in $backends; do
        for set in $fold_sets; do cat $dir/$set/$set/scores_$b || exit 1; done \
          > $dir/scheme$scheme/scores_$b || exit 1
      done
      local/run_backends.sh --stage 2 --eval-sets scheme$scheme --backends "$backends" \
        $fe - $ood/pooled $dir || exit 1
      rows="$rows $dir/results.tsv"
    done
  done
  python3 local/results_table.py --table-dir $exp/results_ood $rows || exit 1
fi
echo "$0: done; table in $exp/results_ood/results.md" >&2
