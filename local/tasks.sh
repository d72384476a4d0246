# Independent steps of a recipe run at the same time and reported as if run one after the
# other. Sourced by local/recipe_setup.sh:
#   task_start <function-or-command> [args...]   # in the background
#   ...
#   tasks_wait || exit 1                          # all done; their output replayed in order
# Most of the back-end stages are short single-threaded jobs (a Python start each), so one
# after the other they leave a core idle. Each task's stdout and stderr go to files of
# their own in a temporary dir (not in $exp: a full exp disk must not swallow the ERROR
# line) and are printed in the order the tasks were started, up to and including the first
# task that failed; what the later tasks printed is not shown. So a fault that fails every
# task (a full disk) still gives one ERROR line, not one per task. A failed task that
# printed no ERROR line gets one of ours. tasks_wait waits for every task, so nothing is
# still writing when the recipe stops. Where no temporary dir can be made, the tasks run
# one after the other, and none starts after one has failed.
# An interrupt (Ctrl-C), TERM or HUP stops the running tasks and every process they started,
# then the recipe: a shell's background jobs ignore SIGINT, and a task left running (a
# training job) would go on writing into $exp after the recipe has gone.
tasks_dir=; tasks_n=0; tasks_pids=; tasks_failed=

tasks_tree() {  # <pid>...: each pid and, below it, every process it started
  for tasks_p; do
    echo $tasks_p
    tasks_tree $(pgrep -P $tasks_p 2>/dev/null)
  done
}

tasks_stop() {  # <exit status>: stop the tasks (see above), wait for them, exit
  kill -TERM $(tasks_tree $tasks_pids) 2>/dev/null
  wait
  [ "$tasks_dir" = none ] || [ -z "$tasks_dir" ] || rm -rf "$tasks_dir"
  exit $1
}

task_start() {
  if [ -z "$tasks_dir" ]; then
    tasks_dir=$(mktemp -d "${TMPDIR:-/tmp}/vv-tasks.XXXXXX" 2>/dev/null) || tasks_dir=none
    trap 'tasks_stop 130' INT; trap 'tasks_stop 143' TERM; trap 'tasks_stop 129' HUP
  fi
  tasks_n=$((tasks_n + 1))
  if [ "$tasks_dir" = none ]; then
    [ -n "$tasks_failed" ] || "$@" || tasks_failed="$*"
  else
    # A task may run tasks of its own: it starts with none (a temporary dir of its own).
    ( tasks_dir=; tasks_n=0; tasks_pids=; tasks_failed=; "$@" ) \
      > "$tasks_dir/$tasks_n.out" 2> "$tasks_dir/$tasks_n.err" &
    tasks_pids="$tasks_pids $!"
    eval "tasks_what_$tasks_n=\$*"
  fi
}

tasks_wait() {
  tasks_first=$tasks_failed; tasks_i=0
  for tasks_pid in $tasks_pids; do
    tasks_i=$((tasks_i + 1))
    wait $tasks_pid; tasks_rc=$?
    [ -z "$tasks_first" ] || continue
    [ ! -f "$tasks_dir/$tasks_i.out" ] || cat "$tasks_dir/$tasks_i.out"
    [ ! -f "$tasks_dir/$tasks_i.err" ] || cat "$tasks_dir/$tasks_i.err" >&2
    if [ $tasks_rc -ne 0 ]; then
      eval "tasks_first=\$tasks_what_$tasks_i"
      if [ ! -f "$tasks_dir/$tasks_i.err" ]; then
        echo "ERROR (${recipe:-$0}): $tasks_dir: cannot write the output of: $tasks_first" >&2
      elif ! grep -q '^ERROR' "$tasks_dir/$tasks_i.err"; then
        echo "ERROR (${recipe:-$0}): failed with status $tasks_rc: $tasks_first" >&2
      fi
    fi
  done
  [ "$tasks_dir" = none ] || [ -z "$tasks_dir" ] || rm -rf "$tasks_dir"
  tasks_dir=; tasks_n=0; tasks_pids=; tasks_failed=
  trap - INT TERM HUP
  [ -z "$tasks_first" ]
}
