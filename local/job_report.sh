# Sourced by local/run_log.sh and local/kaldi_runner.sh: the runner arguments run.pl takes,
# and the report of a failed job, so that every runner reports a failure alike.
# The caller sets prog, the name in our lines.
tee_output=false
shown_error=false

job_args() {  # <runner arguments>: sets job_var, first, last, max_jobs, tee_output, log and
  # job_words (how many words came before the command); returns 1 after an ERROR line.
  job_var=; first=1; last=1; max_jobs=0; job_words=0
  for pass in 1 2; do   # like run.pl: JOB=1:N may come before or after the options
    while [ $# -ge 2 ]; do
      case $1 in
        --tee) tee_output=true; shift; job_words=$((job_words + 1)) ;;
        -V) shift; job_words=$((job_words + 1)) ;;
        --max-jobs-run|-tc) max_jobs=$2; shift 2; job_words=$((job_words + 2)) ;;
        -pe) shift 3; job_words=$((job_words + 3)) ;;
        -*) shift 2; job_words=$((job_words + 2)) ;;
        *) break ;;
      esac
    done
    case $1 in
      *=*)
        name=${1%%=*}; range=${1#*=}; from=${range%%:*}; to=${range#*:}
        case $name in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
        case $from$to in ''|*[!0-9]*) continue ;; esac
        [ "$from" -ge 1 ] && [ "$from" -le "$to" ] ||
          { echo "ERROR ($prog): invalid job range $1 (need 1 <= start <= end)" >&2; return 1; }
        job_var=$name; first=$from; last=$to; shift; job_words=$((job_words + 1)) ;;
    esac
  done
  case $max_jobs in ''|*[!0-9]*) echo "ERROR ($prog): invalid --max-jobs-run '$max_jobs'" >&2; return 1 ;; esac
  if [ $# -lt 2 ]; then
    echo "Usage: $prog [options] [JOB=1:N] <log> <command> [<args>...]" >&2; return 1
  fi
  log=$1; job_words=$((job_words + 1))
}

for_job() {  # <text> <job number>: the text with the job variable replaced
  if [ -n "$job_var" ]; then printf '%s\n' "$1" | sed "s/$job_var/$2/g"; else printf '%s\n' "$1"; fi
}

job_error() {  # <log> <status> <why>: the ERROR line of a job that left none of its own
  echo "ERROR ($prog): job failed with status $2$3; see $1" >&2
}

report_failure() {  # <log> <status> [<job number>]: the job's own ERROR lines, else one of ours
  errors=$(grep -E '^(ERROR|Traceback)|Error:' "$1" 2>/dev/null | tail -n 3)
  $shown_error && errors="ERROR (shown above)"   # --tee: on the console, maybe not in the log
  case $errors in
    *ERROR*) $tee_output || printf '%s\n' "$errors" >&2
             echo "$prog: job ${3:+$3 }failed with status $2; see $1" >&2 ;;
    *) [ -n "$errors" ] && ! $tee_output && printf '%s\n' "$errors" >&2
       case $2 in
         137) why=" (killed)" ;;
         1[2-9][0-9]) why=" (killed by signal $(( $2 - 128 )))" ;;
         *) why="" ;;
       esac
       job_error "$1" "$2" "$why${3:+ (job $3)}" ;;
  esac
}
