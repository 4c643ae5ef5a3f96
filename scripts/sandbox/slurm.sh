#!/bin/bash
# slurm.sh start|stop|status - a private, loopback-only 3-node Slurm cluster for pbs-ve tests.
#
#   munged + slurmctld + three "slurmd -N <node>":
#     node1, node2  partition "batch" (Default, 2 CPUs per node for VEs) and "veop" (op jobs), Features=kvm,lxc, CPUs=3, RealMemory=1000
#     mon1          partition "vemon" (AllowGroups=root: ordinary users cannot submit there)
#
# Everything (config, munge key and socket, state, spool, logs, hook output) lives under $SLURM_DIR;
# nothing in /etc is read or written. "start" always begins from a clean state. The only thing done
# outside $SLURM_DIR: the ordinary test user pbsve-user1 is created (once) if it does not exist.
#
# Environment:
#   SLURM_DIR              cluster directory (required)
#   SLURM_PORT_BASE        first of 5 ports: ctld +0, slurmd +1, node1..mon1 +2..+4
#                          (default: random 10-port slot in 17000-19990)
#   PROLOG / EPILOG        node Prolog/Epilog (default: generated env dumpers writing $SLURM_DIR/hookout)
#   HEALTH_CHECK_PROGRAM   optional HealthCheckProgram (HEALTH_CHECK_INTERVAL, default 60 s)
#   BATCH_MAX_TIME         MaxTime of partition batch (default 1-00:00:00)
#   SLURMD_TIMEOUT         SlurmdTimeout (default 10)
#   PROLOG_EPILOG_TIMEOUT  PrologEpilogTimeout (default 60)
#   MESSAGE_TIMEOUT        MessageTimeout (default 10); slurmd confirms a batch launch only after its Prolog
#   CRED_EXPIRE            munge credential lifetime = how long a requeued job waits (default 10 s)
#   START_TIMEOUT          seconds to wait for all nodes idle (default 60)
#   NODE_CPUS, NODE_MEMORY CPUs and RealMemory (MiB) of every node (default 2 and 1000); more than this
#                          machine has is fine (config_overrides): a boot storm of tiny VEs needs big nodes
#   DB_PORT, DB_USER, DB_PASSWORD  accounting (optional): a MariaDB on 127.0.0.1 (scripts/sandbox/mariadb.sh);
#                          then slurmdbd runs on port +5 before slurmctld, AccountingStorageEnforce=associations,
#                          limits,qos, the cluster, account "pbsve" and an association for every user in
#                          ACCOUNTING_USERS (default: root pbsve-user1) are added, and the QOS VE_QOS (default
#                          pbsve) is made and set as partition batch's QOS (its limits: `ve admin install server`)
# Clients need SLURM_CONF (printed by start as SLURM_CONF=...).
set -uo pipefail
umask 022 # munged refuses group/other-writable dirs and files

DIR=${SLURM_DIR:?set SLURM_DIR to a private cluster directory}
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd -P)
CONF=$DIR/etc/slurm.conf
SOCK=$DIR/run/munge.sock
NODES="node1 node2 mon1"
TEST_USER=pbsve-user1
export SLURM_CONF=$CONF # inherited by daemons, slurmstepd and hooks; stop relies on it

log() { echo "slurm.sh: $*" >&2; }
# is_alive, wait_gone
source "$(dirname "${BASH_SOURCE[0]}")/process-helpers.sh"

