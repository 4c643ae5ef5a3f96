#!/bin/bash
# torque.sh start|stop|status - a real TORQUE 6.1 cluster on this machine for pbs-ve's sandbox and tests.
#
#   trqauthd, pbs_server, pbs_sched and one pbs_mom per simulated host. Every MOM has its own home
#   (mom_priv, mom_logs, spool, aux, undelivered), its own ports (-M/-R) and its own host name: it runs
#   in a UTS namespace of its own (unshare --uts; hostname <node>), so its prologue, its jobs and
#   their `hostname` see the simulated host, as on a real cluster.
#
# Facts this relies on (../shared/torque/README.md and live runs): pbs_server and pbs_mom refuse homes
# below a world-writable directory such as /tmp (chk_file_sec), so the homes live below
# $TORQUE_SANDBOX_HOME (default /var/spool/pbs-ve-sandbox/torque); trqauthd's socket path and the
# clients' server_name file (/var/spool/torque/server_name) are fixed at build time, so ONE TORQUE
# sandbox runs on a machine at a time: start takes $TORQUE_SANDBOX_HOME/owner and refuses (exit 75)
# while another live sandbox holds it. `pbs_server -t create` asks y/n on stdin.
#
# Environment:
#   TORQUE_PREFIX         installed TORQUE (default /opt/torque)
#   TORQUE_SANDBOX_HOME   where the homes go (default /var/spool/pbs-ve-sandbox/torque; not under /tmp)
#   SANDBOX_DIR           the pbs-ve sandbox owning this cluster (required for start; recorded in owner)
#   MOM_PORT_BASE         first of 2 ports per MOM (default 15100): node i gets base+2i (-M), base+2i+1 (-R)
#   TORQUE_NODES          "name:np:prop,prop ..." (default "node1:2:lxc,kvm node2:2:lxc,kvm mon1:2:vemon")
#   START_TIMEOUT         seconds to wait for every node free (default 60)
# Prints on start: PBS_SERVER=<name>, TORQUE_BIN=<dir>, MOM_HOME_<node>=<dir> lines.
# Host changes outside the homes (idempotent): /etc/hosts maps each node name to 127.0.0.1 (one marked
# line), /var/spool/torque/server_name names this machine.
set -uo pipefail
umask 022

PREFIX=${TORQUE_PREFIX:-/opt/torque}
HOME_ROOT=${TORQUE_SANDBOX_HOME:-/var/spool/pbs-ve-sandbox/torque}
NODES_SPEC=${TORQUE_NODES:-"node1:2:lxc,kvm node2:2:lxc,kvm mon1:2:vemon"}
PORT_BASE=${MOM_PORT_BASE:-15100}
BIN=$PREFIX/bin
SBIN=$PREFIX/sbin
SERVER_HOME=$HOME_ROOT/server
SERVER=$(hostname)
HOSTS_MARK="# pbs-ve torque sandbox"
export PATH=$BIN:$SBIN:/usr/sbin:/usr/bin:/sbin:/bin
export PBS_DEFAULT=$SERVER

log() { echo "torque.sh: $*" >&2; }
# is_alive, wait_gone
source "$(dirname "${BASH_SOURCE[0]}")/process-helpers.sh"

# pids whose command is $1 and whose argv holds the word $2 (a home directory); "" = any argv
pids_of() {
  local d p comm
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    read -r comm 2>/dev/null <"$d/comm" || continue
    [ "$comm" = "$1" ] || continue
    if [ -z "${2:-}" ] || { tr '\0' '\n' <"$d/cmdline"; } 2>/dev/null | grep -qxF -- "$2"; then
      is_alive "$p" && echo "$p"
    fi
  done
}

# job processes and pelog scripts of this cluster: PBS_NODEFILE (or PBS_HOME) below our homes
job_pids() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] && continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qE "^(PBS_NODEFILE|PBS_HOME)=$HOME_ROOT/"; then
      is_alive "$p" && echo "$p"
    fi
  done
}

node_names() { local n; for n in $NODES_SPEC; do echo "${n%%:*}"; done; }

check_installed() {
  local f
  for f in "$SBIN/pbs_server" "$SBIN/pbs_sched" "$SBIN/pbs_mom" "$SBIN/trqauthd" "$BIN/qmgr" "$BIN/qsub" "$BIN/pbsnodes"; do
    [ -x "$f" ] || { log "TORQUE is not installed in $PREFIX ($f missing)"; exit 3; }
  done
}

