#!/bin/sh
# Run one job with its output in a log file, Kaldi-style:
#   local/run_log.sh [--tee] [--append] LOG CMD [ARGS...]
#
# The log starts with the command line and ends with the exit status and the time it
# took. On failure the job's ERROR lines (our tools and Kaldi's both print them) are
# repeated on stderr with the log's path, so the reason is visible without opening it.
# --tee also shows the output while it runs (for long steps such as training); the ERROR
# lines were shown then, so they are not repeated.
# --append keeps what the log holds (e.g. a killed run's history of a job that resumes);
# each run's lines then follow its own "# <command>" / "# Started at <date>" marker.
tee_output=false; append=false
while true; do
  case $1 in
    --tee) tee_output=true; shift ;;
    --append) append=true; shift ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "Usage: $0 [--tee] [--append] <log> <command> [<args>...]" >&2; exit 1
fi
log=$1; shift
mkdir -p "$(dirname "$log")" || exit 1
start=$(date +%s)
if $append && [ -s "$log" ]; then
  { echo; echo "# $*"; echo "# Started at $(date)"; } >> "$log"
else
  { echo "# $*"; echo "# Started at $(date)"; } > "$log"
fi
if $tee_output; then
  status_file=$log.status
  { "$@"; echo $? > "$status_file"; } 2>&1 | tee -a "$log"
  status=$(cat "$status_file" 2>/dev/null || echo 1); rm -f "$status_file"
else
  "$@" >> "$log" 2>&1
  status=$?
fi
echo "# Accounting: time=$(( $(date +%s) - start )) threads=1" >> "$log"
echo "# Ended (code $status) at $(date)" >> "$log"
if [ "$status" -ne 0 ]; then
  $tee_output || grep -E '^(ERROR|Traceback)|Error:' "$log" | tail -n 3 >&2
  echo "$0: job failed with status $status; see $log" >&2
  exit "$status"
fi
exit 0
