#!/usr/bin/env bash
# `make cluster`: three Holdfast nodes on this one machine, sharing what a real deployment shares.
#
#   scripts/cluster.sh          start everything, print the addresses and the operator's
#                               credentials, wait; Ctrl-C (or SIGTERM) stops everything
#   scripts/cluster.sh stop     stop what a run left behind (if it was killed hard)
#
# It starts: a throwaway PostgreSQL 15 (scripts/pg-cluster.sh, in a temp folder under /tmp), an
# in-memory S3 server (moto_server from .venv, bucket "holdfast"), a shared secrets folder and
# cluster secret, three nodes on 127.0.0.2:8080, 127.0.0.3:8080 and 127.0.0.4:8080 (Linux answers
# on all of 127.0.0.0/8), and a round-robin TCP front on 127.0.0.1:8080 (scripts/cluster-front.py).
#
# Environment:
#   HOLDFAST_BINARY        the server binary (default .build/debug/holdfast; `make build` makes it)
#   HOLDFAST_CLUSTER_DIR   the state folder: node data dirs, logs, secrets (default ./holdfast-cluster);
#                          wiped at the start of every run: the database and the bucket are throwaway
#   HOLDFAST_CLUSTER_PORT  the front's port on 127.0.0.1 (default 8080)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BINARY=${HOLDFAST_BINARY:-.build/debug/holdfast}
FRONT_PORT=${HOLDFAST_CLUSTER_PORT:-8080}
NODE_PORT=8080
NODES=(1 2 3)
MARKER=.holdfast-cluster
STATE=${HOLDFAST_CLUSTER_DIR:-./holdfast-cluster}
STATE=$(realpath -m -- "$STATE")
PYTHON=$ROOT/.venv/bin/python
[[ -x $PYTHON ]] || PYTHON=python3
MOTO=$ROOT/.venv/bin/moto_server

export AWS_ACCESS_KEY_ID=holdfast-demo AWS_SECRET_ACCESS_KEY=holdfast-demo-secret AWS_DEFAULT_REGION=us-east-1

say() { echo "cluster: $*"; }
die() {
  echo "cluster: ERROR: $1" >&2
  shift
  local line
  for line in "$@"; do echo "cluster:   $line" >&2; done
  exit 1
}

node_host() { echo "127.0.0.$(($1 + 1))"; }

# True when HOST:PORT can be bound now (with SO_REUSEADDR, as the servers bind).
port_free() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $3 seconds for a line matching $2 in file $1, while process $4 lives.
wait_for_line() {
  local file=$1 pattern=$2 timeout=$3 pid=$4 i
  for ((i = 0; i < timeout * 10; i++)); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    alive "$pid" || return 1
    sleep 0.1
  done
  return 1
}

# Ends what is left of a run in $STATE: processes started with the state folder on their command
# line (the nodes, and the sessions' sandboxes, which outlive their server by design), the
# sessions' slirp4netns, and the workspace volumes mounted under it.
sweep_state() {
  [[ -d $STATE ]] || return 0
  pkill -KILL -f "$STATE/" 2>/dev/null || true
  local pid_file pid mountpoint
  for pid_file in "$STATE"/node-*/sessions/*/slirp.pid; do
    [[ -f $pid_file ]] || continue
    read -r pid _ <"$pid_file" || true
    [[ ${pid:-} =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done
  # Anything else still holding a file under the state folder (a slirp4netns whose pid file
  # was never written, say), but for S3 and the front, which log there and are stopped apart.
  local keep=" $$ "
  for pid_file in "$STATE"/pids/*; do
    [[ -f $pid_file ]] && keep+="$(cat "$pid_file") "
  done
  while read -r pid; do
    [[ $keep == *" $pid "* ]] || kill -KILL "$pid" 2>/dev/null || true
  done < <(find /proc/[0-9]*/fd -lname "$STATE/*" 2>/dev/null | cut -d/ -f3 | sort -u)
  # Innermost first; /proc/mounts escapes a space as \040.
  while read -r mountpoint; do
    umount -l "$mountpoint" 2>/dev/null || true
  done < <(awk -v prefix="$STATE/" 'index($2, prefix) == 1 { print length($2) "\t" $2 }' /proc/mounts |
    sort -rn | cut -f2- | sed 's/\\040/ /g')
}

# True when process $1 runs (a zombie, dead but not yet reaped, does not).
alive() {
  local state
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != [ZX] ]]
}

# True when the scripts/cluster.sh that recorded itself in $STATE still runs (a zombie does not).
script_running() {
  local pid
  pid=$(cat "$STATE/pids/script" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && $pid != "$$" ]] || return 1
  alive "$pid" || return 1
  grep -qa 'cluster\.sh' "/proc/$pid/cmdline" 2>/dev/null
}

