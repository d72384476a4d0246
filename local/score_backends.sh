#!/bin/sh
# Score one evaluation set with trained back-end models (local/train_backends.sh):
#   <score-dir>/scores_<backend>  "enroll-speaker test-utt score", in the trials' order,
# for each back-end of conf/backends.tsv (or --backends), and with --score-norm asnorm also
# scores_<backend>_asnorm (local/analysis/score_norm.py: AS-norm against a cohort of training
# vectors taken through each back-end's own steps: <backend-dir>/cohort.ark, the speakers'
# means, for the cosine back-ends; <backend-dir>/cohort_utts.ark, training utterances, for
# the PLDA back-ends, whose scorer takes a cohort vector as one utterance).
#
# Usage: local/score_backends.sh [options] <backend-dir> <enroll-dir> <test-dir> <trials> <score-dir>
#   <enroll-dir>, <test-dir>: data dirs with the front-end's vectors (xvector.scp|ark), utt2spk
#   and spk2utt (enrolment speaker -> utterances); <trials>: "enroll-speaker test-utt target|nontarget".
# An enrolment speaker is scored by the mean of its utterances' vectors (spk_means.ark, with
# num_utts.ark for PLDA scoring). Every vector is centred by the training mean (mean.vec),
# projected as its back-end says, and length-normalised. Logs go to <score-dir>/log.
backends=$(local/names.sh backends) || exit 1
score_norm=none     # asnorm: also every back-end with AS-norm (scores_<backend>_asnorm)
top_n=300           # AS-norm: cohort scores per side in the statistics
nj=1                # scoring jobs per back-end; the trials are split into nj parts
cmd=${train_cmd:-local/run_log.sh}   # job runner, run.pl-style (cmd.sh)
. local/parse_options.sh || exit 1
local/check_choice.sh $0 --score-norm "$score_norm" none asnorm || exit 1
if [ $# -ne 5 ]; then
  echo "Usage: $0 [options] <backend-dir> <enroll-dir> <test-dir> <trials> <score-dir>" >&2; exit 1
fi
backend=$1; enroll_dir=$2; test_dir=$3; trials=$4; dir=$5
log=$dir/log
mkdir -p "$log" || exit 1
if [ "$score_norm" = asnorm ]; then
  for f in cohort.ark cohort_utts.ark; do
    if [ ! -f $backend/$f ]; then
      echo "ERROR ($0): $backend/$f: missing (AS-norm's cohort: local/train_backends.sh --cohort true)" >&2
      exit 1
    fi
  done
fi
enroll_vec=$(local/vectors_of.sh "$enroll_dir") || exit 1
test_vec=$(local/vectors_of.sh "$test_dir") || exit 1

keys_of() {  # an rxfilename with the first two fields of each line of a trials file
  # Fields may be separated by any white space, as Kaldi's readers take them (not just ' ').
  # No '$' in the pipe: run.pl (and run_log.sh) pass it to bash inside double quotes.
  echo "sed 's/^[[:space:]]*//; s/[[:space:]][[:space:]]*/ /g' $1 | cut -d ' ' -f 1,2 |"
}

$cmd $log/spk_means.log ivector-mean "ark:$enroll_dir/spk2utt" "$enroll_vec" \
  ark:$dir/spk_means.ark ark,t:$dir/num_utts.ark || exit 1
if [ "$nj" -gt 1 ]; then
  # nj scoring jobs, each on a consecutive part of the trials (Kaldi's split layout);
  # their scores are concatenated in order below.
  python3 -m data_utils.split_data --lines "$trials" $nj $dir || exit 1
  part=$dir/split$nj/JOB; jobs="JOB=1:$nj"; job=.JOB
  trial_keys="$(keys_of "$part/$(basename "$trials")")"
else
  part=$dir; jobs=""; job=""
  trial_keys="$(keys_of "$trials")"
fi

for b in $backends; do
  proj=$(local/names.sh projection $b) || exit 1
  [ $proj = none ] && transform="" || transform="transform-vec $backend/$proj.mat ark:- ark:- |"
  scorer=$(local/names.sh scorer $b) || exit 1
  # Cosine wants unit length; PLDA scoring Kaldi's length, sqrt(dim).
  [ $scorer = cosine ] && unit="--scaleup=false" || unit=""
  prepare="ivector-subtract-global-mean $backend/mean.vec"   # then: <vectors> ark:- |
  ready="ark:- | $transform ivector-normalize-length $unit ark:- ark:- |"
  enroll="ark:$prepare ark:$dir/spk_means.ark $ready"
  test="ark:$prepare $test_vec $ready"
  case $scorer in
    cosine)  # the dot product of centred (projected) vectors scaled to unit length
      $cmd $jobs $log/$b$job.log ivector-compute-dot-products "$trial_keys" \
        "$enroll" "$test" $part/scores_$b || exit 1 ;;
    plda)
      $cmd $jobs $log/$b$job.log ivector-plda-scoring --normalize-length=true \
        --num-utts=ark:$dir/num_utts.ark "ivector-copy-plda --smoothing=0.0 $backend/$b - |" \
        "$enroll" "$test" "$trial_keys" $part/scores_$b || exit 1 ;;
    *) echo "ERROR ($0): conf/backends.tsv: back-end $b: unknown scorer '$scorer'" >&2; exit 1 ;;
  esac
  if [ "$nj" -gt 1 ]; then
    n=1; while [ $n -le $nj ]; do cat $dir/split$nj/$n/scores_$b || exit 1; n=$((n + 1)); done \
      > $dir/scores_$b.tmp && mv $dir/scores_$b.tmp $dir/scores_$b || exit 1
  fi
  if [ "$score_norm" = asnorm ]; then
    # The cohort goes through the same steps as the test vectors. PLDA scores a cohort
    # vector as one utterance (test side against the models, one-utterance model against
    # the test vectors), so its cohort is single utterances: a speaker's mean, length-
    # normalised and scored as one utterance, gets ratios far below and more spread than a
    # model's real non-target scores (demo: x-vector PLDA 2.44 % EER, 3.33 % with AS-norm
    # against the means, 2.33 % against utterances). Cosine ignores length; it does better
    # with the means. --top-n should be about a tenth of the cohort (score_norm.py).
    if [ $scorer = cosine ]; then
      norm_opts=""; cohort_ark=cohort.ark
    else
      norm_opts="--plda=$backend/$b --num-utts=ark:$dir/num_utts.ark"; cohort_ark=cohort_utts.ark
    fi
    cohort="ark:$prepare ark:$backend/$cohort_ark $ready"
    $cmd $log/${b}_asnorm.log python3 local/analysis/score_norm.py --top-n=$top_n $norm_opts \
      "$enroll" "$test" "$cohort" $dir/scores_$b $dir/scores_${b}_asnorm || exit 1
  fi
done
exit 0
