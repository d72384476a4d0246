#!/bin/sh
# Extract x-vectors with Kaldi: a wrapper around Kaldi's sid/nnet3/xvector/extract_xvectors.sh.
#
#   local/extract_xvectors.sh [options] <nnet-dir> <data-dir> <xvector-dir>
#   e.g. local/extract_xvectors.sh --nj 8 exp/xvector_nnet_1a data/train exp/xvectors_train
#
# <nnet-dir> is a trained Kaldi x-vector network: final.raw, extract.config,
# min_chunk_size, max_chunk_size. <data-dir> is a Kaldi data dir with features:
# feats.scp, vad.scp, utt2spk, spk2utt. <xvector-dir> gets xvector.scp (and Kaldi's
# xvector.N.ark, spk_xvector.scp, num_utts.ark, log/), ready for the recipes.
#
# Kaldi's script is run from <xvector-dir>/kaldi_run (see local/kaldi_scripts.sh). It
# takes min_chunk_size from a file of the nnet dir, not as an option, so --min-chunk-size
# is passed through a copy of the nnet dir made of links plus that one file.

vv_root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$vv_root/cmd.sh" ] && . "$vv_root/cmd.sh"

nj=4                # parallel jobs (at most the number of speakers; fewer are used if not)
cmd=${train_cmd:-run.pl}    # run.pl / queue.pl / slurm.pl with their options; default from cmd.sh
use_gpu=false       # true: nnet3-xvector-compute on a GPU, one job per GPU
chunk_size=-1       # frames per chunk; -1: the nnet's max_chunk_size
min_chunk_size=     # shortest chunk the nnet sees; empty: the nnet dir's min_chunk_size
help_message="Usage: $0 [--nj N] [--cmd CMD] [--use-gpu true|false] [--chunk-size N] [--min-chunk-size N] <nnet-dir> <data-dir> <xvector-dir>"
. "$vv_root/local/parse_options.sh" || exit 1

die() { echo "ERROR (extract_xvectors.sh): $*" >&2; exit 1; }

if [ $# -ne 3 ]; then
  echo "$help_message" >&2; die "expected 3 arguments, got $#"
fi
nnet_dir=$1; data=$2; dir=$3

# ---- Kaldi present? ------------------------------------------------------------
. "$vv_root/local/kaldi_scripts.sh"
kaldi_script=sid/nnet3/xvector/extract_xvectors.sh
kaldi_require extraction $kaldi_script -- nnet3-xvector-compute nnet3-info feat-to-dim

# ---- Inputs complete? ------------------------------------------------------------
nnet_dim=$(xvector_nnet_dim "$nnet_dir") || exit 1
[ -d "$data" ] || die "$data: no such data directory"
for f in feats.scp vad.scp utt2spk spk2utt; do
  [ -f "$data/$f" ] || die "$data/$f: missing (extraction needs features and VAD)"
done
# Features of another dimension than the network's input fail in every job, in its log.
feat_dim=$(feat-to-dim "scp:$data/feats.scp" - 2>/dev/null) || die "$data/feats.scp: cannot read its features"
[ "$feat_dim" = "$nnet_dim" ] ||
  die "$data/feats.scp: $feat_dim-dim features, but $nnet_dir/final.raw takes $nnet_dim (use the MFCC config the network was trained with)"

is_int() { case "$1" in ''|*[!0-9-]*|?*-*) return 1 ;; esac; [ "$1" != - ]; }
for opt in nj chunk_size; do
  eval "value=\$$opt"
  is_int "$value" || die "--$(echo $opt | tr _ -) must be an integer, got '$value'"
done
[ "$nj" -ge 1 ] || die "--nj must be at least 1, got $nj"
case "$use_gpu" in true|false) ;; *) die "--use-gpu must be true or false, got '$use_gpu'" ;; esac
max_chunk=$(cat "$nnet_dir/max_chunk_size")
is_int "$max_chunk" || die "$nnet_dir/max_chunk_size: not an integer"
if [ -n "$min_chunk_size" ]; then
  is_int "$min_chunk_size" && [ "$min_chunk_size" -ge 1 ] ||
    die "--min-chunk-size must be a positive integer, got '$min_chunk_size'"
  [ "$min_chunk_size" -le "$max_chunk" ] ||
    die "--min-chunk-size $min_chunk_size is larger than $nnet_dir/max_chunk_size ($max_chunk)"
fi
[ "$chunk_size" -le "$max_chunk" ] ||
  die "--chunk-size $chunk_size is larger than $nnet_dir/max_chunk_size ($max_chunk)"

# Kaldi's split_data.sh splits by speaker: no more jobs than speakers.
num_spk=$(grep -c . "$data/spk2utt")
if [ "$nj" -gt "$num_spk" ]; then
  echo "$0: $data has $num_spk speakers; using --nj $num_spk" >&2
  nj=$num_spk
fi

# ---- Run Kaldi's script from a dir that has its steps/ utils/ sid/ -------------------
mkdir -p "$dir" || die "$dir: cannot create"
abs() { (cd "$1" && pwd); }
nnet_dir=$(abs "$nnet_dir"); data=$(abs "$data"); dir=$(abs "$dir")
run_dir=$dir/kaldi_run
kaldi_run_dir "$run_dir"
mkdir -p "$run_dir/nnet" || die "$run_dir/nnet: cannot create"
for f in final.raw extract.config max_chunk_size min_chunk_size; do
  ln -s "$nnet_dir/$f" "$run_dir/nnet/$f" || die "$run_dir/nnet: cannot link $f"
done
if [ -n "$min_chunk_size" ]; then
  rm "$run_dir/nnet/min_chunk_size" && echo "$min_chunk_size" > "$run_dir/nnet/min_chunk_size" ||
    die "$run_dir/nnet/min_chunk_size: cannot write"
fi

# Only options that differ from Kaldi's defaults are passed, so that older Kaldi
# versions without --use-gpu still work when it is not asked for.
opts="--nj $nj"
[ "$chunk_size" != -1 ] && opts="$opts --chunk-size $chunk_size"
[ "$use_gpu" = true ] && opts="$opts --use-gpu true"

rm -f "$dir/xvector.scp"
echo "$0: extracting x-vectors of $data with $nnet_dir into $dir ($cmd, $nj jobs)" >&2
# utils/ on PATH: Kaldi's scripts source parse_options.sh and run run.pl/queue.pl by name.
kaldi_run "$run_dir" $kaldi_script --cmd "$cmd" $opts "$run_dir/nnet" "$data" "$dir" ||
  die "Kaldi's $kaldi_script failed; see the logs in $dir/log"
[ -s "$dir/xvector.scp" ] || die "$dir/xvector.scp: not written by Kaldi's $kaldi_script"
echo "$0: wrote $dir/xvector.scp ($(grep -c . "$dir/xvector.scp") x-vectors)" >&2
