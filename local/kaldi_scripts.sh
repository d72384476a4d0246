# Helpers for our scripts that run Kaldi's own recipe scripts (steps/, utils/, sid/);
# sourced by local/make_features.sh, local/extract_xvectors.sh and
# local/prepare_from_audio.sh, which define die().
#
# Kaldi's scripts call steps/, utils/ and sid/ relative to where they run, and their job
# runners (run.pl, queue.pl, slurm.pl) by name, so they are run from a dir that links
# those from $KALDI_ROOT (egs/wsj/s5/{steps,utils}, egs/sre08/v1/sid), with utils/ on PATH.

# kaldi_require <purpose> <script>... -- <binary>...: KALDI_ROOT is a Kaldi checkout with
# these scripts (steps/... utils/... sid/...), and the binaries are on PATH (path.sh).
kaldi_require() {
  vv_purpose=$1; shift
  [ -n "${KALDI_ROOT:-}" ] || die "KALDI_ROOT is not set; $vv_purpose needs a compiled Kaldi"
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    case "$1" in
      sid/*) vv_path=$KALDI_ROOT/egs/sre08/v1/$1 ;;
      *) vv_path=$KALDI_ROOT/egs/wsj/s5/$1 ;;
    esac
    [ -f "$vv_path" ] || die "$vv_path: missing (is KALDI_ROOT a Kaldi checkout?)"
    shift
  done
  for vv_dir in egs/wsj/s5/steps egs/wsj/s5/utils egs/sre08/v1/sid; do
    [ -d "$KALDI_ROOT/$vv_dir" ] || die "$KALDI_ROOT/$vv_dir: missing"
  done
  [ $# -gt 0 ] && shift
  for vv_bin in "$@"; do
    command -v "$vv_bin" >/dev/null 2>&1 ||
      die "$vv_bin is not on PATH (compile Kaldi's src/ and source path.sh)"
  done
}

# kaldi_run_dir <dir>: (re)create <dir> with links to Kaldi's steps/ utils/ sid/ and our
# conf/ (queue.pl and slurm.pl read conf/queue.conf or conf/slurm.conf relative to it).
# Put it on storage the job nodes see when --cmd is queue.pl or slurm.pl.
kaldi_run_dir() {
  rm -rf "$1" && mkdir -p "$1" || die "$1: cannot create"
  ln -s "$KALDI_ROOT/egs/wsj/s5/steps" "$1/steps" &&
    ln -s "$KALDI_ROOT/egs/wsj/s5/utils" "$1/utils" &&
    ln -s "$KALDI_ROOT/egs/sre08/v1/sid" "$1/sid" || die "$1: cannot link Kaldi's scripts"
  [ ! -d "$vv_root/conf" ] || ln -s "$vv_root/conf" "$1/conf" || die "$1: cannot link conf"
}

# kaldi_run <dir> <script> <args>...: run one of Kaldi's scripts from <dir>.
kaldi_run() {
  vv_run_dir=$1; shift
  (cd "$vv_run_dir" && PATH="$vv_run_dir/utils:$PATH" && "$@")
}

# xvector_nnet_dim <nnet-dir>: print the input dimension of a trained Kaldi x-vector
# network dir (final.raw, extract.config, min_chunk_size, max_chunk_size, as Kaldi's
# voxceleb/sitw recipes leave it), or die naming what is missing. Needs nnet3-info on PATH.
xvector_nnet_dim() {
  [ -d "$1" ] || die "$1: no such nnet directory"
  for vv_f in final.raw extract.config min_chunk_size max_chunk_size; do
    [ -f "$1/$vv_f" ] || die "$1/$vv_f: missing (not a trained x-vector nnet dir)"
  done
  vv_dim=$(nnet3-info "$1/final.raw" 2>/dev/null | sed -n 's/^input-node name=input dim=\([0-9]*\).*/\1/p')
  [ -n "$vv_dim" ] || die "$1/final.raw: not an nnet3 network with an input node named input"
  echo "$vv_dim"
}
