#!/bin/sh
# Keep a job log's history across reruns, whatever runner writes it.
#   local/log_history.sh save <log>      before the job: set the earlier runs' lines aside
#   local/log_history.sh restore <log>   after it: put them back in front of this run's
# Kaldi's run.pl (and local/run_log.sh, which copies it) start each log afresh, but a model
# that resumes should keep the story of its earlier runs, a killed one's included. Between
# save and restore the history is in <log>.prev; a run killed in between leaves it there,
# and the next save folds it back in first.
if [ $# -ne 2 ] || { [ "$1" != save ] && [ "$1" != restore ]; }; then
  echo "Usage: $0 save|restore <log>" >&2; exit 1
fi
log=$2
fold() {  # <log>.prev, a blank line, then <log>, into <log>
  { cat "$log.prev" && echo && { [ ! -f "$log" ] || cat "$log"; }; } > "$log.tmp" &&
    mv -f "$log.tmp" "$log" && rm -f "$log.prev" ||
    { rm -f "$log.tmp"; echo "ERROR ($0): $log: cannot join it with its history in $log.prev" >&2; exit 1; }
}
[ -f "$log.prev" ] && fold
if [ "$1" = save ] && [ -s "$log" ]; then
  mv -f "$log" "$log.prev" || { echo "ERROR ($0): $log: cannot set it aside" >&2; exit 1; }
fi
exit 0
