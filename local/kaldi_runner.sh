#!/bin/sh
# Kaldi's run.pl, queue.pl or slurm.pl, with local/run_log.sh's report of a failed job:
#
#   local/kaldi_runner.sh <runner> [options] [JOB=1:N] <log> <command> [<args>...]
#
# cmd.sh puts it in front of a Kaldi runner. On a failure the runner itself says only
# "run.pl: job failed, log is in ..." (and a grid job's output is in its log alone), so for
# each job whose log does not end with "# Ended (code 0)" this repeats the job's own ERROR
# lines and names its log, or, when it left none (killed, never started, its log unwritten),
# writes one ERROR line naming the job and its log. The exit status is the runner's.
[ $# -ge 3 ] || { echo "Usage: $0 <runner> [options] [JOB=1:N] <log> <command> [<args>...]" >&2; exit 1; }
"$@"
status=$?
[ $status -eq 0 ] && exit 0
prog=$(basename "$1"); shift
. "$(dirname "$0")/job_report.sh"
job_args "$@" 2>/dev/null || { echo "ERROR ($prog): failed with status $status: $*" >&2; exit $status; }
n=$first
while [ $n -le $last ]; do
  job_log=$(for_job "$log" $n)
  # run.pl ends a log with "# Ended (code N)", or "(code N; signal S)" for a killed job.
  ended=$(sed -n 's/^# Ended (\([^)]*\)).*/\1/p' "$job_log" 2>/dev/null | tail -n 1)
  if [ "$ended" != "code 0" ]; then
    job=; [ $first -ne $last ] && job=$n
    code=$(printf '%s\n' "$ended" | sed -n 's/^code \([0-9]*\)$/\1/p')
    signal=$(printf '%s\n' "$ended" | sed -n 's/.*; signal \([0-9]*\)$/\1/p')
    [ -n "$signal" ] && code=$((128 + signal))
    if [ -z "$code" ]; then
      errors=$(grep -E '^(ERROR|Traceback)|Error:' "$job_log" 2>/dev/null | tail -n 3)
      [ -n "$errors" ] && printf '%s\n' "$errors" >&2
      job_error "$job_log" $status " (no end in its log: killed, never started, or its log unwritten)${job:+ (job $job)}"
    else
      report_failure "$job_log" $code $job
    fi
  fi
  n=$((n + 1))
done
exit $status
