#!/bin/sh
# Train the back-end models of one front-end's vectors, as in Kaldi's sitw/v2 recipe:
#   mean.vec      the training mean, subtracted everywhere (cosine included);
#   lda.mat, pca.mat   LDA and PCA of the centred training vectors;
#   <backend>     one PLDA per PLDA back-end of conf/backends.tsv (plda, lda_plda, pca_plda),
#                 on the centred, projected, length-normalised training vectors;
#   cohort.ark, cohort_utts.ark   with --cohort true, AS-norm's cohorts: each training
#                 speaker's mean (cohort.ark, for the cosine back-ends), and up to --cohort-size
#                 training utterances, spread evenly over the speakers (cohort_utts.ark, for the
#                 PLDA back-ends; see score_backends.sh).
#
# Usage: local/train_backends.sh [options] <train-dir> <backend-dir>
#   <train-dir>: a data dir with the front-end's vectors (xvector.scp|ark), utt2spk, spk2utt.
# Logs go to <backend-dir>/log. With --adapt-from DIR the PLDAs are then adapted without
# labels to DIR's vectors (local/adapt_backends.sh, in place).
lda_dim=150
pca_dim=150
lda_total_covariance_factor=0.0
num_em_iters=10
cohort=false        # true: also the AS-norm cohorts (cohort.ark, cohort_utts.ark)
cohort_size=3000    # utterances in cohort_utts.ark (fewer if training has fewer)
adapt_from=         # data dir: adapt the PLDAs to its vectors without labels (ivector-adapt-plda)
stage=0
cmd=${train_cmd:-local/run_log.sh}   # job runner, run.pl-style (cmd.sh)
. local/parse_options.sh || exit 1
if [ $# -ne 2 ]; then
  echo "Usage: $0 [options] <train-dir> <backend-dir>" >&2; exit 1
fi
case "$cohort_size" in
  ''|*[!0-9]*|0) echo "ERROR ($0): --cohort-size must be a positive integer, got '$cohort_size'" >&2; exit 1 ;;
esac
train_dir=$1; backend=$2
log=$backend/log
mkdir -p "$log" || exit 1

if [ $stage -le 0 ]; then
  train_vec=$(local/vectors_of.sh "$train_dir") || exit 1
  centred="ivector-subtract-global-mean $train_vec ark:- |"
  $cmd $log/mean.log ivector-mean "$train_vec" $backend/mean.vec || exit 1
  $cmd $log/lda.log ivector-compute-lda --dim=$lda_dim \
    --total-covariance-factor=$lda_total_covariance_factor \
    "ark:$centred" "ark:$train_dir/utt2spk" $backend/lda.mat || exit 1
  $cmd $log/pca.log est-pca --read-vectors=true --normalize-mean=false --dim=$pca_dim \
    "ark:$centred" $backend/pca.mat || exit 1
  for plda in $(local/names.sh backends plda); do
    proj=$(local/names.sh projection $plda) || exit 1
    [ $proj = none ] && transform="" || transform="transform-vec $backend/$proj.mat ark:- ark:- |"
    $cmd $log/$plda.log ivector-compute-plda --num-em-iters=$num_em_iters "ark:$train_dir/spk2utt" \
      "ark:$centred $transform ivector-normalize-length ark:- ark:- |" $backend/$plda || exit 1
  done
  if [ "$cohort" = true ]; then
    $cmd $log/cohort.log ivector-mean "ark:$train_dir/spk2utt" "$train_vec" ark:$backend/cohort.ark || exit 1
    # Utterances taken round-robin over the speakers (each speaker's first in spk2utt, then
    # each one's second, ...) up to --cohort-size, each as a "speaker" of its own, so that
    # ivector-mean copies its vector (the vectors may be an ark without an scp).
    awk '{ for (i = 2; i <= NF; i++) print i - 1, NR, $i }' $train_dir/spk2utt | sort -k1,1n -k2,2n | \
      head -n $cohort_size | awk '{ print $3, $3 }' > $backend/cohort_utts.map || exit 1
    $cmd $log/cohort_utts.log ivector-mean ark:$backend/cohort_utts.map "$train_vec" \
      ark:$backend/cohort_utts.ark || exit 1
  fi
fi

if [ $stage -le 1 ] && [ -n "$adapt_from" ]; then
  local/adapt_backends.sh --cmd "$cmd" $backend "$adapt_from" $backend || exit 1
fi
exit 0
