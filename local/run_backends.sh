#!/bin/sh
# The paper's five back-ends on one front-end's vectors, scored on every evaluation set:
#   Cosine, PCA+Cosine, PLDA, LDA+PLDA, PCA+PLDA  ->  EER and minDCF per set.
#
# Usage: local/run_backends.sh [options] <front-end> <vector-root> <data-root> <out-dir>
#   <vector-root>/<train-set> and <vector-root>/<set>/{enroll,test} are data dirs with the
#   front-end's vectors (xvector.scp|ark, utt2spk, spk2utt); trials come from <data-root>/<set>/trials.
#   Writes models under <out-dir>, scores under <out-dir>/<set>, logs under <out-dir>/log, and
#   <out-dir>/results.tsv (front_end backend set eer mindcf...) once every score exists.
#
# Everything is done by Kaldi's tools (or ours of the same names), as in Kaldi's sitw/v2 recipe:
# the training mean is subtracted everywhere (cosine included), LDA/PCA are trained on the
# centred training vectors, PLDA on the centred, projected, length-normalised ones.
# --score-norm asnorm adds <backend>_asnorm scores (local/score_norm.py): AS-norm with the
# training speakers' mean vectors as the cohort, taken through each back-end's own steps.
train_set=train
eval_sets="sitw_dev sitw_eval"
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
num_em_iters=10
p_targets="0.01 0.001"
backends="cosine pca_cosine plda lda_plda pca_plda"
models_from=        # take mean.vec, lda.mat, pca.mat and the PLDAs from this dir instead of training
adapt_from=         # data dir: adapt the PLDAs to its vectors without labels (ivector-adapt-plda)
within_covar_scale=0.3       # Kaldi's defaults for ivector-adapt-plda
between_covar_scale=0.7
mean_diff_scale=1.0
score_norm=none     # asnorm: also score every back-end with AS-norm (scores_<backend>_asnorm)
top_n=300           # AS-norm: cohort scores per side in the statistics
stage=0
nj=1                # scoring jobs per back-end and set; the trials are split into nj parts
cmd=${train_cmd:-local/run_log.sh}   # job runner, run.pl-style (cmd.sh)
. local/parse_options.sh || exit 1
case $score_norm in none|asnorm) ;;
  *) echo "ERROR ($0): --score-norm must be none or asnorm, got '$score_norm'" >&2; exit 1 ;;
