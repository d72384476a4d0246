#!/bin/sh
# Build the recipes' data layout from a Kaldi x-vector egs tree, without copying vectors.
#
#   local/import_kaldi_sets.sh [options] <kaldi-egs-dir> <out-data-dir>
#   e.g. local/import_kaldi_sets.sh $KALDI_ROOT/egs/sitw/v2 data/sitw
#        sh baseline.sh --data data/sitw && sh train.sh --data data/sitw && sh eval.sh --data data/sitw
#
# For each set it takes utt2spk/spk2utt from <egs>/data/<name> and the vectors' xvector.scp
# from <egs>/exp/xvectors_<name>, rewriting the scp's relative ark paths (Kaldi writes them
# relative to the egs dir) to absolute ones. The defaults follow Kaldi's sitw/v2 recipe.
train=train_combined_200k       # <egs>/data/$train and <egs>/exp/xvectors_$train
sets="sitw_dev sitw_eval"       # each: data/<set>_enroll, data/<set>_test, exp/xvectors_<set>_{enroll,test}
trials_name=core-core.lst       # <egs>/data/<set>_test/trials/$trials_name
. local/parse_options.sh || exit 1
if [ $# -ne 2 ]; then
  echo "Usage: $0 [--train NAME] [--sets \"a b\"] [--trials-name FILE] <kaldi-egs-dir> <out-data-dir>" >&2
  exit 1
fi
egs=$(cd "$1" 2>/dev/null && pwd) || { echo "ERROR ($0): $1: no such directory" >&2; exit 1; }
out=$2

import_dir() {  # <kaldi data name> <our dir>
  src=$egs/data/$1; vec=$egs/exp/xvectors_$1
  for f in $src/utt2spk $src/spk2utt $vec/xvector.scp; do
    [ -f "$f" ] || { echo "ERROR ($0): $f: missing" >&2; exit 1; }
  done
  mkdir -p "$2" || exit 1
  cp $src/utt2spk $src/spk2utt "$2/" || exit 1
  awk -v egs="$egs" '{ if (substr($2, 1, 1) != "/") $2 = egs "/" $2; print }' \
    $vec/xvector.scp > "$2/xvector.scp.tmp" && mv "$2/xvector.scp.tmp" "$2/xvector.scp" || exit 1
}

import_dir $train "$out/train"
for set in $sets; do
  import_dir ${set}_enroll "$out/$set/enroll"
  import_dir ${set}_test "$out/$set/test"
  trials=$egs/data/${set}_test/trials/$trials_name
  [ -f "$trials" ] || { echo "ERROR ($0): $trials: missing" >&2; exit 1; }
  cp "$trials" "$out/$set/trials" || exit 1
done
echo "$0: wrote $out; run the recipes with --data $out --train-set train --eval-sets \"$sets\"" >&2
