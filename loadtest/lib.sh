# shellcheck shell=bash
# Helpers shared by the load-test drivers (run.sh, failover.sh); sourced, never run.
#
# Expects HERE (this folder) to be set. Sets up WORK (a fresh temp dir), PIDS (every process
# started, stopped by PID on exit) and the EXIT trap. KEEP_WORK=1 keeps WORK for inspection.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-loadtest.XXXXXX")
chmod 755 "$WORK"  # nginx workers may run as another user and must read www/
mkdir -p "$WORK/tmp" "$WORK/www" "$WORK/out"
PIDS=()

log() { echo "[loadtest] $*" >&2; }

# Stops one process we started: SIGTERM, up to 5 s, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "${KEEP_WORK:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# require TOOL...: exits when one is missing.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
  done
}

# wait_ok URL EXPECTED_BYTES [CURL_ARGS...]: until a GET returns 200 with that many bytes,
# at most 10 s.
wait_ok() {
  local url=$1 bytes=$2 _ got
  shift 2
  for _ in $(seq 100); do
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "$@" "$url" || true)
    [ "$got" = "200 $bytes" ] && return 0
    sleep 0.1
  done
  log "no 200 with $bytes bytes from $url (last: ${got:-nothing})"
  return 1
}

# wait_ready_port PID READY_FILE LISTENER: waits (at most 15 s) for meridian's --ready-file
# and prints the port of that listener; fails when the process exits first.
wait_ready_port() {
  local pid=$1 ready=$2 listener=$3 _
  for _ in $(seq 150); do
    [ -s "$ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"][sys.argv[2]].rsplit(":",1)[1])' \
    "$ready" "$listener" 2>/dev/null
}

# ready_admin READY_FILE: prints meridian's admin host:port from its --ready-file.
ready_admin() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$1" 2>/dev/null
}
