#!/usr/bin/env bash
# Compare Meridian with nginx and HAProxy as reverse proxies, one worker each, on loopback.
#
#   loadtest/run.sh [throughput|memory|all]      (default: throughput)
#
# Environment (defaults in brackets):
#   TARGETS      proxies to measure ["meridian nginx haproxy"]; a missing meridian binary is skipped
#   MERIDIAN     the meridian binary [build/proxy/meridian]
#   ROUNDS [3]   DURATION [10s]   CONNS [64]   SIZES ["100b 64k"]   WARMUP [2s, 0 to skip]
#   PROXY_CPU [1]  CLIENT_CPU [0]  CPUs for proxies + origin, and for wrk / the idle client
#   IDLE_CONNS [9000]   idle keep-alive connections per proxy in memory mode (HAProxy is
#                       capped at 9990 by the 20000 open-file limit: it counts 2 fds each)
#   KEEP_WORK [unset]   keep the temp dir (configs, logs, raw wrk output) for inspection
#
# Every process is started by this script, tracked by PID and stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MODE=${1:-throughput}
TARGETS=${TARGETS:-"meridian nginx haproxy"}
MERIDIAN=${MERIDIAN:-$ROOT/build/proxy/meridian}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SIZES=${SIZES:-"100b 64k"}
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
IDLE_CONNS=${IDLE_CONNS:-9000}

case "$MODE" in throughput|memory|all) ;; *) echo "usage: $0 [throughput|memory|all]" >&2; exit 2;; esac
for tool in nginx haproxy wrk curl python3 taskset timeout; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs; client and proxies share one" >&2
  PROXY_CPU=0 CLIENT_CPU=0
fi

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

# render TEMPLATE OUT PORT: fills @WORK@, @UPSTREAM_PORT@ and @PORT@.
render() {
  sed -e "s|@WORK@|$WORK|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" -e "s|@PORT@|${3:-0}|g" \
    "$HERE/$1" > "$2"
}

# start NAME CMD...: starts CMD pinned to PROXY_CPU in the background; sets STARTED_PID.
start() {
  local name=$1; shift
  taskset -c "$PROXY_CPU" "$@" > "$WORK/$name.stdout" 2> "$WORK/$name.stderr" &
  STARTED_PID=$!  # taskset execs the command: this is the process itself
  PIDS+=("$STARTED_PID")
}

# wait_ok URL EXPECTED_BYTES: until a GET returns 200 with that many bytes, at most 10 s.
wait_ok() {
  local i got
  for i in $(seq 100); do
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "$1" || true)
    [ "$got" = "200 $2" ] && return 0
    sleep 0.1
  done
  log "no 200 with $2 bytes from $1 (last: ${got:-nothing})"
  return 1
}

start_upstream() {
  head -c 100 /dev/zero | tr '\0' 'a' > "$WORK/www/100b"
  head -c 65536 /dev/zero | tr '\0' 'b' > "$WORK/www/64k"
  chmod 644 "$WORK/www/"*
  UPSTREAM_PORT=$(free_port)
  render upstream_nginx.conf.in "$WORK/upstream.conf"
  start upstream nginx -p "$WORK" -e "$WORK/upstream-error.log" -c "$WORK/upstream.conf" \
    -g 'daemon off;'
  UPSTREAM_PID=$STARTED_PID
  wait_ok "http://127.0.0.1:$UPSTREAM_PORT/100b" 100
  log "origin nginx pid $UPSTREAM_PID on 127.0.0.1:$UPSTREAM_PORT"
}

# start_target NAME: starts that proxy; sets TARGET_PORT and TARGET_PID (the process whose
# RSS holds the connections: nginx's worker, not its master).
start_target() {
  local port
  case "$1" in
    nginx)
      port=$(free_port)
      render nginx_proxy.conf.in "$WORK/nginx.conf" "$port"
      start nginx nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" \
        -g 'daemon off;'
      ;;
    haproxy)
      port=$(free_port)
      render haproxy.cfg.in "$WORK/haproxy.cfg" "$port"
      start haproxy haproxy -db -f "$WORK/haproxy.cfg"
      ;;
    meridian)
      render meridian.yaml.in "$WORK/meridian.yaml"
      rm -f "$WORK/meridian-ready.json"
      start meridian "$MERIDIAN" run -c "$WORK/meridian.yaml" --ready-file "$WORK/meridian-ready.json"
      local i
      for i in $(seq 150); do
        [ -s "$WORK/meridian-ready.json" ] && break
        kill -0 "$STARTED_PID" 2>/dev/null || break
        sleep 0.1
      done
      port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"]["public"].rsplit(":",1)[1])' \
        "$WORK/meridian-ready.json" 2>/dev/null) || {
        log "meridian did not write its ready file; stderr:"; tail -n 20 "$WORK/meridian.stderr" >&2
        return 1
      }
      ;;
    *) log "unknown target $1"; return 1 ;;
  esac
  TARGET_PORT=$port
  TARGET_PID=$STARTED_PID
  wait_ok "http://127.0.0.1:$TARGET_PORT/100b" 100 && wait_ok "http://127.0.0.1:$TARGET_PORT/64k" 65536 || {
    log "$1 does not proxy correctly; stderr:"; tail -n 20 "$WORK/$1.stderr" >&2; return 1
  }
  if [ "$1" = nginx ]; then
    TARGET_PID=$(cat "/proc/$STARTED_PID/task/$STARTED_PID/children" | awk '{print $1}')
  fi
  PROXY_PIDS[$1]=$STARTED_PID
  log "$1 pid $STARTED_PID on 127.0.0.1:$TARGET_PORT"
}

