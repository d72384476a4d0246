#!/bin/sh
# eval.sh: v-/c-/a-vectors out of the trained models, the five back-ends on each, and the
# results table (with the x-vector rows of baseline.sh) like the paper's Table 1.
#
#   sh eval.sh [--model "vae cvae ae dnf"] [--lda-dim 150] [--pca-dim 150] [--score-norm none] [--stage N] ...
# Vectors: $exp/vectors/<model>/<train-set|set/enroll|set/test>/xvector.{ark,scp} (Kaldi float
# vectors, the code mean mu(x)) with utt2spk and spk2utt, so Kaldi's tools read them directly.
stage=0
model="vae cvae ae dnf"
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
analysis=true           # stage 4: Gaussianity table (Table 2), DET plots and score histograms
nj=1                    # parallel jobs for extraction and scoring ($train_cmd, from cmd.sh)
score_norm=asnorm       # also report every back-end with AS-norm (local/score_norm.py); none: off
asnorm_top_n=300        # AS-norm: cohort scores per side in the statistics
help_message="Usage: sh eval.sh [--stage N] [--model \"vae cvae ae dnf\"] [--lda-dim N] [--pca-dim N] [--score-norm asnorm|none] [--asnorm-top-n N] [--data DIR] [--eval-sets \"a b\"] [--nj N]"

. ./path.sh || exit 1
. ./cmd.sh
. conf/data.sh
. local/parse_options.sh || exit 1
case $score_norm in none|asnorm) ;;
  *) echo "ERROR ($0): --score-norm must be none or asnorm, got '$score_norm'" >&2; exit 1 ;;
esac
. local/lock.sh
# Paths first: a refused path must not leave a lock file behind.
local/check_paths.sh eval.sh "$data" "$exp" && take_lock $exp eval.sh || exit 1
echo "eval.sh: engine for back-end tools: $VV_ENGINE" >&2

if [ $stage -le 0 ]; then
  # Also checks that each model is trained, on vectors of the data's dimension.
  local/prepare_data.sh "$data" "$train_set" "$eval_sets" "$exp/log" \
    "$(for m in $model; do printf '%s ' $exp/$m; done)" || exit 1
fi

if [ $stage -le 1 ]; then
  for m in $model; do
    echo "eval.sh: extracting $m vectors ..." >&2
    pairs=""
    for part in $train_set $(for s in $eval_sets; do echo $s/enroll $s/test; done); do
      pairs="$pairs $data/$part $exp/vectors/$m/$part"
    done
    local/extract_embeddings.sh --nj $nj $exp/$m $exp/vectors/$m/log/extract.log $pairs || exit 1
  done
fi

if [ $stage -le 2 ]; then
  for m in $model; do
    echo "eval.sh: back-ends on $m vectors ..." >&2
    local/run_backends.sh --nj $nj --train-set "$train_set" --eval-sets "$eval_sets" --lda-dim $lda_dim \
      --pca-dim $pca_dim --lda-total-covariance-factor $lda_total_covariance_factor \
      --score-norm $score_norm --top-n $asnorm_top_n \
      $m $exp/vectors/$m "$data" $exp/backend/$m || exit 1
  done
fi

if [ $stage -le 3 ]; then
  rows=""
  for m in $model; do rows="$rows $exp/backend/$m/results.tsv"; done
  python3 local/results_table.py --table-dir $exp/results $rows || exit 1
fi

if [ $stage -le 4 ] && [ "$analysis" = true ]; then
  # Table 2: skewness and kurtosis of each front-end on the training set.
  gauss="python3 local/gaussianity.py --utt2spk $data/$train_set/utt2spk --out-tsv $exp/results/gaussianity.tsv"
  $train_cmd $exp/log/gaussianity_xvector.log $gauss --front-end xvector \
    --vectors $(local/vectors_of.sh $data/$train_set) || exit 1
  for m in $model; do
    $train_cmd $exp/log/gaussianity_$m.log $gauss --front-end $m \
      --vectors scp:$exp/vectors/$m/$train_set/xvector.scp || exit 1
  done
  echo; echo "Gaussianity of the training set (average over dimensions; $exp/results/gaussianity.md):"
  cat $exp/results/gaussianity.md
  # DET curves and score histograms: one PNG per set and back-end, the front-ends overlaid
  # (x-vectors too when baseline.sh has run).
  plots=$exp/results/plots; mkdir -p $plots || exit 1
  for set in $eval_sets; do
    for b in cosine pca_cosine plda lda_plda pca_plda; do
      named=""
      for fe in xvector $model; do
        case $fe in xvector) label=x-vector ;; ae) label=a-vector ;; vae) label=v-vector ;;
                    cvae) label=c-vector ;; dnf) label=n-vector ;; *) label=$fe ;; esac
        [ -f $exp/backend/$fe/$set/scores_$b ] && named="$named $label=$exp/backend/$fe/$set/scores_$b"
      done
      $train_cmd $plots/log/${set}_$b.log python3 local/plot_det.py --trials $data/$set/trials \
        --title "$set, $b" --out $plots/det_${set}_$b.png --hist-out $plots/hist_${set}_$b.png \
        $named || exit 1
    done
  done
  echo "DET curves and score histograms: $plots/{det,hist}_<set>_<backend>.png"
fi
echo "eval.sh: done; table in $exp/results/results.md" >&2
