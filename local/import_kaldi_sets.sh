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
# Every input file is checked before anything is written.
vv_root=$(cd "$(dirname "$0")/.." && pwd)
train=train_combined_200k       # <egs>/data/$train and <egs>/exp/xvectors_$train
sets="sitw_dev sitw_eval"       # each: data/<set>_enroll, data/<set>_test, exp/xvectors_<set>_{enroll,test}
trials_name=core-core.lst       # <egs>/data/<set>_test/trials/$trials_name
. "$vv_root/local/parse_options.sh" || exit 1
if [ $# -ne 2 ]; then
  echo "Usage: $0 [--train NAME] [--sets \"a b\"] [--trials-name FILE] <kaldi-egs-dir> <out-data-dir>" >&2
  exit 1
fi
egs=$(cd "$1" 2>/dev/null && pwd) || { echo "ERROR ($0): $1: no such directory" >&2; exit 1; }
out=$2

# <kaldi data name> <our dir> pairs, then the trials of each set.
pairs="$train train"
for set in $sets; do
  pairs="$pairs ${set}_enroll $set/enroll ${set}_test $set/test"
done

set -- $pairs
while [ $# -gt 0 ]; do
  for f in $egs/data/$1/utt2spk $egs/data/$1/spk2utt $egs/exp/xvectors_$1/xvector.scp; do
    [ -f "$f" ] || { echo "ERROR ($0): $f: missing" >&2; exit 1; }
  done
  shift 2
done
for set in $sets; do
  trials=$egs/data/${set}_test/trials/$trials_name
  [ -f "$trials" ] || { echo "ERROR ($0): $trials: missing" >&2; exit 1; }
done

set -- $pairs
while [ $# -gt 0 ]; do
  src=$egs/data/$1; vec=$egs/exp/xvectors_$1; dst=$out/$2
  mkdir -p "$dst" && cp $src/utt2spk $src/spk2utt "$dst/" &&
    awk -v egs="$egs" '{ if (substr($2, 1, 1) != "/") $2 = egs "/" $2; print }' \
      $vec/xvector.scp > "$dst/xvector.scp.tmp" && mv "$dst/xvector.scp.tmp" "$dst/xvector.scp" ||
    { echo "ERROR ($0): $dst: cannot write" >&2; exit 1; }
  shift 2
done
for set in $sets; do
  cp "$egs/data/${set}_test/trials/$trials_name" "$out/$set/trials" ||
    { echo "ERROR ($0): $out/$set/trials: cannot write" >&2; exit 1; }
done
echo "$0: wrote $out; run the recipes with --data $out --train-set train --eval-sets \"$sets\"" >&2