# Stops a process: SIGTERM, up to $2 seconds, then SIGKILL.
stop_process() {
  local pid=$1 timeout=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  say "pid $pid did not stop within ${timeout}s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# Stops everything a run recorded in $STATE/pids (and its PostgreSQL), then sweeps the state dir.
stop_all() {
  [[ -d $STATE ]] || return 0
  local name pid pg_dir
  if [[ -f $STATE/pids/front ]]; then
    say "stopping the front…"
    stop_process "$(cat "$STATE/pids/front")" 5
    rm -f "$STATE/pids/front"
  fi
  for name in "$STATE"/pids/node-*; do
    [[ -f $name ]] || continue
    pid=$(cat "$name")
    say "stopping ${name##*/} (pid $pid)…"
    stop_process "$pid" 20
    rm -f "$name"
  done
  say "ending what the nodes' sessions left (processes, mounts under $STATE)…"
  sweep_state
  if [[ -f $STATE/pids/moto ]]; then
    say "stopping the S3 server…"
    stop_process "$(cat "$STATE/pids/moto")" 10
    rm -f "$STATE/pids/moto"
  fi
  if [[ -f $STATE/pg-dir ]]; then
    say "stopping PostgreSQL…"
    pg_dir=$(cat "$STATE/pg-dir")
    if [[ -f $pg_dir/.holdfast-pg-cluster ]]; then
      scripts/pg-cluster.sh stop "$pg_dir" || true
    else
      rmdir "$pg_dir" 2>/dev/null || true # pg-cluster.sh had not begun with it
    fi
    rm -f "$STATE/pg-dir"
  fi
}

STOPPING=0
on_exit() {
  local status=$?
  ((STOPPING)) && return
  STOPPING=1
  trap '' INT TERM
  set +e
  [[ -n ${SLEEPER:-} ]] && kill "$SLEEPER" 2>/dev/null
  echo
  stop_all
  say "stopped."
  exit "$status"
}

if [[ ${1:-} == stop ]]; then
  [[ -f $STATE/$MARKER ]] || die "$STATE is not a cluster state folder (no $MARKER in it): nothing to stop."
  if script_running; then
    pid=$(cat "$STATE/pids/script")
    say "asking the running scripts/cluster.sh (pid $pid) to stop…"
    kill -TERM "$pid"
    while script_running; do sleep 0.2; done
  fi
  STOPPING=1
  stop_all
  say "stopped."
  exit 0
fi
(($# == 0)) || die "usage: scripts/cluster.sh [stop]"

# ---------------------------------------------------------------- checks before starting anything
[[ -x $BINARY ]] || die "the server binary $BINARY is missing." "Run 'make build' first (or set HOLDFAST_BINARY)."
[[ -x $MOTO ]] || die "$MOTO is missing." "Run 'scripts/setup.sh test' (moto[server] is in e2e/requirements.txt)."
[[ -x scripts/pg-cluster.sh ]] || die "scripts/pg-cluster.sh is missing."
if [[ -e $STATE ]]; then
  [[ -d $STATE ]] || die "$STATE exists and is not a directory."
  if [[ -n $(ls -A "$STATE") && ! -f $STATE/$MARKER ]]; then
    die "$STATE exists, is not empty and was not made by this script: not touching it." \
      "Set HOLDFAST_CLUSTER_DIR to a new folder."
  fi
  if script_running; then
    die "a cluster already runs from $STATE (pid $(cat "$STATE/pids/script"))." \
      "Stop it with Ctrl-C or 'scripts/cluster.sh stop'."
  fi
  # The database and the bucket of the last run are gone: its state is of no use.
  if [[ -f $STATE/$MARKER ]]; then
    say "cleaning up the previous run in $STATE…"
    STOPPING=1
    stop_all
    STOPPING=0
  fi
fi
port_free 127.0.0.1 "$FRONT_PORT" ||
  die "127.0.0.1:$FRONT_PORT is taken (another 'make run' or 'make cluster'?)." \
    "Stop what listens there ('ss -ltnp | grep :$FRONT_PORT'), or pick another port: HOLDFAST_CLUSTER_PORT=8090 make cluster."
for n in "${NODES[@]}"; do
  port_free "$(node_host "$n")" "$NODE_PORT" ||
    die "$(node_host "$n"):$NODE_PORT is taken." "See what listens there: 'ss -ltnp | grep :$NODE_PORT'."
done

rm -rf "$STATE"
mkdir -p "$STATE/pids"
: >"$STATE/$MARKER"
echo $$ >"$STATE/pids/script"

# The servers run in sessions of their own (setsid), so a Ctrl-C at the terminal reaches only
# this script, which then stops them in order: the front, the nodes, S3, PostgreSQL.
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- PostgreSQL
say "starting PostgreSQL…"
PG_DIR=$(mktemp -d /tmp/holdfast-cluster-pg.XXXXXX)
echo "$PG_DIR" >"$STATE/pg-dir"
PG_URL=$(setsid -w scripts/pg-cluster.sh start "$PG_DIR")
say "  PostgreSQL at $PG_URL (data in $PG_DIR)"

# ---------------------------------------------------------------- S3
say "starting the S3 server (moto, in memory)…"
MOTO_PORT=$(free_port)
setsid "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
echo $! >"$STATE/pids/moto"
disown $!
for ((i = 0; ; i++)); do
  curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/" 2>/dev/null && break
  alive "$(cat "$STATE/pids/moto")" || die "moto_server exited (log: $STATE/moto.log)."
  ((i < 300)) || die "moto_server did not answer within 30 s (log: $STATE/moto.log)."
  sleep 0.1
done
curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$MOTO_PORT/holdfast" || die "could not create the bucket 'holdfast'."
BACKUPS="s3:http://127.0.0.1:$MOTO_PORT/holdfast/cluster"
say "  S3 at http://127.0.0.1:$MOTO_PORT, backups in $BACKUPS"

# ---------------------------------------------------------------- shared secrets
say "creating the shared secrets folder and the cluster secret…"
(umask 077 && mkdir -p "$STATE/secrets" && openssl rand -hex 32 >"$STATE/cluster-secret")
chmod 700 "$STATE/secrets"
chmod 600 "$STATE/cluster-secret"

# ---------------------------------------------------------------- nodes
FRONT_URL="http://127.0.0.1:$FRONT_PORT"
start_node() {
  local n=$1 host log pid
  host=$(node_host "$n")
  log=$STATE/node-$n.log
  say "starting node-$n on http://$host:$NODE_PORT…"
  setsid "$BINARY" serve --data-dir "$STATE/node-$n" --database "$PG_URL" --backup-repository "$BACKUPS" \
    --secrets-dir "$STATE/secrets" --cluster-secret-file "$STATE/cluster-secret" \
    --host "$host" --port "$NODE_PORT" --node "node-$n" --advertise-url "http://$host:$NODE_PORT" \
    --public-url "$FRONT_URL" >"$log" 2>&1 &
  pid=$!
  disown "$pid" # the wait loop below says when a node dies, in its own words
  echo "$pid" >"$STATE/pids/node-$n"
  if ! wait_for_line "$log" '^listening on http://' 60 "$pid"; then
    tail -n 20 "$log" >&2
    die "node-$n did not start listening within 60 s (log: $log)."
  fi
}

start_node 1
EMAIL=$(sed -nE 's/^[[:space:]]*e-mail:[[:space:]]+([^[:space:]]+).*/\1/p' "$STATE/node-1.log" | head -n 1)
PASSWORD=$(sed -nE 's/^[[:space:]]*password:[[:space:]]+([^[:space:]]+).*/\1/p' "$STATE/node-1.log" | head -n 1)
for n in "${NODES[@]:1}"; do start_node "$n"; done

# ---------------------------------------------------------------- the front
say "starting the round-robin front on $FRONT_URL…"
BACKENDS=()
for n in "${NODES[@]}"; do BACKENDS+=("$(node_host "$n"):$NODE_PORT"); done
setsid "$PYTHON" scripts/cluster-front.py "127.0.0.1:$FRONT_PORT" "${BACKENDS[@]}" >"$STATE/front.log" 2>&1 &
FRONT_PID=$!
disown "$FRONT_PID"
echo "$FRONT_PID" >"$STATE/pids/front"
wait_for_line "$STATE/front.log" '^cluster-front: listening' 10 "$FRONT_PID" ||
  die "the front did not start (log: $STATE/front.log)."

# ---------------------------------------------------------------- summary
cat <<EOF

Holdfast cluster is up.
  front (round robin):  $FRONT_URL
$(for n in "${NODES[@]}"; do printf '  node-%s:               http://%s:%s   log %s\n' "$n" "$(node_host "$n")" "$NODE_PORT" "$STATE/node-$n.log"; done)
  operator e-mail:      ${EMAIL:-(not found: see $STATE/node-1.log)}
  operator password:    ${PASSWORD:-(not found: see $STATE/node-1.log)}
  PostgreSQL:           $PG_URL
  S3 (moto):            http://127.0.0.1:$MOTO_PORT (bucket holdfast)
  state:                $STATE

Open $FRONT_URL and sign in as the operator; GET /api/v1/nodes lists the three nodes.
Kill one node (kill -9 \$(cat $STATE/pids/node-2)) to watch its sessions held and its duties move.
Ctrl-C stops everything.
EOF

# Wait for Ctrl-C or SIGTERM. A node may die (that is the demo); the front must not.
declare -A GONE=()
while true; do
  sleep 2 &
  SLEEPER=$!
  wait "$SLEEPER" || true
  SLEEPER=
  alive "$FRONT_PID" || die "the front exited (log: $STATE/front.log)."
  for n in "${NODES[@]}"; do
    [[ -f $STATE/pids/node-$n && -z ${GONE[$n]:-} ]] || continue
    if ! alive "$(cat "$STATE/pids/node-$n")"; then
      GONE[$n]=1
      say "node-$n has stopped (log: $STATE/node-$n.log); the front sends its connections to the others."
    fi
  done
done
