#!/bin/sh
# Features for x-vector extraction from audio, with Kaldi: 30-dim MFCC (Kaldi's
# steps/make_mfcc.sh) and energy-based VAD (Kaldi's sid/compute_vad_decision.sh), with the
# settings of Kaldi's sitw/voxceleb x-vector recipes (conf/mfcc.conf, conf/vad.conf).
#
#   local/make_features.sh [options] <data-dir> [<log-dir> [<feat-dir>]]
#   e.g. local/make_features.sh --nj 8 data/train exp/make_features/train mfcc
#
# <data-dir> is a Kaldi data dir of audio: wav.scp, utt2spk, spk2utt, and segments if the
# utterances are parts of recordings. It gains feats.scp and vad.scp (and Kaldi's
# utt2num_frames, utt2dur, frame_shift, conf/mfcc.conf), ready for local/extract_xvectors.sh.
# <log-dir> (default <data-dir>/log) gets the jobs' logs; <feat-dir> (default
# <data-dir>/data) the feature and VAD archives, as with Kaldi's scripts.
#
# Before any job runs, the data dir is checked: data_utils/check_audio.py (every utterance
# in wav.scp, utt2spk and segments alike; every wav there, at the MFCC config's sample
# rate), then Kaldi's utils/validate_data_dir.sh --no-feats --no-text (sorting, spk2utt).
# A problem stops it with one ERROR line naming the file, and nothing is written.
# --check-only true runs these checks alone (local/prepare_from_audio.sh checks every set
# before any job); --skip-checks true then leaves them out of the run that follows.

vv_root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$vv_root/cmd.sh" ] && . "$vv_root/cmd.sh"

nj=4                                  # parallel jobs (at most one per speaker for VAD)
cmd=${train_cmd:-run.pl}                      # run.pl / queue.pl / slurm.pl; default from cmd.sh
mfcc_config=$vv_root/conf/mfcc.conf   # compute-mfcc-feats options (its --sample-frequency rules)
vad_config=$vv_root/conf/vad.conf     # compute-vad options
stage=0                               # 1: from MFCC; 2: VAD only (feats.scp already there)
check_only=false                      # true: check the inputs, write nothing, run no job
skip_checks=false                     # true: the caller has run --check-only on this dir
help_message="Usage: $0 [--nj N] [--cmd CMD] [--mfcc-config FILE] [--vad-config FILE] [--stage N] [--check-only true|false] [--skip-checks true|false] <data-dir> [<log-dir> [<feat-dir>]]"
. "$vv_root/local/parse_options.sh" || exit 1

die() { echo "ERROR (make_features.sh): $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "$help_message" >&2; die "expected 1 to 3 arguments, got $#"
fi
data=$1; logdir=${2:-$1/log}; featdir=${3:-$1/data}

# ---- Kaldi present? ------------------------------------------------------------
. "$vv_root/local/kaldi_scripts.sh"
kaldi_require "feature extraction" steps/make_mfcc.sh sid/compute_vad_decision.sh \
  utils/validate_data_dir.sh utils/fix_data_dir.sh -- compute-mfcc-feats copy-feats compute-vad feat-to-dim

# ---- Options and inputs -----------------------------------------------------------
case "$nj" in ''|*[!0-9]*) die "--nj must be a positive integer, got '$nj'" ;; esac
[ "$nj" -ge 1 ] || die "--nj must be a positive integer, got '$nj'"
case "$stage" in ''|*[!0-9]*) die "--stage must be 0, 1 or 2, got '$stage'" ;; esac
# Kaldi's scripts split paths on spaces.
for p in "$data" "$logdir" "$featdir" "$mfcc_config" "$vad_config"; do
  case "$p" in *[[:space:]]*) die "$p: Kaldi's scripts cannot handle a path with spaces" ;; esac
done
[ -d "$data" ] || die "$data: no such data directory"
[ -f "$mfcc_config" ] || die "$mfcc_config: missing (MFCC config)"
[ -f "$vad_config" ] || die "$vad_config: missing (VAD config)"
if [ "$skip_checks" = true ]; then
  :
elif [ "$stage" -le 1 ]; then
  PYTHONPATH="$vv_root${PYTHONPATH:+:$PYTHONPATH}" python3 -m data_utils.check_audio \
    --mfcc-config "$mfcc_config" "$data" || exit 1
else
  [ -f "$data/feats.scp" ] || die "$data/feats.scp: missing (--stage $stage needs features)"
