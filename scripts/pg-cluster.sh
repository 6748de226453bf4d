#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, on a free loopback port.
#
#   scripts/pg-cluster.sh start DIR     create DIR, initdb, start, create the
#                                       database holdfast_test; prints exactly
#                                       one line on stdout:
#                                       postgres://postgres@127.0.0.1:PORT/holdfast_test
#   scripts/pg-cluster.sh stop DIR      stop it (immediate) and remove DIR
#   scripts/pg-cluster.sh run -- CMD…   start one in a fresh temp dir, run CMD
#                                       with HOLDFAST_TEST_POSTGRES_URL set,
#                                       always stop and remove it; exits with
#                                       CMD's status
#
# PostgreSQL refuses to run as root, so when run as root the server runs as
# user postgres (runuser); DIR must then be reachable by that user — use a
# directory under /tmp, not under /root or a private work tree. Auth is
# "trust" (local socket in DIR, and TCP on 127.0.0.1 only); fsync is off.
# Diagnostics go to stderr; the server's log is DIR/postgres.log.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=postgres
DB_NAME=holdfast_test
MARKER=.holdfast-pg-cluster

log() { echo "pg-cluster: $*" >&2; }
die() {
  echo "pg-cluster: ERROR: $1" >&2
  shift
  local line
  for line in "$@"; do echo "pg-cluster:   $line" >&2; done
  exit 1
}
usage() {
  cat >&2 <<'EOF'
usage: scripts/pg-cluster.sh start DIR
       scripts/pg-cluster.sh stop DIR
       scripts/pg-cluster.sh run -- CMD [ARG…]
EOF
  exit 2
}

# Run a PostgreSQL program as the cluster's owner, from a directory it can
# enter, with a locale that always exists.
as_pg() {
  if ((EUID == 0)); then
    (cd / && LC_ALL=C.UTF-8 runuser -u "$PG_USER" -- "$@")
  else
    (cd / && LC_ALL=C.UTF-8 "$@")
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

abs_dir() {
  # Absolute path of $1 (which may not exist yet).
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

cmd_start() {
  local dir
  dir=$(abs_dir "$1")
  dir=${dir%/}
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found." "Install PostgreSQL 15: 'scripts/setup.sh test' (or apt-get install postgresql-15)."
  if ((EUID == 0)) && ! id -u "$PG_USER" >/dev/null 2>&1; then
    die "user $PG_USER does not exist." "Install postgresql-15 (it creates the user): 'scripts/setup.sh test'."
  fi
  # The socket path must fit in sun_path (107 bytes).
  if ((${#dir} + 17 > 107)); then
    die "DIR is too long for a Unix socket path: $dir" "Use a short directory, e.g. one from 'mktemp -d /tmp/pg.XXXXXX'."
  fi
  local created=0
  if [[ -e $dir ]]; then
    [[ -d $dir ]] || die "$dir exists and is not a directory."
    [[ -z $(ls -A "$dir") ]] || die "$dir exists and is not empty." "Give a new or empty directory (stop an old cluster with 'scripts/pg-cluster.sh stop $dir')."
  else
    mkdir -p "$dir"
    created=1
  fi
  : >"$dir/$MARKER"
  if ((EUID == 0)); then
    chown "$PG_USER:" "$dir" "$dir/$MARKER"
  fi
  chmod 700 "$dir"
  if ! as_pg test -w "$dir"; then
    if ((created)); then rm -rf "$dir"; else rm -f "$dir/$MARKER"; fi
    die "user $PG_USER cannot write to $dir (a parent directory is not traversable by it)." \
      "Use a directory under /tmp, e.g. \$(mktemp -d /tmp/pg.XXXXXX)."
  fi

  if ! as_pg "$PG_BIN/initdb" -D "$dir/data" -U "$PG_USER" -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1; then
    tail -n 20 "$dir/initdb.log" >&2
    die "initdb failed (log: $dir/initdb.log)."
  fi

  # A port that was free a moment ago can be taken before the server binds
  # it: retry with a new one in that case.
  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    : >"$dir/postgres.log"
    ((EUID == 0)) && chown "$PG_USER:" "$dir/postgres.log"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
        -o "-k $dir -c listen_addresses=127.0.0.1 -p $port -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
        >"$dir/pg_ctl.log" 2>&1; then
      break
    fi
    if grep -q 'Address already in use' "$dir/postgres.log" && ((attempt < 5)); then
      log "port $port was taken, retrying"
      continue
    fi
    tail -n 20 "$dir/postgres.log" "$dir/pg_ctl.log" >&2
    die "pg_ctl start failed (logs: $dir/postgres.log, $dir/pg_ctl.log)."
  done
  printf '%s\n' "$port" >"$dir/port"

  if ! as_pg "$PG_BIN/createdb" -h "$dir" -p "$port" -U "$PG_USER" "$DB_NAME" >"$dir/createdb.log" 2>&1; then
    cat "$dir/createdb.log" >&2
    die "createdb $DB_NAME failed; the server is still running: stop it with 'scripts/pg-cluster.sh stop $dir'."
  fi
  printf 'postgres://%s@127.0.0.1:%s/%s\n' "$PG_USER" "$port" "$DB_NAME"
}

cmd_stop() {
  local dir
  dir=$(abs_dir "$1")
  dir=${dir%/}
  [[ -e $dir ]] || return 0
  [[ -f $dir/$MARKER ]] || die "$dir was not made by 'scripts/pg-cluster.sh start': not touching it."
  if [[ -f $dir/data/postmaster.pid ]]; then
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >"$dir/pg_ctl-stop.log" 2>&1; then
      # pg_ctl could not stop it (e.g. a stale pid file): end the postmaster
      # that this cluster's pid file names, if it still runs from this DIR.
      local pid
      pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
      if [[ $pid =~ ^[0-9]+$ ]] && [[ $(readlink "/proc/$pid/cwd" 2>/dev/null || true) == "$dir/data" ]]; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  rm -rf "$dir"
}

cmd_run() {
  (($# > 0)) || usage
  local dir url status=0
  dir=$(mktemp -d /tmp/holdfast-pg.XXXXXX)
  # shellcheck disable=SC2064
  trap "cmd_stop '$dir'" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  url=$(cmd_start "$dir")
  log "cluster up at $url ($dir)"
  export HOLDFAST_TEST_POSTGRES_URL=$url
  "$@" || status=$?
  exit "$status"
}

(($# >= 1)) || usage
case $1 in
  start)
    (($# == 2)) || usage
    cmd_start "$2"
    ;;
  stop)
    (($# == 2)) || usage
    cmd_stop "$2"
    ;;
  run)
    shift
    [[ ${1:-} == -- ]] && shift
    cmd_run "$@"
    ;;
  *) usage ;;
esac
