# process-helpers.sh - bash helpers slurm.sh and torque.sh share for watching the processes they start.
# Sourced, never run: `source "$(dirname "${BASH_SOURCE[0]}")/process-helpers.sh"`.

# running and not a zombie (PID 1 here reaps orphans only lazily, so kill -0 lies); no fork
is_alive() {
  local line
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  line=${line##*) }
  [ "${line%% *}" != Z ] && [ "${line%% *}" != X ]
}

# wait until every given pid is gone; prints the survivors and fails after $1 seconds
wait_gone() {
  local t=$1 end p left
  shift
  end=$(($(date +%s) + t))
  while :; do
    left=""
    for p in "$@"; do is_alive "$p" && left="$left $p"; done
    [ -z "$left" ] && return 0
    [ "$(date +%s)" -ge "$end" ] && { echo "$left"; return 1; }
    sleep 0.1
  done
}