# the previous owner is gone when its pbs_server no longer runs
take_owner() {
  mkdir -p "$HOME_ROOT"
  chmod 755 "$HOME_ROOT" "$(dirname "$HOME_ROOT")"
  if [ -f "$HOME_ROOT/owner" ] && [ -n "$(pids_of pbs_server "$SERVER_HOME")" ]; then
    log "another TORQUE sandbox runs on this machine ($(cat "$HOME_ROOT/owner")): stop it first"
    exit 75
  fi
  echo "${SANDBOX_DIR:?set SANDBOX_DIR}" >"$HOME_ROOT/owner"
}

ensure_hosts() {
  local names line
  names=$(node_names | tr '\n' ' ')
  line="127.0.0.1 ${names% } $HOSTS_MARK"
  if ! grep -qxF "$line" /etc/hosts; then
    grep -vF "$HOSTS_MARK" /etc/hosts >/etc/hosts.pbs-ve-tmp
    echo "$line" >>/etc/hosts.pbs-ve-tmp
    cat /etc/hosts.pbs-ve-tmp >/etc/hosts # /etc/hosts may be a bind mount: rewrite in place
    rm -f /etc/hosts.pbs-ve-tmp
  fi
  mkdir -p /var/spool/torque
  echo "$SERVER" >/var/spool/torque/server_name
}

make_home() { # dir, subdirs...
  local d=$1 s
  shift
  mkdir -p "$d"
  chmod 755 "$d"
  for s in "$@"; do mkdir -p "$d/$s"; done
  # the daemons read the environment of their jobs and pelogs from here (checked: not writable by others)
  printf 'PATH=/bin:/usr/bin\nLANG=C\n' >"$d/pbs_environment"
  chmod 644 "$d/pbs_environment"
}

wait_server() {
  for _ in $(seq 100); do
    qmgr -c 'list server' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "pbs_server did not answer: $(tail -n 5 "$SERVER_HOME"/server_logs/2* 2>/dev/null)"
  return 1
}

