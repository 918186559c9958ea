# shellcheck shell=bash
# Helpers shared by the load-test drivers (run.sh, failover.sh); sourced, never run.
#
# Expects HERE (this folder) to be set. `-h` or `--help` as the driver's first argument prints
# the driver's header comment and exits. Sets MERIDIAN (the binary, unless set), WORK (a fresh
# temp dir), PIDS (every process started, stopped by PID on exit) and the EXIT trap.
# KEEP_WORK=1 keeps WORK for inspection.

case "${1:-}" in
  -h|--help)
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
    exit 0 ;;
esac

MERIDIAN=${MERIDIAN:-$(cd "$HERE/.." && pwd)/build/proxy/meridian}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-loadtest.XXXXXX")
chmod 755 "$WORK"  # nginx workers may run as another user and must read www/
mkdir -p "$WORK/tmp" "$WORK/www" "$WORK/out"
PIDS=()

log() { echo "[loadtest] $*" >&2; }

# Stops one process we started: SIGTERM, up to 5 s, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
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

# require TOOL...: exits when one is missing.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (bash scripts/setup)" >&2; exit 1; }
  done
}

# active_targets: sets ACTIVE to the TARGETS to run; meridian is skipped when MERIDIAN is not
# an executable. Exits when none is left.
active_targets() {
  local t
  ACTIVE=()
  for t in $TARGETS; do
    if [ "$t" = meridian ] && [ ! -x "$MERIDIAN" ]; then
      log "skipping meridian: no binary at $MERIDIAN (set MERIDIAN=...)"
      continue
    fi
    ACTIVE+=("$t")
  done
  [ ${#ACTIVE[@]} -gt 0 ] || { log "no targets to run"; exit 1; }
}

# write_bodies: the origins' static files, WORK/www/100b, 16k, 64k, 256k and 1m.
write_bodies() {
  head -c 100 /dev/zero | tr '\0' 'a' > "$WORK/www/100b"
  head -c 65536 /dev/zero | tr '\0' 'b' > "$WORK/www/64k"
  head -c 1048576 /dev/zero | tr '\0' 'c' > "$WORK/www/1m"
  head -c 16384 /dev/zero | tr '\0' 'd' > "$WORK/www/16k"
  head -c 262144 /dev/zero | tr '\0' 'e' > "$WORK/www/256k"
  chmod 644 "$WORK/www/"*
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
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

# wait_file PID FILE SECONDS: polls until FILE is not empty, PID has exited or SECONDS have
# passed; fails unless FILE is there.
wait_file() {
  local pid=$1 file=$2 _
  for _ in $(seq $(($3 * 10))); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$file" ]
}

# wait_ready_port PID READY_FILE LISTENER: waits (at most 15 s) for meridian's --ready-file
# and prints the port of that listener; fails when the process exits first.
wait_ready_port() {
  local pid=$1 ready=$2 listener=$3
  wait_file "$pid" "$ready" 15 || true
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"][sys.argv[2]].rsplit(":",1)[1])' \
    "$ready" "$listener" 2>/dev/null
}

# ready_admin READY_FILE: prints meridian's admin host:port from its --ready-file.
ready_admin() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$1" 2>/dev/null
}

# KEY=VALUE pairs every render fills in, after the ones it is given (set by each driver).
RENDER_VARS=()

# render TEMPLATE OUT [KEY=VALUE...]: writes HERE/TEMPLATE to OUT with @WORK@ and each @KEY@
# (from the arguments, then RENDER_VARS) replaced; fails when a placeholder is left unfilled.
render() {
  local template=$1 out=$2 kv left
  local args=(-e "s|@WORK@|$(sed_escape "$WORK")|g")
  shift 2
  for kv in "$@" ${RENDER_VARS[@]+"${RENDER_VARS[@]}"}; do
    args+=(-e "s|@${kv%%=*}@|$(sed_escape "${kv#*=}")|g")
  done
  sed "${args[@]}" "$HERE/$template" > "$out"
  left=$(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ' || true)
  [ -z "$left" ] || { log "$template: nothing fills $left"; return 1; }
}

# sed_escape TEXT: TEXT safe as the replacement of a s|...|...| command.
sed_escape() {
  printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

# CPU that started processes are pinned to (taskset), empty for none.
START_CPU=""

# start NAME CMD...: starts CMD in the background (on START_CPU when set), its output appended
# to WORK/NAME.stdout and WORK/NAME.stderr; sets STARTED_PID and tracks it in PIDS.
start() {
  local name=$1
  shift
  [ -z "$START_CPU" ] || set -- taskset -c "$START_CPU" "$@"
  "$@" >> "$WORK/$name.stdout" 2>> "$WORK/$name.stderr" &
  STARTED_PID=$!  # taskset execs the command: this is the process itself
  PIDS+=("$STARTED_PID")
}

# start_server KIND NAME TEMPLATE [KEY=VALUE...]: renders TEMPLATE and starts KIND (nginx,
# haproxy or meridian) on it in the foreground, as NAME (its config WORK/NAME.conf, .cfg or
# .yaml; its logs WORK/NAME.*). nginx and haproxy listen on @PORT@: PORT=N when given, else a
# free port. Meridian's config is validated first, and its port is that of its `public`
# listener, from WORK/NAME-ready.json. Sets STARTED_PID and STARTED_PORT.
start_server() {
  local kind=$1 name=$2 template=$3 kv
  shift 3
  STARTED_PID="" STARTED_PORT=""
  case "$kind" in
    nginx|haproxy)
      for kv in "$@"; do [ "${kv%%=*}" != PORT ] || STARTED_PORT=${kv#*=}; done
      [ -n "$STARTED_PORT" ] || { STARTED_PORT=$(free_port); set -- PORT="$STARTED_PORT" "$@"; }
      ;;
  esac
  case "$kind" in
    nginx)
      render "$template" "$WORK/$name.conf" "$@" || return 1
      start "$name" nginx -p "$WORK" -e "$WORK/$name-error.log" -c "$WORK/$name.conf" \
        -g 'daemon off;'
      ;;
    haproxy)
      render "$template" "$WORK/$name.cfg" "$@" || return 1
      start "$name" haproxy -db -f "$WORK/$name.cfg"
      ;;
    meridian)
      render "$template" "$WORK/$name.yaml" "$@" || return 1
      "$MERIDIAN" validate -c "$WORK/$name.yaml" > "$WORK/$name.validate" 2>&1 || {
        log "meridian rejects its config:"; cat "$WORK/$name.validate" >&2; return 1
      }
      rm -f "$WORK/$name-ready.json"
      start "$name" "$MERIDIAN" run -c "$WORK/$name.yaml" --ready-file "$WORK/$name-ready.json"
      STARTED_PORT=$(wait_ready_port "$STARTED_PID" "$WORK/$name-ready.json" public) || {
        log "$name did not write its ready file; stderr:"; tail -n 20 "$WORK/$name.stderr" >&2
        return 1
      }
      ;;
    *) log "unknown server kind $kind"; return 1 ;;
  esac
}
