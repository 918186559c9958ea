#!/usr/bin/env bash
# Compare Meridian with nginx and HAProxy as reverse proxies, one worker each, on loopback.
#
#   loadtest/run.sh [throughput|memory|slow|tls|observability|all]  (default: throughput)
#   loadtest/run.sh --help                                          (this text)
#
#   throughput     plain HTTP/1.1 req/s and latency per body size (wrk)
#   memory         RSS per idle keep-alive connection (idle_conns.py)
#   slow           RSS per slow reader: clients that request /1m (1 MiB) and never read
#                  (slow_readers.py), and RSS once they have gone
#   tls            TLS termination with one ECDSA P-256 certificate made at run time: h2 req/s
#                  (h2load), HTTPS/1.1 req/s (wrk), new TLS connections/s (h2load, one request
#                  per connection, sessions resumed), then RSS per idle TLS connection
#   observability  Meridian alone, access log off vs. to a file: the req/s cost of the log
#   dashboard      Meridian alone, without and with ten dashboards open (dashboards.py polls
#                  /dashboard/state as ten pages would): req/s, and the admin thread's CPU
#   h2idle         RSS per idle HTTP/2 connection (one request each, then held), over h2c
#                  (prior knowledge) and over TLS (ALPN h2)
#   upstream-tls   plain HTTP/1.1 in front, TLS to the origin (verified, sessions resumed,
#                  keep-alive pools): req/s, latency and CPU per request (wrk)
#   upstream-h2    plain HTTP/1.1 in front, HTTP/2 to the origin (nginx `http2`): Meridian over
#                  h2c and over TLS (ALPN h2) against Meridian with HTTP/1.1 upstreams and
#                  HAProxy `proto h2` / `alpn h2` (nginx cannot proxy to HTTP/2): req/s, CPU per
#                  request, and the upstream connections open at the end of each run
#   syscalls       system calls per request (strace -c): keep-alive per body size, and one
#                  new connection per request
#   hedge          a slow tail (5% of requests take 1 s in the near region): p50/p99 through
#                  Meridian without and with replay.hedge, nginx and HAProxy (hedge.sh)
#   all            throughput, memory, slow, tls, observability and dashboard
#
# Environment (defaults in brackets):
#   TARGETS      proxies to measure ["meridian nginx haproxy"]; a missing meridian binary is skipped
#   MERIDIAN     the meridian binary [build/proxy/meridian]
#   ROUNDS [3]   DURATION [10s]   CONNS [64]   SIZES ["100b 64k"]   WARMUP [2s, 0 to skip]
#   (a size may be "100b-close": every request on a new connection)
#   PROXY_CPU [1]  CLIENT_CPU [0]  CPUs for proxies + origin, and for wrk / the idle client
#   IDLE_CONNS [9000]   idle keep-alive connections per proxy in memory mode (HAProxy is
#                       capped at 9990 by the 20000 open-file limit: it counts 2 fds each)
#   SLOW_CONNS [1000]   slow readers per proxy in slow mode (each costs a proxy 2 fds)
#   TLS_IDLE_CONNS [2000]  idle TLS connections per proxy (each one is a full handshake)
#   H2_IDLE_CONNS [3000]   idle h2c connections per proxy in h2idle mode (TLS ones: TLS_IDLE_CONNS)
#   H2_CONNS [64]  H2_STREAMS [10]   h2load clients and streams per connection (tls mode)
#   HANDSHAKES [5000]  HS_CONNS [32]  connections (one request each) per handshake run
#   SYSCALL_REQS [500]  requests per case in syscalls mode
#   KEEP_WORK [unset]   keep the temp dir (configs, logs, raw wrk output) for inspection
#
# Every process is started by this script, tracked by PID and stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=${1:-throughput}
TARGETS_SET=${TARGETS:-}
TARGETS=${TARGETS:-"meridian nginx haproxy"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SIZES=${SIZES:-"100b 64k"}
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
IDLE_CONNS=${IDLE_CONNS:-9000}
SLOW_CONNS=${SLOW_CONNS:-1000}
TLS_IDLE_CONNS=${TLS_IDLE_CONNS:-2000}
H2_IDLE_CONNS=${H2_IDLE_CONNS:-3000}
H2_CONNS=${H2_CONNS:-64}
H2_STREAMS=${H2_STREAMS:-10}
HANDSHAKES=${HANDSHAKES:-5000}
HS_CONNS=${HS_CONNS:-32}
SYSCALL_REQS=${SYSCALL_REQS:-500}
TLS=0                     # 1 while the tls mode runs: targets terminate TLS
UPSTREAM_TLS=0            # 1 while the upstream-tls mode runs: targets speak TLS to the origin
H2=0                      # 1 while the h2idle mode runs: clients speak HTTP/2 (h2c without TLS)

case "$MODE" in
  throughput|memory|slow|tls|observability|dashboard|h2idle|upstream-tls|upstream-h2|syscalls|all|-h|--help) ;;
  hedge) exec "$HERE/hedge.sh" ;;  # two origins of its own, not the one below
  *) echo "usage: $0 [throughput|memory|slow|tls|observability|dashboard|h2idle|upstream-tls|upstream-h2|syscalls|hedge|all|--help]" >&2
     exit 2 ;;