# sets REPLY to the parent pid of $1 (empty when gone); no fork
read_ppid() {
  local line
  REPLY=""
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  line=${line##*) }
  line=${line#* }
  REPLY=${line%% *}
}

# true when the NUL-separated file $1 holds the exact entry $2; no fork
has_entry() {
  local -a entries
  local e
  mapfile -d '' entries 2>/dev/null <"$1" || return 1
  for e in "${entries[@]}"; do [ "$e" = "$2" ] && return 0; done
  return 1
}

# true when /proc/$1/environ has our SLURM_CONF and a SLURM_JOB_ID (a job process or hook of this cluster)
is_job_process() {
  local -a entries
  local e conf=0 job=0
  mapfile -d '' entries 2>/dev/null <"/proc/$1/environ" || return 1
  for e in "${entries[@]}"; do
    [ "$e" = "SLURM_CONF=$CONF" ] && conf=1
    [ "${e#SLURM_JOB_ID=}" != "$e" ] && job=1
  done
  [ $conf = 1 ] && [ $job = 1 ]
}

# every live process of this cluster except munged: our daemons, slurmstepd and job processes or hooks
# (SLURM_CONF=<our conf> together with SLURM_JOB_ID in their environment), and all their descendants.
# Never this script, its subshells or its ancestors (the caller may carry SLURM_CONF too).
cluster_pids() {
  local d p q comm
  declare -A mine=() parent=() self=()
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    read_ppid "$p" && parent[$p]=$REPLY
  done
  q=$$
  while [ -n "$q" ] && [ "$q" != 0 ]; do self[$q]=1; q=${parent[$q]:-}; done
  for p in "${!parent[@]}"; do
    read -r comm 2>/dev/null <"/proc/$p/comm" || continue
    case "$comm" in
    slurmctld | slurmd | slurmstepd | slurmdbd)
      # also a daemon whose pid file is already gone: our conf in its argv or environment
      if has_entry "/proc/$p/cmdline" "$CONF" || has_entry "/proc/$p/environ" "SLURM_CONF=$CONF"; then mine[$p]=1; fi
      ;;
    munged) ;;
    *) is_job_process "$p" && mine[$p]=1 ;;
    esac
  done
  local changed=1
  while [ $changed = 1 ]; do
    changed=0
    for p in "${!parent[@]}"; do
      [ -n "${mine[$p]:-}" ] && continue
      if [ -n "${mine[${parent[$p]}]:-}" ]; then mine[$p]=1; changed=1; fi
    done
  done
  for p in "${!mine[@]}"; do
    # skip this script's own tree: any process with $$ among its ancestors, and its ancestors
    q=$p
    while [ -n "$q" ] && [ "$q" != 0 ] && [ "$q" != $$ ]; do q=${parent[$q]:-}; done
    [ "$q" = $$ ] && continue
    [ -n "${self[$p]:-}" ] && continue
    is_alive "$p" && echo "$p"
  done
}

ensure_test_user() {
  id -u "$TEST_USER" >/dev/null 2>&1 && return 0
  useradd -m -s /bin/bash "$TEST_USER" 2>/dev/null || id -u "$TEST_USER" >/dev/null 2>&1 ||
    { log "could not create user $TEST_USER"; return 1; }
}

write_hooks() {
  local h
  mkdir -p "$DIR/hooks" "$DIR/hookout"
  chmod 1777 "$DIR/hookout"
  for h in prolog epilog; do
    cat >"$DIR/hooks/$h.sh" <<EOF
#!/bin/sh
# generated by slurm.sh: record argv and environment of this $h run
f=$DIR/hookout/$h.\${SLURM_JOB_ID:-x}.\${SLURMD_NODENAME:-x}.\$\$
{ echo "ARGS: \$*"; env | sort; } >"\$f"
# test knobs: $DIR/hooks/$h.fail (exit code), $DIR/hooks/$h.sleep (seconds)
[ -f $DIR/hooks/$h.sleep ] && sleep "\$(cat $DIR/hooks/$h.sleep)"
[ -f $DIR/hooks/$h.fail ] && exit "\$(cat $DIR/hooks/$h.fail)"
exit 0
EOF
    chmod 755 "$DIR/hooks/$h.sh"
  done
}

