#!/bin/sh
# From audio to the recipes' data in one command, with Kaldi: features and VAD, x-vectors
# from a trained Kaldi x-vector network, then the data layout that baseline.sh, train.sh and
# eval.sh read.
#
#   local/prepare_from_audio.sh [options] <nnet-dir> <egs-dir> <out-data-dir>
#   e.g. local/prepare_from_audio.sh --nj 8 --cmd "$train_cmd" --sets "sitw_dev sitw_eval" \
#          0007_voxceleb_v2_1a/exp/xvector_nnet_1a work/sitw data/sitw
#        sh baseline.sh --data data/sitw --eval-sets "sitw_dev sitw_eval"
#
# <egs-dir> is laid out as in Kaldi's sitw recipe: Kaldi data dirs of audio (wav.scp,
# utt2spk, spk2utt, and segments if utterances are parts of recordings) in
# data/<train> and, for each evaluation set, data/<set>_enroll (spk2utt: model -> its
# utterances) and data/<set>_test with data/<set>_test/trials/<trials-name>
# ("model test-utterance target|nontarget"). <nnet-dir> is a trained Kaldi x-vector
# network dir (final.raw, extract.config, min_chunk_size, max_chunk_size).
#
# Stages (--stage, --stop-stage):
#   0  check every input; a problem is one ERROR line naming the file, before any job
#      runs and before anything is written
#   1  features and VAD of each set (local/make_features.sh): data/<name>/{feats,vad}.scp,
#      archives in <egs-dir>/mfcc, logs in <egs-dir>/exp/make_features/<name>
#   2  x-vectors of each set (local/extract_xvectors.sh): <egs-dir>/exp/xvectors_<name>
#   3  the recipes' layout in <out-data-dir> (local/import_kaldi_sets.sh): train/,
#      <set>/{enroll,test}/, <set>/trials, whose xvector.scp point at stage 2's archives
# Sets are done one after another, each with --nj jobs through --cmd.

vv_root=$(cd "$(dirname "$0")/.." && pwd)
train_cmd=run.pl
[ -f "$vv_root/cmd.sh" ] && . "$vv_root/cmd.sh"

stage=0
stop_stage=3
nj=4                                  # parallel jobs per set (fewer where a set has fewer speakers)
cmd=$train_cmd                        # run.pl / queue.pl / slurm.pl; default from cmd.sh
train=train                           # <egs-dir>/data/$train: the training set
sets="sitw_dev sitw_eval"             # evaluation sets: data/<set>_enroll, data/<set>_test
trials_name=core-core.lst             # data/<set>_test/trials/$trials_name
mfcc_config=$vv_root/conf/mfcc.conf   # must be the features the network was trained on
vad_config=$vv_root/conf/vad.conf
use_gpu=false                         # true: nnet3-xvector-compute on a GPU, one job per GPU
help_message="Usage: $0 [--stage N] [--stop-stage N] [--nj N] [--cmd CMD] [--train NAME] [--sets \"a b\"] [--trials-name FILE] [--mfcc-config FILE] [--vad-config FILE] [--use-gpu true|false] <nnet-dir> <egs-dir> <out-data-dir>"
. "$vv_root/local/parse_options.sh" || exit 1

die() { echo "ERROR (prepare_from_audio.sh): $*" >&2; exit 1; }

if [ $# -ne 3 ]; then
  echo "$help_message" >&2; die "expected 3 arguments, got $#"
fi
nnet_dir=$1; egs=$2; out=$3

for opt in stage stop_stage nj; do
  eval "value=\$$opt"
  case "$value" in ''|*[!0-9]*) die "--$(echo $opt | tr _ -) must be a non-negative integer, got '$value'" ;; esac
