# One run at a time per directory. Source it, then:   take_lock <dir> <prog> || exit 1
#
# Takes an exclusive lock on <dir>/.lock for as long as this shell (and the jobs it starts,
# which inherit the descriptor) runs; the kernel drops it when they end, however they end,
# so a killed run leaves no stale lock. A second run on the same dir refuses at once with
# one line naming the holder (pid, start time, command), which the lock file records.
# flock(1) from util-linux takes the lock; without it, Python's fcntl.flock on the same
# inherited descriptor does the same.
take_lock() {
  mkdir -p "$1" || return 1
  vv_lock_file=$1/.lock
  # Opened for appending: the holder's line must survive the attempt of a refused run.
  exec 9>> "$vv_lock_file" || { echo "ERROR ($2): $vv_lock_file: cannot open the lock file" >&2; return 1; }
  if command -v flock > /dev/null 2>&1 && [ -z "${VV_LOCK_WITH_PYTHON:-}" ]; then
    flock -n 9
  else
    python3 -c 'import fcntl; fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)' 2> /dev/null
  fi
  if [ $? -ne 0 ]; then
    exec 9>&-
    echo "ERROR ($2): $1 is in use by another run ($(head -n 1 "$vv_lock_file" 2>/dev/null)); wait for it to end or use another directory" >&2
    return 1
  fi
  vv_lock_cmd=$(ps -o args= -p $$ 2>/dev/null) || vv_lock_cmd=$2
  # Who holds it, for the message of a refused run. Only a description: on a full disk it is
  # left out, and the first output the run writes reports the disk.
  printf 'pid %s, started %s, command: %s\n' $$ "$(date '+%Y-%m-%d %H:%M:%S')" "$vv_lock_cmd" \
    2>/dev/null > "$vv_lock_file" || :
}