write_conf() {
  local pb=$1 prolog=$2 epilog=$3 health="" accounting="AccountingStorageType=accounting_storage/none" qos=""
  if [ -n "${DB_PORT:-}" ]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((pb + 5))
# for slurmdbd connections this names the munge socket (AuthInfo's is not used there)
AccountingStoragePass=$SOCK
# every job needs an association (user, account); QOS and association limits are enforced
AccountingStorageEnforce=associations,limits,qos"
    qos=" QOS=${VE_QOS:-pbsve}"
  fi
  if [ -n "${HEALTH_CHECK_PROGRAM:-}" ]; then
    health="HealthCheckProgram=$HEALTH_CHECK_PROGRAM
HealthCheckInterval=${HEALTH_CHECK_INTERVAL:-60}
HealthCheckNodeState=ANY"
  fi
  cat >"$CONF" <<EOF
# generated by pbs-ve scripts/sandbox/slurm.sh
ClusterName=pbsve
SlurmctldHost=localhost
SlurmctldPort=$pb
SlurmdPort=$((pb + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also bounds how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$SOCK,cred_expire=${CRED_EXPIRE:-10}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$accounting
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job without --mem gets 100 MiB per cpu, not the whole node
DefMemPerCPU=100
SchedulerType=sched/backfill
# batch_sched_delay=0 + sched_interval=1: a submitted job starts within ~1 s
SchedulerParameters=batch_sched_delay=0,sched_interval=1
ReturnToService=2
# refuse at submit what no partition can ever run (cpus, time over MaxTime) instead of pending forever
EnforcePartLimits=ALL
SlurmdTimeout=${SLURMD_TIMEOUT:-10}
SlurmctldTimeout=10
MessageTimeout=${MESSAGE_TIMEOUT:-10}
InactiveLimit=0
KillWait=2
MinJobAge=300
Prolog=$prolog
Epilog=$epilog
PrologFlags=Alloc
PrologEpilogTimeout=${PROLOG_EPILOG_TIMEOUT:-60}
$health
# several slurmd on one host: each node its own port, started with "slurmd -N <name>"
SlurmdParameters=config_overrides
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((pb + 2)) CPUs=$((${NODE_CPUS:-2} + 1)) RealMemory=${NODE_MEMORY:-1000} Features=kvm,lxc State=UNKNOWN
NodeName=node2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((pb + 3)) CPUs=$((${NODE_CPUS:-2} + 1)) RealMemory=${NODE_MEMORY:-1000} Features=kvm,lxc State=UNKNOWN
NodeName=mon1  NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((pb + 4)) CPUs=${NODE_CPUS:-2} RealMemory=${NODE_MEMORY:-1000} Features=vemon State=UNKNOWN
# VEs get NODE_CPUS of each VE node's CPUs; one more is for op jobs (ve stop, snapshot, migrate ...) in "veop",
# so an operation never waits for a host full of VEs (docs/design.md, "Operations")
PartitionName=batch Nodes=node1,node2 Default=YES MaxTime=${BATCH_MAX_TIME:-1-00:00:00} MaxCPUsPerNode=${NODE_CPUS:-2}$qos State=UP
PartitionName=veop Nodes=node1,node2 MaxTime=01:00:00 PriorityTier=2 State=UP
PartitionName=vemon Nodes=mon1 AllowGroups=root MaxTime=INFINITE State=UP
EOF
}

write_dbd_conf() {
  local pb=$1
  # slurmdbd finds it beside $SLURM_CONF; it holds the database password: 0600, owned by SlurmUser (root here)
  (umask 077 && cat >"$DIR/etc/slurmdbd.conf" <<EOF
# generated by pbs-ve scripts/sandbox/slurm.sh
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((pb + 5))
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=${DB_USER:-slurm}
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
  )
  chown root:root "$DIR/etc/slurmdbd.conf"
  chmod 600 "$DIR/etc/slurmdbd.conf"
}

# slurmdbd up and answering, then what an admin adds once: the cluster, an account, the users' associations, pbs-ve's QOS
start_dbd() {
  local u
  slurmdbd || fail_start "slurmdbd failed to start"
  local deadline=$(($(date +%s) + 30))
  until timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && fail_start "slurmdbd did not answer within 30 s: $(timeout 10 sacctmgr -n show cluster 2>&1 | tail -n 2 | tr '\n' ' ')"
    sleep 0.1
  done
  timeout 20 sacctmgr -i add cluster pbsve >/dev/null || fail_start "sacctmgr add cluster failed"
  timeout 20 sacctmgr -i add account pbsve Description=pbs-ve Organization=sandbox >/dev/null || fail_start "sacctmgr add account failed"
  for u in ${ACCOUNTING_USERS:-root $TEST_USER}; do
    timeout 20 sacctmgr -i add user "$u" Account=pbsve >/dev/null || fail_start "sacctmgr add user $u failed"
  done
  timeout 20 sacctmgr -i add qos "${VE_QOS:-pbsve}" >/dev/null || fail_start "sacctmgr add qos failed"
}

fail_start() {
  local f
  log "$*"
  for f in "$DIR"/log/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
  do_stop >/dev/null 2>&1
  exit 1
}

do_start() {
  local pb=${SLURM_PORT_BASE:-$((17000 + RANDOM % 300 * 10))} n pf t0 t1 deadline idle want
  for pf in "$DIR"/run/*.pid; do
    [ -f "$pf" ] || continue
    if is_alive "$(cat "$pf")"; then log "$(basename "$pf") $(cat "$pf") still running: stop first"; exit 1; fi
  done
  ensure_test_user || exit 1
  t0=$(date +%s.%N)
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/hookout"
  mkdir -p "$DIR"/{etc,run,log,state}
  chmod 755 "$DIR" "$DIR/run" # munged: socket dir needs o+x
  for n in $NODES; do mkdir -p "$DIR/spool/$n"; done
  if [ ! -s "$DIR/etc/munge.key" ]; then
    mungekey -c -k "$DIR/etc/munge.key" 2>/dev/null ||
      dd if=/dev/urandom of="$DIR/etc/munge.key" bs=1024 count=1 status=none
  fi
  chmod 600 "$DIR/etc/munge.key"
  write_hooks
  write_conf "$pb" "${PROLOG:-$DIR/hooks/prolog.sh}" "${EPILOG:-$DIR/hooks/epilog.sh}"

  munged --key-file="$DIR/etc/munge.key" --socket="$SOCK" --pid-file="$DIR/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munged.seed" || fail_start "munged failed"
  for _ in $(seq 50); do
    munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null 2>&1 || fail_start "munged not working"

  if [ -n "${DB_PORT:-}" ]; then
    write_dbd_conf "$pb"
    start_dbd
  fi
  slurmctld -f "$CONF" || fail_start "slurmctld failed to start"
  for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.1
  done
  scontrol ping 2>/dev/null | grep -q 'is UP' || fail_start "slurmctld did not come up"
  for n in $NODES; do slurmd -f "$CONF" -N "$n" || fail_start "slurmd $n failed to start"; done

  deadline=$(($(date +%s) + ${START_TIMEOUT:-60}))
  want=$(echo $NODES | wc -w)
  while :; do
    idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 == "idle"' | sort -u | wc -l)
    [ "$idle" -eq "$want" ] && break
    [ "$(date +%s)" -ge "$deadline" ] && fail_start "nodes not idle after ${START_TIMEOUT:-60}s: $(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')"
    sleep 0.1
  done
  t1=$(date +%s.%N)
  log "up in $(echo "$t1 - $t0" | bc) s (ports $pb..$((pb + 4)))"
  echo "SLURM_CONF=$CONF"
}

do_stop() {
  local ctld="" ids stray daemons p comm
  [ -f "$DIR/run/slurmctld.pid" ] && ctld=$(cat "$DIR/run/slurmctld.pid")
  # read before the shutdown: the daemons remove their pid files while still running
  daemons=$(cluster_pids | tr '\n' ' ')
  if [ -n "$ctld" ] && is_alive "$ctld" && [ -f "$CONF" ]; then
    # cancel every job so slurmstepd and job processes end the normal way
    ids=$(timeout 10 squeue -h -t PD,R,CG,CF,S,RQ,RS,RH -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
      timeout 10 scancel $ids 2>/dev/null
      # up to 4 s (KillWait=2); a hanging Prolog/Epilog keeps its job COMPLETING: killed below
      for _ in $(seq 40); do
        [ -z "$(timeout 10 squeue -h -t R,CG,CF,S -o %i 2>/dev/null)" ] && break
        sleep 0.1
      done
      # still there: hooks or jobs that do not end; kill them so the slurmd can shut down at once
      if [ -n "$(timeout 10 squeue -h -t R,CG,CF,S -o %i 2>/dev/null)" ]; then
        stray=""
        for p in $(cluster_pids); do
          read -r comm 2>/dev/null <"/proc/$p/comm" || continue
          case "$comm" in slurmctld | slurmd) ;; *) stray="$stray $p" ;; esac
        done
        if [ -n "$stray" ]; then
          log "SIGKILL to jobs and hooks that did not end:$stray"
          kill -9 $stray 2>/dev/null
          wait_gone 2 $stray >/dev/null
        fi
      fi
    fi
    # slurmctld saves its state and forwards the shutdown to every slurmd
    timeout 10 scontrol shutdown >/dev/null 2>&1
  fi
  # slurmdbd is not reached by scontrol shutdown: after slurmctld, which sends it what it still holds
  if [ -f "$DIR/run/slurmdbd.pid" ] && is_alive "$(cat "$DIR/run/slurmdbd.pid")"; then
    kill "$(cat "$DIR/run/slurmdbd.pid")" 2>/dev/null
  fi
  wait_gone 4 $daemons >/dev/null
  # whatever of this cluster is still alive (re-read, never trust old pids): daemons, slurmstepd, hooks,
  # jobs; they had their graceful shutdown (a slurmd stuck on a hook ignores SIGTERM anyway)
  for _ in 1 2 3; do
    stray=$(cluster_pids | tr '\n' ' ')
    [ -z "${stray// /}" ] && break
    log "SIGKILL to leftover processes:$stray"
    kill -9 $stray 2>/dev/null
    wait_gone 5 $stray >/dev/null
  done
  if [ -f "$DIR/run/munged.pid" ]; then
    local munged
    munged=$(cat "$DIR/run/munged.pid")
    if is_alive "$munged"; then
      munged --stop --socket="$SOCK" >/dev/null 2>&1 || kill "$munged" 2>/dev/null
      wait_gone 10 "$munged" >/dev/null || kill -9 "$munged" 2>/dev/null
    fi
  fi
  rm -f "$DIR"/run/*.pid
  log "stopped"
}

do_status() {
  local pf rc=0 name
  for pf in "$DIR"/run/*.pid; do
    [ -f "$pf" ] || continue
    name=$(basename "$pf" .pid)
    if is_alive "$(cat "$pf")"; then echo "$name: running ($(cat "$pf"))"; else echo "$name: dead"; rc=1; fi
  done
  [ -f "$DIR/run/slurmctld.pid" ] || { echo "not running"; return 3; }
  timeout 10 sinfo -N -o '%N %P %T %f' 2>&1 || rc=1
  echo "SLURM_CONF=$CONF"
  return $rc
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) echo "usage: SLURM_DIR=... $0 start|stop|status" >&2; exit 2 ;;
esac
