#!/bin/sh
# EER (compute-eer) and minDCF (compute_min_dcf.py) of one set's score files, as rows of a
# results table (local/analysis/results_table.py):
#   front_end  backend  set  eer  mindcf_<p>...      one row per back-end
#
# Usage: local/compute_metrics.sh [options] <front-end> <set> <trials> <score-dir> <results-tsv>
#   <score-dir>/scores_<backend>: "enroll test score" lines, one per line of <trials>
#   ("enroll test target|nontarget"), in its order. <set> is the name the rows give the set.
# Each metric is a job of --cmd with its log in <score-dir>/log/<backend>.{eer,mindcf_<p>}.log
# and its value in <score-dir>/metrics/<backend>.{eer,mindcf_<p>}.
backends=$(local/names.sh backends) || exit 1
score_norm=none     # asnorm: also every back-end's AS-norm scores (scores_<backend>_asnorm)
p_targets="0.01 0.001"
cmd=${train_cmd:-local/run_log.sh}   # job runner, run.pl-style (cmd.sh)
. local/parse_options.sh || exit 1
local/check_choice.sh $0 --score-norm "$score_norm" none asnorm || exit 1
if [ $# -ne 5 ]; then
  echo "Usage: $0 [options] <front-end> <set> <trials> <score-dir> <results-tsv>" >&2; exit 1
fi
front_end=$1; set=$2; trials=$3; dir=$4; results=$5
log=$dir/log; metrics=$dir/metrics
mkdir -p "$log" "$metrics" "$(dirname "$results")" || exit 1
if [ "$score_norm" = asnorm ]; then
  backends=$(for b in $backends; do printf '%s %s_asnorm ' $b $b; done)
fi

rows=$results.tmp
# The rows are gathered in $rows and moved into place whole; a failed run leaves no $rows.
trap 'rm -f "$rows"' EXIT
add_row() {  # <line>: appended to $rows, or one ERROR line naming the file
  { printf '%s\n' "$1" >> $rows; } 2>/dev/null ||
    { echo "ERROR ($0): $rows: cannot write it (is the disk full?)" >&2; exit 1; }
}
header="front_end	backend	set	eer"
for p in $p_targets; do header="$header	mindcf_$p"; done
rm -f $rows
add_row "$header"
for b in $backends; do
  scores=$dir/scores_$b
  [ -f $scores ] || { echo "ERROR ($0): $scores: missing" >&2; exit 1; }
  # compute-eer pairs the files line by line: a scorer that skipped or reordered trials would
  # misalign every later score, so the keys must agree on every line.
  if [ "$(wc -l < $scores)" -ne "$(wc -l < $trials)" ]; then
    echo "ERROR ($0): $scores has $(wc -l < $scores) scores for $(wc -l < $trials) trials in $trials" >&2
    exit 1
  fi
  bad=$(paste $scores $trials | awk '$1 "" != $4 "" || $2 "" != $5 "" { print NR; exit }')
  if [ -n "$bad" ]; then
    echo "ERROR ($0): $scores: line $bad: keys differ from line $bad of $trials" >&2; exit 1
  fi
  # "score target|nontarget" lines for compute-eer. No '$' in the pipe: run.pl (and
  # run_log.sh) pass it to bash inside double quotes.
  pairs="paste -d ' ' $scores $trials | tr -s '[:blank:]' ' ' | cut -d ' ' -f 3,6 |"
  $cmd $log/$b.eer.log compute-eer "$pairs" \> $metrics/$b.eer || exit 1
  [ -s $metrics/$b.eer ] || { echo "ERROR ($0): compute-eer gave no EER; see $log/$b.eer.log" >&2; exit 1; }
  row="$front_end	$b	$set	$(cat $metrics/$b.eer)"
  for p in $p_targets; do
    $cmd $log/$b.mindcf_$p.log compute_min_dcf.py --p-target $p --c-miss 1 --c-fa 1 \
      $scores $trials \> $metrics/$b.mindcf_$p || exit 1
    row="$row	$(cat $metrics/$b.mindcf_$p)"
  done
  add_row "$row"
done
mv $rows $results || exit 1
exit 0
