#!/bin/bash
# mariadb.sh start|stop - a private, loopback-only MariaDB for the sandbox's slurmdbd (Slurm accounting).
#
# Everything (data directory, socket, pid file, log) lives under $DB_DIR; nothing in /etc is read
# (--no-defaults). "start" always begins from a fresh data directory (mariadb-install-db) and makes the
# database user slurmdbd connects as, with a random password; it prints
#   DB_PORT=...  DB_USER=slurm  DB_PASSWORD=...  DB_SOCKET=...
# The server runs as the mysql system account (the mariadb-server package makes it).
#
# Environment:
#   DB_DIR    instance directory (required)
#   DB_PORT   TCP port on 127.0.0.1 (required for start)
set -uo pipefail
umask 077

DIR=${DB_DIR:?set DB_DIR to a private instance directory}
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd -P)
DATA=$DIR/data
SOCK=$DIR/run/mysqld.sock
PIDFILE=$DIR/run/mariadbd.pid
ACCOUNT=mysql

log() { echo "mariadb.sh: $*" >&2; }
# is_alive, wait_gone
source "$(dirname "${BASH_SOURCE[0]}")/process-helpers.sh"

fail_start() {
  log "$*"
  [ -f "$DIR/log/mariadbd.err" ] && tail -n 20 "$DIR/log/mariadbd.err" >&2
  do_stop >/dev/null 2>&1
  exit 1
}

do_start() {
  local port=${DB_PORT:?set DB_PORT} t0 password pid
  if [ -f "$PIDFILE" ] && is_alive "$(cat "$PIDFILE")"; then log "mariadbd $(cat "$PIDFILE") still running: stop first"; exit 1; fi
  id -u "$ACCOUNT" >/dev/null 2>&1 || { log "no $ACCOUNT account: install mariadb-server (scripts/install-deps.sh)"; exit 1; }
  t0=$(date +%s.%N)
  rm -rf "$DATA" "$DIR/run" "$DIR/log"
  mkdir -p "$DATA" "$DIR/run" "$DIR/log"
  chmod 755 "$DIR"
  chown "$ACCOUNT:" "$DATA" "$DIR/run" "$DIR/log"
  chmod 700 "$DATA" "$DIR/run" "$DIR/log"
  # --skip-test-db --auth-root-authentication-method=socket: no anonymous users, root only over the socket as OS root
  mariadb-install-db --no-defaults --user="$ACCOUNT" --datadir="$DATA" --auth-root-authentication-method=socket \
    --skip-test-db --skip-name-resolve >"$DIR/log/install-db.log" 2>&1 || { cat "$DIR/log/install-db.log" >&2; fail_start "mariadb-install-db failed"; }
  # small buffers: a sandbox holds a few hundred jobs; no binary log, no performance schema
  mariadbd --no-defaults --user="$ACCOUNT" --datadir="$DATA" --socket="$SOCK" --pid-file="$PIDFILE" \
    --bind-address=127.0.0.1 --port="$port" --skip-name-resolve --log-error="$DIR/log/mariadbd.err" \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --performance-schema=OFF --skip-log-bin \
    --innodb-flush-log-at-trx-commit=2 --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
  for _ in $(seq 300); do
    [ -S "$SOCK" ] && mariadb --no-defaults -S "$SOCK" -u root -e 'select 1' >/dev/null 2>&1 && break
    is_alive $! || fail_start "mariadbd exited"
    sleep 0.1
  done
  mariadb --no-defaults -S "$SOCK" -u root -e 'select 1' >/dev/null 2>&1 || fail_start "mariadbd did not answer within 30 s"
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  mariadb --no-defaults -S "$SOCK" -u root -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" ||
    fail_start "could not create the database user"
  pid=$(cat "$PIDFILE" 2>/dev/null)
  log "up in $(echo "$(date +%s.%N) - $t0" | bc) s (pid $pid, port $port)"
  echo "DB_PORT=$port"
  echo "DB_USER=slurm"
  echo "DB_PASSWORD=$password"
  echo "DB_SOCKET=$SOCK"
}

do_stop() {
  local pid
  [ -f "$PIDFILE" ] || { log "not running"; return 0; }
  pid=$(cat "$PIDFILE")
  if is_alive "$pid"; then
    kill "$pid" 2>/dev/null
    wait_gone 30 "$pid" >/dev/null || { log "SIGKILL to mariadbd $pid"; kill -9 "$pid" 2>/dev/null; wait_gone 5 "$pid" >/dev/null; }
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
*) echo "usage: DB_DIR=... $0 start|stop" >&2; exit 2 ;;
esac