esac
if [ $# -ne 4 ]; then
  echo "Usage: $0 [options] <front-end> <vector-root> <data-root> <out-dir>" >&2; exit 1
fi
front_end=$1; vroot=$2; droot=$3; out=$4
log=$out/log
run=$cmd
mkdir -p "$out" "$log" || exit 1

keys_of() {  # an rxfilename with the first two fields of each line of a trials file
  echo "sed 's/^[[:space:]]*//; s/[[:space:]][[:space:]]*/ /g' $1 | cut -d ' ' -f 1,2 |"
}

model_files="mean.vec lda.mat pca.mat plda lda_plda pca_plda"
if [ $stage -le 0 ] && [ -n "$models_from" ]; then
  # Models trained elsewhere (e.g. in-domain, for the out-of-domain protocol's scheme 1).
  for f in $model_files; do
    cp "$models_from/$f" "$out/$f" || { echo "ERROR ($0): $models_from/$f: missing" >&2; exit 1; }
  done
  if [ "$score_norm" = asnorm ]; then
    cp "$models_from/cohort.ark" "$out/" || { echo "ERROR ($0): $models_from/cohort.ark: missing (AS-norm cohort)" >&2; exit 1; }
  fi
elif [ $stage -le 0 ]; then
  train_dir=$vroot/$train_set
  train_vec=$(local/vectors_of.sh "$train_dir") || exit 1
  centred="ivector-subtract-global-mean $train_vec ark:- |"
  # Models trained once per front-end: mean, LDA, PCA and the three PLDAs.
  $run $log/mean.log ivector-mean "$train_vec" $out/mean.vec || exit 1
  $run $log/lda.log ivector-compute-lda --dim=$lda_dim \
    --total-covariance-factor=$lda_total_covariance_factor \
    "ark:$centred" "ark:$train_dir/utt2spk" $out/lda.mat || exit 1
  $run $log/pca.log est-pca --read-vectors=true --normalize-mean=false --dim=$pca_dim \
    "ark:$centred" $out/pca.mat || exit 1
  $run $log/plda.log ivector-compute-plda --num-em-iters=$num_em_iters "ark:$train_dir/spk2utt" \
    "ark:$centred ivector-normalize-length ark:- ark:- |" $out/plda || exit 1
  for proj in lda pca; do
    $run $log/${proj}_plda.log ivector-compute-plda --num-em-iters=$num_em_iters \
      "ark:$train_dir/spk2utt" \
      "ark:$centred transform-vec $out/$proj.mat ark:- ark:- | ivector-normalize-length ark:- ark:- |" \
      $out/${proj}_plda || exit 1
  done
  if [ "$score_norm" = asnorm ]; then
    # AS-norm cohort: one mean vector per training speaker.
    $run $log/cohort.log ivector-mean "ark:$train_dir/spk2utt" "$train_vec" ark:$out/cohort.ark || exit 1
  fi
fi

if [ $stage -le 0 ] && [ -n "$adapt_from" ]; then
  # Unsupervised PLDA adaptation: the unlabelled vectors go through the same centring,
  # projection and length normalisation as the PLDA's own training data.
  adapt_vec=$(local/vectors_of.sh "$adapt_from") || exit 1
  for plda in plda lda_plda pca_plda; do
    case $plda in
      plda) proj="" ;;
      *) proj="transform-vec $out/${plda%_plda}.mat ark:- ark:- |" ;;
    esac
    $run $log/adapt_$plda.log ivector-adapt-plda --within-covar-scale=$within_covar_scale \
      --between-covar-scale=$between_covar_scale --mean-diff-scale=$mean_diff_scale $out/$plda \
      "ark:ivector-subtract-global-mean $out/mean.vec $adapt_vec ark:- | $proj ivector-normalize-length ark:- ark:- |" \
      $out/$plda.adapted || exit 1
    mv $out/$plda.adapted $out/$plda || exit 1
  done
fi