esac
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs; client and proxies share one" >&2
  PROXY_CPU=0 CLIENT_CPU=0
fi

# shellcheck source=lib.sh
source "$HERE/lib.sh"
require nginx haproxy wrk curl python3 taskset timeout
case "$MODE" in tls|all) require h2load openssl ;; upstream-tls|upstream-h2) require openssl ;; esac
# upstream-h2 compares its own targets: Meridian with each upstream protocol, HAProxy with h2.
[ "$MODE" != upstream-h2 ] || [ -n "${TARGETS_SET:-}" ] ||
  TARGETS=${H2_TARGETS:-"meridian-h1 meridian-h2c meridian-h2 haproxy-h2c haproxy-h2"}
START_CPU=$PROXY_CPU  # proxies and the origin share one CPU; wrk gets the other

# make_cert: one self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, made now;
# HAProxy takes the certificate and key in one file.
make_cert() {
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" > "$WORK/tls/openssl.log" 2>&1
  cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" > "$WORK/tls/combined.pem"
  chmod 644 "$WORK/tls/"*.pem
}

# The origin also listens with TLS (UPSTREAM_TLS_PORT) on a certificate made now, for the
# upstream-tls mode; the other modes never connect to it.
start_upstream() {
  write_bodies
  make_cert
  UPSTREAM_TLS_PORT=$(free_port)
  UPSTREAM_H2C_PORT=$(free_port)
  UPSTREAM_H2_PORT=$(free_port)
  start_server nginx upstream upstream_nginx.conf.in UPSTREAM_TLS_PORT="$UPSTREAM_TLS_PORT" \
    UPSTREAM_H2C_PORT="$UPSTREAM_H2C_PORT" UPSTREAM_H2_PORT="$UPSTREAM_H2_PORT"
  UPSTREAM_PORT=$STARTED_PORT
  RENDER_VARS=(UPSTREAM_PORT="$UPSTREAM_PORT" UPSTREAM_TLS_PORT="$UPSTREAM_TLS_PORT"
    UPSTREAM_H2C_PORT="$UPSTREAM_H2C_PORT" UPSTREAM_H2_PORT="$UPSTREAM_H2_PORT"
    SPLICE_MIN_BODY=16KiB HAPROXY_SPLICE="" HAPROXY_MAXCONN=9990)
  wait_ok "http://127.0.0.1:$UPSTREAM_PORT/100b" 100
  log "origin nginx pid $STARTED_PID on 127.0.0.1:$UPSTREAM_PORT"
}