start_server() {
  rm -rf "$SERVER_HOME"
  make_home "$SERVER_HOME" server_priv server_priv/jobs server_priv/queues server_priv/acl_svr server_priv/acl_hosts \
    server_priv/acl_users server_priv/acl_groups server_priv/accounting server_priv/arrays server_priv/credentials \
    server_priv/disallowed_types server_priv/hostlist server_priv/nodes.d server_logs spool sched_priv sched_logs aux checkpoint job_logs
  chmod 750 "$SERVER_HOME/server_priv"
  chmod 1777 "$SERVER_HOME/spool"
  echo "$SERVER" >"$SERVER_HOME/server_name"
  # the scheduler's default policy file ships with TORQUE's home
  if [ -f /var/spool/torque/sched_priv/sched_config ]; then cp -a /var/spool/torque/sched_priv/. "$SERVER_HOME/sched_priv/"; fi
  if [ -z "$(pids_of trqauthd)" ]; then
    trqauthd >/dev/null 2>&1 || { log "trqauthd failed to start"; return 1; }
  fi
  # create mode makes a fresh server database (and wipes server_priv/nodes): set the server up, stop it,
  # write the node list, start it again as a normal server that reads it
  echo y | pbs_server -d "$SERVER_HOME" -t create >"$SERVER_HOME/server_logs/start.out" 2>&1 ||
    { log "pbs_server -t create failed: $(cat "$SERVER_HOME/server_logs/start.out")"; return 1; }
  wait_server || return 1
  # a server made with -t create has no queue and does not schedule; qsub refuses root, so every
  # manager/operator line names root at any host (the MOMs' prologues run as root on node1/node2/mon1)
  local c
  for c in "set server scheduling = True" "set server managers = root@*" "set server operators = root@*" \
    "set server keep_completed = 300" "set server node_check_rate = 20" "set server tcp_timeout = 30" \
    "set server job_stat_rate = 5" "set server poll_jobs = True" "set server scheduler_iteration = 2" \
    "set server node_ping_rate = 5" "set server mom_job_sync = True" "set server acl_host_enable = False"; do
    qmgr -c "$c" >/dev/null || { log "qmgr -c '$c' failed"; return 1; }
  done
  qterm -t quick >/dev/null 2>&1
  wait_gone 20 $(pids_of pbs_server "$SERVER_HOME") >/dev/null || { log "pbs_server did not stop after create"; return 1; }
  local i=0 n name np props
  : >"$SERVER_HOME/server_priv/nodes"
  for n in $NODES_SPEC; do
    name=${n%%:*}; np=${n#*:}; props=${np#*:}; np=${np%%:*}
    echo "$name np=$np ${props//,/ } mom_service_port=$((PORT_BASE + 2 * i)) mom_manager_port=$((PORT_BASE + 2 * i + 1))" >>"$SERVER_HOME/server_priv/nodes"
    i=$((i + 1))
  done
  pbs_server -d "$SERVER_HOME" >>"$SERVER_HOME/server_logs/start.out" 2>&1 ||
    { log "pbs_server failed: $(cat "$SERVER_HOME/server_logs/start.out")"; return 1; }
  wait_server || return 1
  # by its full path, as TORQUE's own init scripts do: an iteration past its alarm (-a, 180 s: hundreds of
  # queued jobs, each run waiting for its MOM) makes pbs_sched restart itself by execv(argv[0]), and a bare
  # name is then not found: the scheduler is gone and every job waits (seen at 512 VEs)
  "$SBIN/pbs_sched" -d "$SERVER_HOME" >/dev/null 2>&1 || { log "pbs_sched failed to start"; return 1; }
}

start_moms() {
  local i=0 n name home
  for n in $NODES_SPEC; do
    name=${n%%:*}
    home=$HOME_ROOT/mom-$name
    if [ -z "$(pids_of pbs_mom "$home")" ]; then
      unshare --uts sh -c 'hostname "$1" && exec "$2" -d "$3" -M "$4" -R "$5" -H "$1"' mom "$name" "$SBIN/pbs_mom" "$home" \
        "$((PORT_BASE + 2 * i))" "$((PORT_BASE + 2 * i + 1))" || { log "pbs_mom $name failed to start"; return 1; }
    fi
    i=$((i + 1))
  done
}

prepare_moms() {
  local n name home
  for n in $NODES_SPEC; do
    name=${n%%:*}
    home=$HOME_ROOT/mom-$name
    rm -rf "$home"
    make_home "$home" mom_priv mom_priv/jobs mom_logs spool undelivered aux checkpoint
    chmod 1777 "$home/spool" "$home/undelivered"
    chmod 751 "$home/mom_priv"
    echo "$SERVER" >"$home/server_name"
    # one file system for all simulated hosts: job output is copied with cp, never rcp/scp.
    # \$ignmem: a VE job's mem is the guest's size, enforced by libvirt; as RLIMIT_DATA on the job body
    # (TORQUE sets it for one-node jobs) it aborts node at start for small VEs (exit 134 at 64 MB)
    # nusers 0: a static value, so the MOM never runs its nusers() (mom_mach.c), which reallocs its uid list to
    # maxuid bytes instead of maxuid uids: with more than 200 non-root uids running on the machine (every LXC VE
    # is one, its own id range) it corrupts the heap and every MOM aborts at its next status update (core dumps
    # of a 256-VE storm: malloc_consolidate(): invalid chunk size, in generate_server_status)
    cat >"$home/mom_priv/config" <<EOF
\$pbsserver $SERVER
\$usecp *:/ /
\$logevent 255
\$prologalarm 120
\$ignmem true
\$status_update_time 5
\$check_poll_time 5
\$node_check_interval 1,jobstart,jobend
nusers 0
EOF
    echo "MOM_HOME_$name=$home"
  done
}

wait_nodes_free() {
  local deadline want free
  deadline=$(($(date +%s) + ${START_TIMEOUT:-60}))
  want=$(node_names | wc -l)
  while :; do
    free=$(pbsnodes -x 2>/dev/null | grep -o '<state>free</state>' | wc -l)
    [ "$free" -eq "$want" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && { log "nodes not free after ${START_TIMEOUT:-60}s: $(pbsnodes -l all 2>&1 | tr '\n' ' ')"; return 1; }
    sleep 0.2
  done
}

do_start() {
  local t0
  t0=$(date +%s.%N)
  check_installed
  take_owner
  ensure_hosts
  prepare_moms || { do_stop >/dev/null 2>&1; exit 1; }
  start_server || { do_stop >/dev/null 2>&1; exit 1; }
  echo "PBS_SERVER=$SERVER"
  echo "TORQUE_BIN=$BIN"
  echo "TORQUE_SBIN=$SBIN"
  log "server and scheduler up in $(echo "$(date +%s.%N) - $t0" | bc) s"
}

# second step: MOMs start after pbs-ve installed its wrappers and mom_priv/config lines
do_start_moms() {
  start_moms || { do_stop >/dev/null 2>&1; exit 1; }
  wait_nodes_free || { do_stop >/dev/null 2>&1; exit 1; }
  log "nodes free: $(node_names | tr '\n' ' ')"
}

do_stop() {
  local ids p all
  if [ -n "$(pids_of pbs_server "$SERVER_HOME")" ]; then
    ids=$(timeout 10 qselect 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
      timeout 20 qdel -W 0 $ids >/dev/null 2>&1
      for _ in $(seq 50); do
        [ -z "$(timeout 10 qselect -s RE 2>/dev/null)" ] && break
        sleep 0.1
      done
      timeout 10 qdel -p $ids >/dev/null 2>&1 # purge what did not end
    fi
    timeout 10 qterm -t quick >/dev/null 2>&1
  fi
  all=""
  for p in $(pids_of pbs_sched "$SERVER_HOME") $(pids_of pbs_server "$SERVER_HOME"); do all="$all $p"; done
  for p in $(node_names); do all="$all $(pids_of pbs_mom "$HOME_ROOT/mom-$p" | tr '\n' ' ')"; done
  [ -n "${all// /}" ] && kill $all 2>/dev/null
  wait_gone 5 $all >/dev/null || kill -9 $all 2>/dev/null
  for _ in 1 2 3; do
    all=$(job_pids | tr '\n' ' ')
    [ -z "${all// /}" ] && break
    log "SIGKILL to leftover job processes: $all"
    kill -9 $all 2>/dev/null
    wait_gone 5 $all >/dev/null
  done
  # trqauthd serves the whole machine; it goes with the last sandbox
  for p in $(pids_of trqauthd); do kill "$p" 2>/dev/null; done
  rm -f "$HOME_ROOT/owner"
  log "stopped"
}

# a host dying: its pbs_mom and every job process and pelog of that MOM (SIGKILL, no goodbye to the server)
do_kill_mom() {
  local node=${1:?node} home pids="" d p
  home=$HOME_ROOT/mom-$node
  pids=$(pids_of pbs_mom "$home" | tr '\n' ' ')
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] && continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qE "^(PBS_NODEFILE|PBS_HOME)=$home/"; then is_alive "$p" && pids="$pids $p"; fi
  done
  [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null
  wait_gone 10 $pids >/dev/null
  echo "KILLED=${pids# }"
}

# one MOM back (after do_kill_mom), without waiting for it to be free: it may come back offline
do_start_mom() {
  local node=${1:?node} i=0 n
  for n in $NODES_SPEC; do
    if [ "${n%%:*}" = "$node" ]; then
      unshare --uts sh -c 'hostname "$1" && exec "$2" -d "$3" -M "$4" -R "$5" -H "$1"' mom "$node" "$SBIN/pbs_mom" "$HOME_ROOT/mom-$node" \
        "$((PORT_BASE + 2 * i))" "$((PORT_BASE + 2 * i + 1))" || { log "pbs_mom $node failed to start"; exit 1; }
      return 0
    fi
    i=$((i + 1))
  done
  log "no node $node"; exit 2
}

do_status() {
  local rc=0 n
  [ -n "$(pids_of pbs_server "$SERVER_HOME")" ] || { echo "pbs_server: not running"; return 3; }
  echo "owner: $(cat "$HOME_ROOT/owner" 2>/dev/null)"
  for n in $(node_names); do
    [ -n "$(pids_of pbs_mom "$HOME_ROOT/mom-$n")" ] && echo "pbs_mom $n: running" || { echo "pbs_mom $n: dead"; rc=1; }
  done
  timeout 10 pbsnodes -a 2>&1 | grep -E '^[a-z]|state =|properties =' || rc=1
  return $rc
}

case "${1:-}" in
start) do_start ;;
start-moms) do_start_moms ;;
kill-mom) do_kill_mom "${2:-}" ;;
start-mom) do_start_mom "${2:-}" ;;
stop) do_stop ;;
status) do_status ;;
*) echo "usage: SANDBOX_DIR=... $0 start|start-moms|stop|status|kill-mom NODE|start-mom NODE" >&2; exit 2 ;;
esac
