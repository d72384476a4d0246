#!/bin/sh
# Adapt trained back-end models to another domain's vectors, without labels: each PLDA of
# conf/backends.tsv by ivector-adapt-plda (Kaldi's unsupervised adaptation), the mean, LDA,
# PCA and AS-norm cohorts kept as they are (the paper's out-of-domain scheme 3).
#
# Usage: local/adapt_backends.sh [options] <backend-dir> <adapt-dir> <adapted-backend-dir>
#   <backend-dir>: models of local/train_backends.sh; <adapt-dir>: a data dir with vectors
#   (xvector.scp|ark). <adapted-backend-dir> may be <backend-dir> (adapted in place).
# The adaptation vectors go through the same centring, projection and length normalisation
# as the PLDA's own training data. Logs go to <adapted-backend-dir>/log.
within_covar_scale=0.3       # Kaldi's defaults for ivector-adapt-plda
between_covar_scale=0.7
mean_diff_scale=1.0
cmd=${train_cmd:-local/run_log.sh}   # job runner, run.pl-style (cmd.sh)
. local/parse_options.sh || exit 1
if [ $# -ne 3 ]; then
  echo "Usage: $0 [options] <backend-dir> <adapt-dir> <adapted-backend-dir>" >&2; exit 1
fi
backend=$1; adapt_dir=$2; adapted=$3
log=$adapted/log
mkdir -p "$log" || exit 1

if [ "$adapted" != "$backend" ]; then
  for f in mean.vec lda.mat pca.mat; do
    cp "$backend/$f" "$adapted/$f" || { echo "ERROR ($0): $backend/$f: missing" >&2; exit 1; }
  done
  for f in cohort.ark cohort_utts.ark; do
    if [ -f "$backend/$f" ]; then cp "$backend/$f" "$adapted/" || exit 1; fi
  done
fi
adapt_vec=$(local/vectors_of.sh "$adapt_dir") || exit 1
for plda in $(local/names.sh backends plda); do
  proj=$(local/names.sh projection $plda) || exit 1
  [ $proj = none ] && transform="" || transform="transform-vec $adapted/$proj.mat ark:- ark:- |"
  $cmd $log/adapt_$plda.log ivector-adapt-plda --within-covar-scale=$within_covar_scale \
    --between-covar-scale=$between_covar_scale --mean-diff-scale=$mean_diff_scale $backend/$plda \
    "ark:ivector-subtract-global-mean $adapted/mean.vec $adapt_vec ark:- | $transform ivector-normalize-length ark:- ark:- |" \
    $adapted/$plda.adapted || exit 1
  mv $adapted/$plda.adapted $adapted/$plda || exit 1
done
exit 0