# start_target NAME: starts that proxy (with TLS when TLS=1); sets TARGET_PORT, TARGET_URL
# and TARGET_PID (the process whose RSS holds the connections: nginx's worker, not its
# master). `meridian-log` is Meridian with its access log written to a file.
start_target() {
  local scheme=http nginx_in=nginx_proxy.conf.in haproxy_in=haproxy.cfg.in
  local meridian_in=meridian.yaml.in access_log=off
  if [ "$TLS" = 1 ]; then
    scheme=https nginx_in=nginx_tls.conf.in haproxy_in=haproxy_tls.cfg.in
    meridian_in=meridian_tls.yaml.in
  fi
  if [ "$H2" = 1 ] && [ "$TLS" = 0 ]; then
    nginx_in=nginx_h2c.conf.in haproxy_in=haproxy_h2c.cfg.in  # Meridian's listener takes h2c as is
  fi
  if [ "$UPSTREAM_TLS" = 1 ]; then
    nginx_in=nginx_upstream_tls.conf.in haproxy_in=haproxy_upstream_tls.cfg.in
    meridian_in=meridian_upstream_tls.yaml.in
  fi
  [ "$1" != meridian-log ] || access_log=$WORK/access.log
  case "$1" in
    nginx) start_server nginx nginx "$nginx_in" ;;
    haproxy) start_server haproxy haproxy "$haproxy_in" ;;
    # HAProxy with its kernel splicing on (not its default; the haproxy target runs without).
    haproxy-splice)
      start_server haproxy "$1" haproxy.cfg.in HAPROXY_SPLICE="option splice-response" \
        HAPROXY_MAXCONN=6000 ;;
    meridian|meridian-log|meridian-dash)
      start_server meridian "$1" "$meridian_in" ACCESS_LOG="$access_log" ;;
    # Meridian with splice(2) off: every body is copied through its buffers.
    meridian-copy) start_server meridian "$1" meridian.yaml.in ACCESS_LOG=off SPLICE_MIN_BODY=0 ;;
    # meridian-splice-64KiB: another limits.splice_min_body, to find where splicing starts to win.
    meridian-splice-*)
      start_server meridian "$1" meridian.yaml.in ACCESS_LOG=off SPLICE_MIN_BODY="${1#meridian-splice-}" ;;
    # upstream-h2: each upstream protocol is a target of its own.
    meridian-h1) start_server meridian "$1" meridian.yaml.in ACCESS_LOG=off ;;
    meridian-h2c|meridian-h2) start_server meridian "$1" "${1//-/_}_upstream.yaml.in" ;;
    haproxy-h2c|haproxy-h2) start_server haproxy "$1" "${1//-/_}_upstream.cfg.in" ;;
    *) log "unknown target $1"; false ;;
  esac || return 1
  if [ "$1" = meridian-dash ]; then
    # Ten dashboards' polls, on the client's CPU (a browser is not on the proxy's host).
    local proxy_pid=$STARTED_PID
    START_CPU=$CLIENT_CPU start dashboards python3 "$HERE/dashboards.py" \
      "$(ready_admin "$WORK/$1-ready.json")" --count 10 --seconds 3600
    DASH_PID=$STARTED_PID
    STARTED_PID=$proxy_pid
  fi
  TARGET_PORT=$STARTED_PORT
  TARGET_URL=$scheme://127.0.0.1:$TARGET_PORT
  TARGET_PID=$STARTED_PID
  PROXY_PIDS[$1]=$STARTED_PID
  local curl_args=(-k)
  [ "$H2" = 0 ] || [ "$TLS" = 1 ] || curl_args+=(--http2-prior-knowledge)
  if ! wait_ok "$TARGET_URL/100b" 100 "${curl_args[@]}" ||
     ! wait_ok "$TARGET_URL/64k" 65536 "${curl_args[@]}"; then
    log "$1 does not proxy correctly over $scheme; stderr:"; tail -n 20 "$WORK/$1.stderr" >&2
    stop_target "$1"
    return 1
  fi
  if [ "$1" = nginx ]; then
    TARGET_PID=$(cat "/proc/$STARTED_PID/task/$STARTED_PID/children" | awk '{print $1}')
  fi
  log "$1 pid $STARTED_PID on $TARGET_URL"
}

stop_target() {
  if [ "$1" = meridian-dash ] && [ -n "${DASH_PID:-}" ]; then
    stop_pid "$DASH_PID"
    DASH_PID=""
  fi
  stop_pid "${PROXY_PIDS[$1]}"
  unset "PROXY_PIDS[$1]"
}

# CPU time of a process's main thread, in clock ticks: Meridian's admin API, health checks
# and reloads run there, the workers on threads of their own.
main_thread_ticks() {
  awk '{print $14 + $15}' "/proc/$1/task/$1/stat"
}

