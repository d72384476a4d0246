#!/bin/sh
# Kaldi's run.pl for machines without Kaldi's utils: the same arguments, the same logs.
#
#   local/run_log.sh [options] [JOB=1:N] <log> <command> [<args>...]
#
# JOB=a:b runs jobs a..b at the same time (at most --max-jobs-run N of them; by default as
# many as run.pl would: the number of CPUs), each with "JOB" in the log name and in the
# command replaced by its number. The words are run as they are, never re-parsed: without
# a shell, or, when a word is a lone shell operator ('|', '>', '&&', ...), by bash with every
# other word single-quoted (run.pl would expand '$(...)', ';' or '*' inside a word).
# A job that fails, is killed, or whose log cannot be written (a full disk) is a failure.
# Each log: "# <command>", "# Started at <date>", "#", the job's output, then
# "# Accounting: time=<s> threads=1" and "# Ended (code <status>) at <date>, elapsed time <s> seconds".
# Exit status: 0 when every job succeeded; a single job's own status when it failed; 1 when
# any of several failed. The ERROR lines of every failed job are repeated on stderr with its
# log's name, so the reason shows without opening the log; a job that left none (killed,
# its log unwritable) gets one ERROR line of ours naming the log.
# Grid options that run.pl ignores (--mem 4G, --gpu 1, --num-threads 4, -V, ...) are
# accepted and ignored here too. --tee (ours) also shows a single job's output as it runs
# (its ERROR lines are then not repeated).
prog=$0
. "$(dirname "$0")/job_report.sh"
job_args "$@" || exit 1
shift $job_words
num_jobs=$((last - first + 1))
if [ -n "$job_var" ] && [ $num_jobs -gt 1 ]; then
  case $log in *"$job_var"*) ;; *)
    echo "ERROR ($0): $num_jobs jobs but one log file ($log); put $job_var in its name" >&2; exit 1 ;;
  esac
fi

# The command line. A word that is a shell operator (a lone '|', '>', '&&', ...: the recipes
# write `tool ... \> file` as with run.pl) is kept as it is and the line is run by bash;
# every other word is single-quoted, so nothing in a path or option is interpreted (run.pl
# would expand '$(...)', backquotes, ';' or '*' in it). With no operator the words are run
# as the argument vector they are, without a shell.
quote() {  # <word>: the word in single quotes, each ' in it written as '\''
  printf "'%s'" "$(printf '%s\n' "$1" | sed "s/'/'\\\\''/g")"
}
# The log's first line shows the words as run.pl joins them (one with white space in double
# quotes), so that the logs of both runners read the same.
tab=$(printf '\t'); nl='
'
cmd=""; shown=""; use_shell=false
for word in "$@"; do
  case $word in
    '|'|'||'|'&&'|';'|'>'|'>>'|'<'|'2>'|'2>>'|'2>&1'|'>&2'|'&>') cmd="$cmd$word "; use_shell=true ;;
    *) cmd="$cmd$(quote "$word") " ;;
  esac
  case $word in
    ''|*" "*|*"$tab"*|*"$nl"*)
      case $word in *'"'*) shown="$shown'$word' " ;; *) shown="$shown\"$word\" " ;; esac ;;
    *) shown="$shown$word " ;;
  esac
done
shell=sh; command -v bash > /dev/null 2>&1 && shell=bash

run_command() {  # <quoted command line>: run it, through the shell only when it has operators
  if $use_shell; then
    $shell -c "$1"
  else
    # The line holds only single-quoted words: eval turns them back into the argument vector.
    eval "set -- $1"
    "$@"
  fi
}

reported=254   # run_job's status for a failure it has already reported (its log unwritable)

run_job() {  # <log> <command line> <shown line>: one job, its log written like run.pl's; returns its status
  # A log or status that cannot be written is a failed job (status 1), never a silent success.
  mkdir -p "$(dirname "$1")" 2>/dev/null || { job_error "$1" 1 " (cannot create the log's directory)"; return $reported; }
  start=$(date +%s)
  { echo "# $3"; echo "# Started at $(date)"; echo "#"; } 2>/dev/null > "$1" ||
    { job_error "$1" 1 " (cannot write its log)"; return $reported; }
  if $tee_output && [ $num_jobs -eq 1 ]; then
    # The job's and tee's statuses, and whether the console has shown an ERROR line, come
    # back on fd 4, through no file that could fail (the log may be on a full disk).
    exec 3>&1
    codes=$( { { run_command "$2" 2>&1 3>&- 4>&-; echo "job $?" >&4; } |
               { tee -a "$1" 2>/dev/null; echo "tee $?" >&4; } |
               { shown=0
                 while IFS= read -r line || [ -n "$line" ]; do
                   printf '%s\n' "$line"; case $line in ERROR*) shown=1 ;; esac
                 done >&3
                 echo "shown $shown" >&4; }; } 4>&1 )
    exec 3>&-
    code=$(printf '%s\n' "$codes" | sed -n 's/^job //p')
    tee_code=$(printf '%s\n' "$codes" | sed -n 's/^tee //p')
    [ "$(printf '%s\n' "$codes" | sed -n 's/^shown //p')" = 1 ] && shown_error=true
  else
    run_command "$2" >> "$1" 2>&1
    code=$?; tee_code=0
  fi
  case $code in ''|*[!0-9]*) code=1 ;; esac     # no status read back: a failure
  elapsed=$(( $(date +%s) - start ))
  { echo "# Accounting: time=$elapsed threads=1"
    echo "# Ended (code $code) at $(date), elapsed time $elapsed seconds"; } 2>/dev/null >> "$1" ||
    tee_code=1
  if [ "$tee_code" != 0 ] && [ $code -eq 0 ]; then
    job_error "$1" 1 " (its log could not be written in full)"; return $reported
  fi
  return $code
}

failed_job() {  # <log> <status> [<job number>]: report it, unless run_job already has
  [ "$2" -eq $reported ] || report_failure "$@"
}

if [ $num_jobs -eq 1 ]; then
  job_log=$(for_job "$log" $first)
  run_job "$job_log" "$(for_job "$cmd" $first)" "$(for_job "$shown" $first)"
  status=$?
  # With --tee the console has just shown the ERROR lines: name the log only.
  [ $status -eq 0 ] || failed_job "$job_log" $status
  [ $status -eq $reported ] && exit 1
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
  run_job "$(for_job "$log" $n)" "$(for_job "$cmd" $n)" "$(for_job "$shown" $n)" &
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
  case $status in ''|*[!0-9]*) status=1 ;; esac
  if [ "$status" -ne 0 ]; then
    failed=$((failed + 1))
    failed_job "$(for_job "$log" $n)" $status $n
  fi
  n=$((n + 1))
done
if [ $failed -gt 0 ]; then
  echo "$0: $failed / $num_jobs failed, logs are $(printf '%s\n' "$log" | sed "s/$job_var/*/g")" >&2
  exit 1
fi
exit 0