if [ $stage -le 1 ]; then
  for set in $eval_sets; do
    sdir=$out/$set; mkdir -p $sdir || exit 1
    enroll_dir=$vroot/$set/enroll; test_dir=$vroot/$set/test; trials=$droot/$set/trials
    enroll_vec=$(local/vectors_of.sh "$enroll_dir") || exit 1
    test_vec=$(local/vectors_of.sh "$test_dir") || exit 1
    # An enrolment model is the mean of its utterances' vectors; num_utts goes to PLDA scoring.
    $run $log/$set.models.log ivector-mean "ark:$enroll_dir/spk2utt" "$enroll_vec" \
      ark:$sdir/models.ark ark,t:$sdir/num_utts.ark || exit 1
    # Fields may be separated by any white space, as Kaldi's readers take them (not just ' ').
    # No '$' in the pipe: run.pl (and run_log.sh) pass it to bash inside double quotes.
    if [ "$nj" -gt 1 ]; then
      # nj scoring jobs, each on a consecutive part of the trials (Kaldi's split layout);
      # their scores are concatenated in order below.
      python3 -m data_utils.split_data --lines "$trials" $nj $sdir || exit 1
      part=$sdir/split$nj/JOB; jobs="JOB=1:$nj"; job=.JOB
      trial_keys="$(keys_of "$part/$(basename "$trials")")"
    else
      part=$sdir; jobs=""; job=""
      trial_keys="$(keys_of "$trials")"
    fi
    for backend in $backends; do
      case $backend in
        cosine|plda) proj="" ;;
        pca_*) proj="transform-vec $out/pca.mat ark:- ark:- |" ;;
        lda_*) proj="transform-vec $out/lda.mat ark:- ark:- |" ;;
      esac
      case $backend in
        *cosine)
          # Cosine = dot product of centred (projected) vectors scaled to unit length.
          models="ark:ivector-subtract-global-mean $out/mean.vec ark:$sdir/models.ark ark:- | $proj ivector-normalize-length --scaleup=false ark:- ark:- |"
          tests="ark:ivector-subtract-global-mean $out/mean.vec $test_vec ark:- | $proj ivector-normalize-length --scaleup=false ark:- ark:- |"
          $run $jobs $log/$set.$backend$job.log ivector-compute-dot-products "$trial_keys" \
            "$models" "$tests" $part/scores_$backend || exit 1 ;;
        *plda)
          models="ark:ivector-subtract-global-mean $out/mean.vec ark:$sdir/models.ark ark:- | $proj ivector-normalize-length ark:- ark:- |"
          tests="ark:ivector-subtract-global-mean $out/mean.vec $test_vec ark:- | $proj ivector-normalize-length ark:- ark:- |"
          $run $jobs $log/$set.$backend$job.log ivector-plda-scoring --normalize-length=true \
            --num-utts=ark:$sdir/num_utts.ark \
            "ivector-copy-plda --smoothing=0.0 $out/$backend - |" \
            "$models" "$tests" "$trial_keys" $part/scores_$backend || exit 1 ;;
      esac
      if [ "$nj" -gt 1 ]; then
        n=1; while [ $n -le $nj ]; do cat $sdir/split$nj/$n/scores_$backend || exit 1; n=$((n + 1)); done \
          > $sdir/scores_$backend.tmp && mv $sdir/scores_$backend.tmp $sdir/scores_$backend || exit 1
      fi
      if [ "$score_norm" = asnorm ]; then
        # The cohort goes through the same steps as the test vectors.
        case $backend in
          *cosine) norm_opts=""; unit="--scaleup=false" ;;
          *plda) norm_opts="--plda=$out/$backend --num-utts=ark:$sdir/num_utts.ark"; unit="" ;;
        esac
        cohort="ark:ivector-subtract-global-mean $out/mean.vec ark:$out/cohort.ark ark:- | $proj ivector-normalize-length $unit ark:- ark:- |"
        $run $log/$set.${backend}_asnorm.log python3 local/score_norm.py --top-n=$top_n $norm_opts \
          "$models" "$tests" "$cohort" $sdir/scores_$backend $sdir/scores_${backend}_asnorm || exit 1
      fi
    done
  done
fi

if [ $stage -le 2 ]; then
  # EER by compute-eer and minDCF by sid/compute_min_dcf.py, gathered into results.tsv.
  if [ "$score_norm" = asnorm ]; then
    backends=$(for b in $backends; do printf '%s %s_asnorm ' $b $b; done)
  fi
  rows=$out/.results.tsv.tmp
  header="front_end	backend	set	eer"
  for p in $p_targets; do header="$header	mindcf_$p"; done
  echo "$header" > $rows || exit 1
  for set in $eval_sets; do
    sdir=$out/$set; trials=$droot/$set/trials
    for backend in $backends; do
      scores=$sdir/scores_$backend
      # paste pairs lines: a scorer that skipped trials would misalign every later score.
      if [ "$(wc -l < $scores)" -ne "$(wc -l < $trials)" ]; then
        echo "ERROR ($0): $scores has $(wc -l < $scores) scores for $(wc -l < $trials) trials in $trials" >&2
        exit 1
      fi
      eer=$(paste $trials $scores | awk '{print $6, $3}' | compute-eer - 2>$log/$set.$backend.eer.log)
      [ -n "$eer" ] || { echo "$0: compute-eer failed; see $log/$set.$backend.eer.log" >&2; exit 1; }
      row="$front_end	$backend	$set	$eer"
      for p in $p_targets; do
        dcf=$(compute_min_dcf.py --p-target $p --c-miss 1 --c-fa 1 $scores $trials 2>>$log/$set.$backend.eer.log) ||
          { echo "$0: compute_min_dcf.py failed; see $log/$set.$backend.eer.log" >&2; exit 1; }
        row="$row	$dcf"
      done
      echo "$row" >> $rows
    done
  done
  mv $rows $out/results.tsv || exit 1
fi
exit 0