# CPU time (user + system, all threads) a process has used, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# run_wrk TARGET_PORT SIZE DURATION OUTFILE [SCHEME]: SIZE is a body (/100b, /64k); with
# "-close" after it (100b-close), every request says `Connection: close`, so each one is a new
# connection (wrk reconnects): the accept-to-close path per request.
run_wrk() {
  local secs=${3%s} path=${2%-close} close_args=()
  [ "$path" = "$2" ] || close_args=(-H "Connection: close")
  timeout --kill-after=5 $((secs + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNS" -d"$3" --latency ${close_args[@]+"${close_args[@]}"} \
    "${5:-http}://127.0.0.1:$1/$path" > "$4" 2>&1
}

declare -A PROXY_PIDS
[ "$MODE" = observability ] || [ "$MODE" = dashboard ] && TARGETS=meridian
active_targets

start_upstream

# Each proxy is measured alone (started, measured, stopped) so they never compete for the
# CPU; the order of targets rotates every round so drift (thermal, neighbours) spreads evenly.
throughput() {
  local results="$WORK/results.tsv" round i n=${#ACTIVE[@]} target size out parsed cpu_before cpu_used
  local admin_before
  : > "$results"
  : > "$WORK/admin_cpu.tsv"
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
        admin_before=$(main_thread_ticks "$TARGET_PID")
        run_wrk "$TARGET_PORT" "$size" "$DURATION" "$out" || log "wrk failed for $target $size"
        cpu_used=$(( $(cpu_ticks "$TARGET_PID") - cpu_before ))
        [ "$MODE" != upstream-h2 ] || log "$target: $(upstream_conns "$TARGET_PID") upstream connections open after $CONNS clients"
        echo "$target $size $round $(( $(main_thread_ticks "$TARGET_PID") - admin_before ))" \
          "$(getconf CLK_TCK)" "${DURATION%s}" >> "$WORK/admin_cpu.tsv"
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

# memory: RSS per idle keep-alive connection; over TLS (and TLS_IDLE_CONNS of them) when TLS=1.
memory() {
  local results="$WORK/memory.tsv" target before after helper ready conns=$IDLE_CONNS
  local tls_args=() title="idle keep-alive connections"
  if [ "$TLS" = 1 ]; then
    results="$WORK/memory-tls.tsv" conns=$TLS_IDLE_CONNS tls_args=(--tls)
    title="idle keep-alive TLS connections (HTTP/1.1)"
  fi
  if [ "$H2" = 1 ]; then
    tls_args+=(--h2)
    if [ "$TLS" = 1 ]; then
      results="$WORK/memory-h2-tls.tsv" title="idle HTTP/2 connections over TLS (ALPN h2)"
    else
      results="$WORK/memory-h2c.tsv" conns=$H2_IDLE_CONNS title="idle HTTP/2 connections (h2c)"
    fi
  fi
  : > "$results"
  for target in "${ACTIVE[@]}"; do
    start_target "$target" || { log "skipping $target"; continue; }
    curl -sk -o /dev/null "$TARGET_URL/100b" || true  # an h2c-only nginx refuses HTTP/1.1
    before=$(rss_kib "$TARGET_PID")
    ready="$WORK/idle-$target.ready"
    rm -f "$ready"
    taskset -c "$CLIENT_CPU" python3 "$HERE/idle_conns.py" "$TARGET_PORT" "$conns" \
      "${tls_args[@]}" --timeout 110 --ready-file "$ready" --hold 180 \
      > "$WORK/idle-$target.log" 2>&1 &
    helper=$!
    PIDS+=("$helper")
    if ! wait_file "$helper" "$ready" 120; then
      log "idle client failed against $target:"; cat "$WORK/idle-$target.log" >&2
    else
      sleep 1  # let the proxy finish bookkeeping for the last responses
      after=$(rss_kib "$TARGET_PID")
      echo "$target $conns $before $after" >> "$results"
      log "$target: RSS $before KiB -> $after KiB with $conns idle connections"
    fi
    stop_pid "$helper"
    stop_target "$target"
  done
  python3 "$HERE/summarize.py" memory "$results" "$title"
}

# settled_rss_kib PID: RSS once it stops moving (4 samples 0.5 s apart within 1% of each
# other; at most 60 s, then the last sample), for a proxy still filling or emptying buffers.
settled_rss_kib() {
  local pid=$1 samples=() i rss lo hi
  for i in $(seq 120); do
    rss=$(rss_kib "$pid")
    samples+=("$rss")
    [ ${#samples[@]} -le 4 ] || samples=("${samples[@]:1}")
    if [ ${#samples[@]} -eq 4 ]; then
      lo=$(printf '%s\n' "${samples[@]}" | sort -n | head -1)
      hi=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
      [ $((hi - lo)) -le $((hi / 100)) ] && break
    fi
    sleep 0.5
  done
  echo "$rss"
}

# temp_file_kib PID: KiB in the temporary files PID holds open under WORK/tmp (nginx writes
# what a client does not take yet to files it unlinks at once: du does not see them).
temp_file_kib() {
  python3 - "$1" "$WORK/tmp/" <<'PY'
import os, sys
fds, total = "/proc/%s/fd" % sys.argv[1], 0
for fd in os.listdir(fds):
    try:
        if os.readlink(os.path.join(fds, fd)).startswith(sys.argv[2]):
            total += os.stat(os.path.join(fds, fd)).st_size
    except OSError:
        pass
print(total // 1024)
PY
}

# slow: RSS per slow reader (a client that asks for /1m and never reads it), then RSS once
# every one of them has gone: whether the memory is given back.
slow() {
  local results="$WORK/slow.tsv" target before after gone helper ready closed spilled
  : > "$results"
  for target in "${ACTIVE[@]}"; do
    start_target "$target" || { log "skipping $target"; continue; }
    curl -s -o /dev/null "$TARGET_URL/1m"
    before=$(settled_rss_kib "$TARGET_PID")
    ready="$WORK/slow-$target.ready" closed="$WORK/slow-$target.closed"
    rm -f "$ready" "$closed"
    taskset -c "$CLIENT_CPU" python3 "$HERE/slow_readers.py" "$TARGET_PORT" "$SLOW_CONNS" \
      --path /1m --timeout 110 --ready-file "$ready" --closed-file "$closed" --hold 300 \
      > "$WORK/slow-$target.log" 2>&1 &
    helper=$!
    PIDS+=("$helper")
    if ! wait_file "$helper" "$ready" 120; then
      log "slow client failed against $target:"; cat "$WORK/slow-$target.log" >&2
    else
      after=$(settled_rss_kib "$TARGET_PID")
      spilled=$(temp_file_kib "$TARGET_PID")
      kill -TERM "$helper" 2>/dev/null || true
      wait_file "$helper" "$closed" 30 || log "slow client did not report its close"
      gone=$(settled_rss_kib "$TARGET_PID")
      echo "$target $SLOW_CONNS $before $after $gone ${spilled:-0}" >> "$results"
      log "$target: RSS $before KiB -> $after KiB with $SLOW_CONNS slow readers, $gone KiB after"
    fi
    stop_pid "$helper"
    stop_target "$target"
  done
  python3 "$HERE/summarize.py" slow "$results"
}


# run_h2load OUTFILE ARGS...: h2load pinned to the client CPU, bounded in time.
run_h2load() {
  local out=$1
  shift
  timeout --kill-after=5 $((${DURATION%s} + 60)) taskset -c "$CLIENT_CPU" h2load "$@" \
    > "$out" 2>&1 || log "h2load exited non-zero (see $out)"
}

# tls_round TARGET ROUND RESULTS: h2, HTTPS/1.1 and handshake runs against a started target.
tls_round() {
  local target=$1 round=$2 results=$3 out parsed
  out="$WORK/out/tls-h2-$target-$round.txt"
  run_h2load "$out" -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "${DURATION%s}" "$TARGET_URL/100b"
  parsed=$(python3 "$HERE/summarize.py" h2load "$out") || parsed="0 nan nan -1"
  echo "$target h2 $round $parsed" >> "$results"
  log "round $round $target h2: $parsed (req/s mean_us - errors)"
  out="$WORK/out/tls-h1-$target-$round.txt"
  run_wrk "$TARGET_PORT" 100b "$DURATION" "$out" https || log "wrk failed for $target"
  parsed=$(python3 "$HERE/summarize.py" parse "$out" | awk '{print $1, $2, $3, $4}') ||
    parsed="0 nan nan -1"
  echo "$target https1 $round $parsed" >> "$results"
  log "round $round $target https/1.1: $parsed (req/s p50us p99us errors)"
  # One request per connection: the server closes after each response and h2load reconnects,
  # so every request pays a handshake. h2load resumes the TLS session a server offers, and all
  # three issue tickets: after each client's first, these are resumed (abbreviated) handshakes.
  out="$WORK/out/tls-hs-$target-$round.txt"
  run_h2load "$out" -t1 --h1 -H 'Connection: close' -c"$HS_CONNS" -n"$HANDSHAKES" \
    "$TARGET_URL/100b"
  parsed=$(python3 "$HERE/summarize.py" h2load "$out") || parsed="0 nan nan -1"
  echo "$target handshakes $round $parsed" >> "$results"
  log "round $round $target handshakes: $parsed (conns/s mean_us - errors)"
}

# tls: the three TLS measurements, ROUNDS rounds with the target order rotating, then RSS per
# idle TLS connection. A target that fails its TLS check is reported and skipped.
tls() {
  local results="$WORK/tls.tsv" round i n=${#ACTIVE[@]} target
  TLS=1  # the certificate is start_upstream's
  : > "$results"
  for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
      target=${ACTIVE[$(((i + round - 1) % n))]}
      if ! start_target "$target"; then
        log "skipping $target in round $round: it does not serve over TLS"
        printf '%s %s '"$round"' 0 nan nan -1 none\n' "$target" h2 "$target" https1 "$target" \
          handshakes >> "$results"
        continue
      fi
      tls_round "$target" "$round" "$results"
      stop_target "$target"
    done
  done
  echo
  echo "TLS (ECDSA P-256, session tickets on), $ROUNDS rounds of $DURATION; proxies + origin" \
    "on CPU $PROXY_CPU, clients on CPU $CLIENT_CPU"
  echo "h2: h2load -c$H2_CONNS -m$H2_STREAMS; https1: wrk -t1 -c$CONNS;" \
    "handshakes: h2load --h1 -c$HS_CONNS -n$HANDSHAKES, one request per connection"
  python3 "$HERE/summarize.py" tls "$results"
  memory
  TLS=0
}

# observability: Meridian alone, access log off vs. written to a file, same rounds; the cost
# is 1 - (req/s with the log) / (req/s without), from the medians.
observability() {
  local saved_active=("${ACTIVE[@]}") saved_sizes=$SIZES lines
  ACTIVE=(meridian meridian-log)
  SIZES=100b
  rm -f "$WORK/access.log"
  throughput
  lines=$( (wc -l < "$WORK/access.log") 2>/dev/null || echo 0)
  echo "access log: $lines lines written to the file in all rounds"
  if [ "$lines" -eq 0 ]; then
    echo "access log cost: not measured: the log file stayed empty (no access log writer?)"
  else
    python3 "$HERE/summarize.py" logcost "$WORK/results.tsv"
  fi
  ACTIVE=("${saved_active[@]}") SIZES=$saved_sizes
}

# dashboard: Meridian alone, without and with ten dashboards polling its admin API, same
# rounds; the cost is 1 - (req/s with them) / (req/s without), from the medians, and the
# admin (main) thread's CPU with and without.
dashboard() {
  local saved_active=("${ACTIVE[@]}") saved_sizes=$SIZES
  ACTIVE=(meridian meridian-dash)
  SIZES=100b
  throughput
  grep -h "dashboard polls" "$WORK/dashboards.stdout" 2>/dev/null | tail -n "$ROUNDS" || true
  python3 "$HERE/summarize.py" dashcost "$WORK/results.tsv" "$WORK/admin_cpu.tsv"
  ACTIVE=("${saved_active[@]}") SIZES=$saved_sizes
}

# h2idle: RSS per idle HTTP/2 connection, h2c then over TLS.
h2idle() {
  H2=1
  memory
  TLS=1
  memory
  TLS=0 H2=0
}

# upstream-tls: the throughput runs with every proxy speaking verified TLS to the origin.
# upstream_conns PID: TCP connections PID has open to the origin's ports (established).
upstream_conns() {
  local inodes ports
  inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | sort -u)
  ports=$(printf '%04X|%04X|%04X|%04X' "$UPSTREAM_PORT" "$UPSTREAM_TLS_PORT" "$UPSTREAM_H2C_PORT" \
    "$UPSTREAM_H2_PORT")
  awk -v ports="$ports" 'NR == FNR { want[$1] = 1; next }
    FNR > 1 && $4 == "01" && want[$10] { split($3, r, ":"); if (r[2] ~ "^(" ports ")$") n++ }
    END { print n + 0 }' <(echo "$inodes") /proc/net/tcp
}

upstream_tls() {
  UPSTREAM_TLS=1
  throughput
  UPSTREAM_TLS=0
}

# shellcheck source=syscalls.sh
source "$HERE/syscalls.sh"

case "$MODE" in
  throughput) throughput ;;
  syscalls) syscalls ;;
  upstream-tls) upstream_tls ;;
  upstream-h2) throughput ;;
  h2idle) h2idle ;;
  memory) memory ;;
  tls) tls ;;
  observability) observability ;;
  slow) slow ;;
  dashboard) dashboard ;;
  all) throughput; memory; slow; tls; [ -x "$MERIDIAN" ] && observability && dashboard ;;
esac