fi
# Kaldi's scripts run from another dir (below): absolute paths from here on.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
data=$(cd "$data" && pwd); logdir=$(abspath "$logdir"); featdir=$(abspath "$featdir")
mfcc_config=$(abspath "$mfcc_config"); vad_config=$(abspath "$vad_config")

# Kaldi's own data-dir check, run from a scratch dir so that a bad data dir leaves nothing.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/make_features.XXXXXX") || die "cannot create a scratch dir"
trap 'rm -rf "$scratch"' EXIT
kaldi_run_dir "$scratch/kaldi_run"
if [ "$skip_checks" = true ]; then
  :
elif ! kaldi_run "$scratch/kaldi_run" utils/validate_data_dir.sh --no-feats --no-text "$data" \
    > "$scratch/validate.log" 2>&1; then
  sed 's/^/  /' "$scratch/validate.log" >&2
  # Its messages are the lines it prefixes with its name; the diff it may print is above.
  what=$(sed -n 's#^utils/validate_data_dir.sh: ##p' "$scratch/validate.log" | tr '\n' ' ' |
         sed 's/, partial diff is: *$/ (diff above)/; s/ *$//')
  die "$data: Kaldi's utils/validate_data_dir.sh: ${what:-failed (output above)}"
fi
[ ! -f "$scratch/validate.log" ] ||
  grep WARNING "$scratch/validate.log" | sed 's/^utils\/validate_data_dir.sh/make_features.sh/' >&2
if [ "$check_only" = true ]; then
  echo "$0: $data: checked ($(grep -c . "$data/utt2spk") utterances); nothing written" >&2
  exit 0
fi

# ---- Jobs ------------------------------------------------------------------------
# Kaldi refuses to split into more parts than there are lines (MFCC) or speakers (VAD).
num_spk=$(grep -c . "$data/spk2utt")
num_utt=$(grep -c . "$data/utt2spk")
mfcc_nj=$nj; [ "$mfcc_nj" -le "$num_utt" ] || mfcc_nj=$num_utt
vad_nj=$nj; [ "$vad_nj" -le "$num_spk" ] || vad_nj=$num_spk

mkdir -p "$logdir" "$featdir" || die "$logdir, $featdir: cannot create"
run_dir=$logdir/kaldi_run       # where the jobs start: seen by the grid nodes, like the logs
kaldi_run_dir "$run_dir"
name=$(basename "$data")

if [ "$stage" -le 1 ]; then
  echo "$0: MFCC of $data ($num_utt utterances; $cmd, $mfcc_nj jobs)" >&2
  kaldi_run "$run_dir" steps/make_mfcc.sh --nj $mfcc_nj --cmd "$cmd" --mfcc-config "$mfcc_config" \
    --write-utt2num-frames true "$data" "$logdir" "$featdir" >&2 ||
    die "Kaldi's steps/make_mfcc.sh failed; see $logdir/make_mfcc_$name.*.log"
  num_feats=$(grep -c . "$data/feats.scp")
  if [ "$num_feats" -lt "$num_utt" ]; then
    echo "$0: WARNING: $((num_utt - num_feats)) of $num_utt utterances have no features" \
      "(see $logdir/make_mfcc_$name.*.log); removing them from $data" >&2
    kaldi_run "$run_dir" utils/fix_data_dir.sh "$data" >&2 || die "$data: Kaldi's utils/fix_data_dir.sh failed"
  fi
fi

if [ "$stage" -le 2 ]; then
  echo "$0: VAD of $data ($cmd, $vad_nj jobs)" >&2
  kaldi_run "$run_dir" sid/compute_vad_decision.sh --nj $vad_nj --cmd "$cmd" --vad-config "$vad_config" \
    "$data" "$logdir" "$featdir" >&2 || die "Kaldi's sid/compute_vad_decision.sh failed; see $logdir/vad_$name.*.log"
  num_feats=$(grep -c . "$data/feats.scp"); num_vad=$(grep -c . "$data/vad.scp")
  [ "$num_vad" -eq "$num_feats" ] ||
    die "$data/vad.scp: $num_vad utterances, $data/feats.scp has $num_feats (see $logdir/vad_$name.*.log)"
fi

dim=$(feat-to-dim "scp:$data/feats.scp" - 2>/dev/null) || die "$data/feats.scp: unreadable"
echo "$0: wrote $data/feats.scp and vad.scp ($(grep -c . "$data/feats.scp") utterances, $dim-dim MFCC)" >&2