done
[ "$nj" -ge 1 ] || die "--nj must be at least 1, got $nj"
[ "$stop_stage" -ge "$stage" ] || die "--stop-stage $stop_stage is before --stage $stage"
[ -n "$(echo $sets)" ] || die "--sets is empty: name at least one evaluation set"
case "$use_gpu" in true|false) ;; *) die "--use-gpu must be true or false, got '$use_gpu'" ;; esac
sh "$vv_root/local/check_paths.sh" prepare_from_audio.sh "$nnet_dir" "$egs" "$out" \
  "$mfcc_config" "$vad_config" || exit 1
# Stage N runs when stage <= N <= stop_stage.
runs() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

names=$train
for set in $sets; do names="$names ${set}_enroll ${set}_test"; done
features_opts="--nj $nj --mfcc-config $mfcc_config --vad-config $vad_config"

# ---- Stage 0: every input, before any job ------------------------------------------
if runs 0; then
  . "$vv_root/local/kaldi_scripts.sh"
  kaldi_require "extraction from audio" steps/make_mfcc.sh sid/compute_vad_decision.sh \
    sid/nnet3/xvector/extract_xvectors.sh utils/validate_data_dir.sh utils/fix_data_dir.sh -- \
    compute-mfcc-feats copy-feats compute-vad feat-to-dim nnet3-xvector-compute nnet3-info
  [ -d "$egs/data" ] || die "$egs/data: no such directory (<egs-dir>/data/<name> holds the audio data dirs)"
  # The network takes features of one dimension: the MFCC config's --num-ceps (Kaldi's default 13).
  nnet_dim=$(xvector_nnet_dim "$nnet_dir") || exit 1
  [ -f "$mfcc_config" ] || die "$mfcc_config: missing (MFCC config)"
  num_ceps=$(sed -n 's/^[[:space:]]*--num-ceps=\([0-9]*\).*/\1/p' "$mfcc_config" | tail -n 1)
  [ "${num_ceps:-13}" = "$nnet_dim" ] || die "$mfcc_config makes ${num_ceps:-13}-dim MFCC" \
    "(--num-ceps), but $nnet_dir/final.raw takes $nnet_dim (use the MFCC config the network was trained with)"
  for name in $names; do
    sh "$vv_root/local/make_features.sh" $features_opts --check-only true "$egs/data/$name" || exit 1
  done
  for set in $sets; do
    PYTHONPATH="$vv_root${PYTHONPATH:+:$PYTHONPATH}" python3 -m data_utils.check_trials \
      "$egs/data/${set}_test/trials/$trials_name" "$egs/data/${set}_enroll" "$egs/data/${set}_test" || exit 1
  done
fi

# ---- Stage 1: features and VAD ---------------------------------------------------------
if runs 1; then
  checked=false; runs 0 && checked=true       # stage 0 has run make_features.sh's checks
  for name in $names; do
    sh "$vv_root/local/make_features.sh" $features_opts --cmd "$cmd" --skip-checks $checked \
      "$egs/data/$name" "$egs/exp/make_features/$name" "$egs/mfcc" || exit 1
  done
fi

# ---- Stage 2: x-vectors ---------------------------------------------------------------
if runs 2; then
  for name in $names; do
    sh "$vv_root/local/extract_xvectors.sh" --nj $nj --cmd "$cmd" --use-gpu $use_gpu \
      "$nnet_dir" "$egs/data/$name" "$egs/exp/xvectors_$name" || exit 1
  done
fi

# ---- Stage 3: the recipes' data layout ------------------------------------------------
if runs 3; then
  # Again: stage 1 drops utterances whose features failed, which trials may name.
  for set in $sets; do
    PYTHONPATH="$vv_root${PYTHONPATH:+:$PYTHONPATH}" python3 -m data_utils.check_trials \
      "$egs/data/${set}_test/trials/$trials_name" "$egs/data/${set}_enroll" "$egs/data/${set}_test" || exit 1
  done
  sh "$vv_root/local/import_kaldi_sets.sh" --train "$train" --sets "$sets" --trials-name "$trials_name" \
    "$egs" "$out" || exit 1
fi
echo "$0: done (stages $stage to $stop_stage)" >&2
