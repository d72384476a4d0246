#!/bin/sh
# Kaldi's run.pl for machines without Kaldi's utils: the same arguments, the same logs.
#
#   local/run_log.sh [options] [JOB=1:N] <log> <command> [<args>...]
#
# JOB=a:b runs jobs a..b at the same time (at most --max-jobs-run N of them; by default as
# many as run.pl would: the number of CPUs), each with "JOB" in the log name and in the
# command replaced by its number. The command is joined as run.pl joins it (an argument
# with white space is quoted, others are taken as they are, so a lone '|' is a pipe) and
# run by bash (sh where there is none).
# Each log: "# <command>", "# Started at <date>", "#", the job's output, then
# "# Accounting: time=<s> threads=1" and "# Ended (code <status>) at <date>, elapsed time <s> seconds".
# Exit status: 0 when every job succeeded; a single job's own status when it failed; 1 when
# any of several failed. The ERROR lines of every failed job are repeated on stderr with its
# log's name, so the reason shows without opening the log.
# Grid options that run.pl ignores (--mem 4G, --gpu 1, --num-threads 4, -V, ...) are
# accepted and ignored here too. --tee (ours) also shows a single job's output as it runs
# (its ERROR lines are then not repeated).
tee_output=false
max_jobs=0
job_var=; first=1; last=1
for pass in 1 2; do   # like run.pl: JOB=1:N may come before or after the options
  while [ $# -ge 2 ]; do
    case $1 in
      --tee) tee_output=true; shift ;;
      -V) shift ;;
      --max-jobs-run|-tc) max_jobs=$2; shift 2 ;;
      -pe) shift 3 ;;
      -*) shift 2 ;;
      *) break ;;
    esac
  done
  case $1 in
    *=*)
      name=${1%%=*}; range=${1#*=}; from=${range%%:*}; to=${range#*:}
      case $name in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
      case $from$to in ''|*[!0-9]*) continue ;; esac
      [ "$from" -ge 1 ] && [ "$from" -le "$to" ] ||
        { echo "ERROR ($0): invalid job range $1 (need 1 <= start <= end)" >&2; exit 1; }
      job_var=$name; first=$from; last=$to; shift ;;
  esac
done
case $max_jobs in ''|*[!0-9]*) echo "ERROR ($0): invalid --max-jobs-run '$max_jobs'" >&2; exit 1 ;; esac
if [ $# -lt 2 ]; then
  echo "Usage: $0 [options] [JOB=1:N] <log> <command> [<args>...]" >&2; exit 1
fi
log=$1; shift
num_jobs=$((last - first + 1))
if [ -n "$job_var" ] && [ $num_jobs -gt 1 ]; then
  case $log in *"$job_var"*) ;; *)
    echo "ERROR ($0): $num_jobs jobs but one log file ($log); put $job_var in its name" >&2; exit 1 ;;
  esac
fi

# The command line, joined as run.pl joins it.
tab=$(printf '\t'); nl='
'
cmd=""
for word in "$@"; do
  case $word in
    ''|*" "*|*"$tab"*|*"$nl"*)
      case $word in *'"'*) cmd="$cmd'$word' " ;; *) cmd="$cmd\"$word\" " ;; esac ;;
    *) cmd="$cmd$word " ;;
  esac
done
shell=sh; command -v bash > /dev/null 2>&1 && shell=bash

for_job() {  # <text> <job number>: the text with the job variable replaced
  if [ -n "$job_var" ]; then printf '%s\n' "$1" | sed "s/$job_var/$2/g"; else printf '%s\n' "$1"; fi
}

run_job() {  # <log> <command line>: one job, its log written like run.pl's
  mkdir -p "$(dirname "$1")" || return 1
  start=$(date +%s)
  { echo "# $2"; echo "# Started at $(date)"; echo "#"; } > "$1" || return 1
  if $tee_output && [ $num_jobs -eq 1 ]; then
    { $shell -c "$2" 2>&1; echo $? > "$1.status"; } | tee -a "$1"
    code=$(cat "$1.status" 2>/dev/null || echo 1); rm -f "$1.status"
  else
    $shell -c "$2" >> "$1" 2>&1
    code=$?
  fi
  elapsed=$(( $(date +%s) - start ))
  { echo "# Accounting: time=$elapsed threads=1"
    echo "# Ended (code $code) at $(date), elapsed time $elapsed seconds"; } >> "$1"
  return $code
}

if [ $num_jobs -eq 1 ]; then
  job_log=$(for_job "$log" $first)
  run_job "$job_log" "$(for_job "$cmd" $first)"
  status=$?
  if [ $status -ne 0 ]; then
    # With --tee the console has just shown the ERROR lines: name the log only.
    $tee_output || grep -E '^(ERROR|Traceback)|Error:' "$job_log" | tail -n 3 >&2
    echo "$0: job failed with status $status; see $job_log" >&2
  fi
  exit $status
fi

if [ "$max_jobs" -eq 0 ]; then   # run.pl's default: one job per CPU, all of them if 40% more
  max_jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 4)
  [ $((num_jobs * 10)) -lt $((max_jobs * 14)) ] && max_jobs=$num_jobs
fi
oldest=$first; n=$first
while [ $n -le $last ]; do
  if [ $((n - oldest)) -ge "$max_jobs" ]; then   # wait for the oldest job before another
    eval "wait \$pid_$oldest; status_$oldest=\$?"; oldest=$((oldest + 1))
  fi
  run_job "$(for_job "$log" $n)" "$(for_job "$cmd" $n)" &
  eval "pid_$n=\$!"
  n=$((n + 1))
done
failed=0
while [ $oldest -le $last ]; do
  eval "wait \$pid_$oldest; status_$oldest=\$?"; oldest=$((oldest + 1))
done
n=$first
while [ $n -le $last ]; do
  eval "status=\$status_$n"
  if [ "$status" -ne 0 ]; then
    failed=$((failed + 1)); job_log=$(for_job "$log" $n)
    grep -E '^(ERROR|Traceback)|Error:' "$job_log" | tail -n 3 >&2
    echo "$0: job $n failed with status $status; see $job_log" >&2
  fi
  n=$((n + 1))
done
if [ $failed -gt 0 ]; then
  echo "$0: $failed / $num_jobs failed, logs are $(printf '%s\n' "$log" | sed "s/$job_var/*/g")" >&2
  exit 1
fi
exit 0