stop_target() {
  stop_pid "${PROXY_PIDS[$1]}"
  unset "PROXY_PIDS[$1]"
}

# CPU time (user + system, all threads) a process has used, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# run_wrk TARGET_PORT SIZE DURATION OUTFILE
run_wrk() {
  local secs=${3%s}
  timeout --kill-after=5 $((secs + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNS" -d"$3" --latency "http://127.0.0.1:$1/$2" > "$4" 2>&1
}

declare -A PROXY_PIDS
ACTIVE=()
for t in $TARGETS; do
  if [ "$t" = meridian ] && [ ! -x "$MERIDIAN" ]; then
    log "skipping meridian: no binary at $MERIDIAN (set MERIDIAN=...)"
    continue
  fi
  ACTIVE+=("$t")
done
[ ${#ACTIVE[@]} -gt 0 ] || { log "no targets to run"; exit 1; }

start_upstream

# Each proxy is measured alone (started, measured, stopped) so they never compete for the
# CPU; the order of targets rotates every round so drift (thermal, neighbours) spreads evenly.
throughput() {
  local results="$WORK/results.tsv" round i n=${#ACTIVE[@]} target size out parsed cpu_before cpu_used
  : > "$results"
  for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
      target=${ACTIVE[$(((i + round - 1) % n))]}
      start_target "$target" || { log "skipping $target in round $round"; continue; }
      for size in $SIZES; do
        if [ "$round" = 1 ] && [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
          run_wrk "$TARGET_PORT" "$size" "$WARMUP" "$WORK/out/warmup-$target-$size.txt" || true
        fi
        out="$WORK/out/$target-$size-$round.txt"
        cpu_before=$(cpu_ticks "$TARGET_PID")
        run_wrk "$TARGET_PORT" "$size" "$DURATION" "$out" || log "wrk failed for $target $size"
        cpu_used=$(( $(cpu_ticks "$TARGET_PID") - cpu_before ))
        if parsed=$(python3 "$HERE/summarize.py" parse "$out" "$cpu_used" "$(getconf CLK_TCK)"); then
          echo "$target $size $round $parsed" >> "$results"
          log "round $round $target /$size: $parsed (req/s p50us p99us errors cpu-us/req)"
        else
          log "could not parse wrk output for $target $size:"; cat "$out" >&2
        fi
      done
      stop_target "$target"
    done
  done
  echo
  echo "wrk -t1 -c$CONNS -d$DURATION, $ROUNDS rounds; proxies + origin on CPU $PROXY_CPU, wrk on CPU $CLIENT_CPU"
  python3 "$HERE/summarize.py" table "$results"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

memory() {
  local results="$WORK/memory.tsv" target before after helper ready i
  : > "$results"
  for target in "${ACTIVE[@]}"; do
    start_target "$target" || { log "skipping $target"; continue; }
    curl -s -o /dev/null "http://127.0.0.1:$TARGET_PORT/100b"
    before=$(rss_kib "$TARGET_PID")
    ready="$WORK/idle-$target.ready"
    taskset -c "$CLIENT_CPU" python3 "$HERE/idle_conns.py" "$TARGET_PORT" "$IDLE_CONNS" \
      --ready-file "$ready" --hold 180 > "$WORK/idle-$target.log" 2>&1 &
    helper=$!
    PIDS+=("$helper")
    for i in $(seq 1200); do  # at most 120 s
      [ -s "$ready" ] && break
      kill -0 "$helper" 2>/dev/null || break
      sleep 0.1
    done
    if [ ! -s "$ready" ]; then
      log "idle client failed against $target:"; cat "$WORK/idle-$target.log" >&2
    else
      sleep 1  # let the proxy finish bookkeeping for the last responses
      after=$(rss_kib "$TARGET_PID")
      echo "$target $IDLE_CONNS $before $after" >> "$results"
      log "$target: RSS $before KiB -> $after KiB with $IDLE_CONNS idle connections"
    fi
    stop_pid "$helper"
    stop_target "$target"
  done
  python3 "$HERE/summarize.py" memory "$results"
}

case "$MODE" in
  throughput) throughput ;;
  memory) memory ;;
  all) throughput; memory ;;
esac
