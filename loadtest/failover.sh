#!/usr/bin/env bash
# Failover under load: what clients see when the nearest region dies and comes back, through
# Meridian, nginx and HAProxy in turn, each in front of the same three regions on loopback.
#
#   loadtest/failover.sh
#   loadtest/failover.sh --help    (this text)
#
# For each proxy and each kill signal: start the proxy alone, run wrk through it, kill the
# nearest region's server (one nginx process) by PID after KILL_AT seconds, restart it on the
# same port DOWN_FOR seconds later, and report requests, non-2xx, socket errors, p50/p99 and
# which region served how much.
#
# Environment (defaults in brackets):
#   TARGETS     proxies to run ["meridian nginx haproxy"]; a missing meridian binary is skipped
#   MERIDIAN    the meridian binary [build/proxy/meridian]
#   SIGNALS     how the region dies ["KILL TERM"]: KILL = crash, TERM = fast shutdown
#   DURATION [20s]  CONNS [32]  THREADS [2]  KILL_AT [5] s into the run  DOWN_FOR [5] s
#   KEEP_WORK [unset]  keep the temp dir (configs, logs, raw wrk output)
#
# Every process is started by this script, tracked by PID and stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGETS=${TARGETS:-"meridian nginx haproxy"}
SIGNALS=${SIGNALS:-"KILL TERM"}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
KILL_AT=${KILL_AT:-5}
DOWN_FOR=${DOWN_FOR:-5}
REGIONS=(ams iad sin)  # nearest first, as seen from the proxy (its listener is in ams)

# shellcheck source=lib.sh
source "$HERE/lib.sh"
require nginx haproxy wrk curl python3 timeout

declare -A REGION_PORT REGION_PID
PROXY_PID=""
PROXY_PORT=""

# start_region NAME: (re)starts that region's server on its port and waits until it serves.
start_region() {
  start_server nginx "region-$1" failover/region_nginx.conf.in PORT="${REGION_PORT[$1]}" NAME="$1"
  REGION_PID[$1]=$STARTED_PID
  wait_ok "http://127.0.0.1:${REGION_PORT[$1]}/100b" 100
}

# served_by URL: prints the x-region header of one GET through the proxy (empty on failure).
served_by() {
  curl -s -o /dev/null -D - --max-time 2 "$1" 2>/dev/null |
    awk 'tolower($1) == "x-region:" {print $2}' | tr -d '\r'
}

# start_proxy TARGET: starts it alone and waits (at most 15 s) until it sends traffic to the
# nearest region: all health checks have passed and the order is the expected one.
start_proxy() {
  local started=1
  case "$1" in
    nginx) start_server nginx nginx failover/nginx.conf.in ;;
    haproxy) start_server haproxy haproxy failover/haproxy.cfg.in ;;
    meridian) start_server meridian meridian failover/meridian.yaml.in ;;
    *) log "unknown target $1"; false ;;
  esac || started=0
  PROXY_PID=$STARTED_PID  # also when it failed: run_one stops it
  PROXY_PORT=$STARTED_PORT
  [ "$started" = 1 ] || return 1
  local _ region=""
  for _ in $(seq 150); do
    region=$(served_by "http://127.0.0.1:$PROXY_PORT/100b")
    [ "$region" = ams ] && { log "$1 pid $PROXY_PID on 127.0.0.1:$PROXY_PORT"; return 0; }
    sleep 0.1
  done
  log "$1 does not serve from ams (last: ${region:-no answer}); stderr:"
  tail -n 20 "$WORK/$1.stderr" >&2
  return 1
}

# meridian_counters: a few counters from Meridian's /metrics, on one line.
meridian_counters() {
  local admin
  admin=$(ready_admin "$WORK/meridian-ready.json") || return 0
  curl -s --max-time 2 "http://$admin/metrics" |
    grep -E '^meridian_(upstream_connect_failures_total|upstream_resets_total|replays_total|upstream_stale_retries_total|responses_total)' |
    tr '\n' ' '
}

# run_one TARGET SIGNAL RESULTS: one wrk run with the nearest region killed and restarted.
run_one() {
  local target=$1 sig=$2 results=$3 out="$WORK/out/failover-$1-$2.txt" secs=${DURATION%s}
  local wrk_pid ams_pid line region
  for region in "${REGIONS[@]}"; do
    kill -0 "${REGION_PID[$region]}" 2>/dev/null || start_region "$region"
  done
  start_proxy "$target" || { stop_pid "$PROXY_PID"; return 1; }
  timeout --kill-after=5 $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
    -s "$HERE/failover/count.lua" "http://127.0.0.1:$PROXY_PORT/100b" > "$out" 2>&1 &
  wrk_pid=$!
  PIDS+=("$wrk_pid")
  # Scenario timing, not synchronisation: the region dies at a wall-clock point of the run.
  sleep "$KILL_AT"
  ams_pid=${REGION_PID[ams]}
  kill -"$sig" "$ams_pid"
  wait "$ams_pid" 2>/dev/null || true
  log "$target: killed region ams (pid $ams_pid) with SIG$sig at ${KILL_AT}s"
  sleep "$DOWN_FOR"
  start_region ams
  log "$target: region ams back (pid ${REGION_PID[ams]}) at about $((KILL_AT + DOWN_FOR))s"
  wait "$wrk_pid" || log "wrk exited non-zero for $target"
  [ "$target" = meridian ] && log "meridian metrics: $(meridian_counters)"
  stop_pid "$PROXY_PID"
  line=$(grep '^FAILOVER ' "$out" || true)
  if [ -z "$line" ]; then
    log "no summary from wrk for $target:"; cat "$out" >&2
    return 1
  fi
  echo "$target SIG$sig ${line#FAILOVER }" >> "$results"
  log "$target SIG$sig: ${line#FAILOVER }"
}

active_targets
write_bodies
for region in "${REGIONS[@]}"; do REGION_PORT[$region]=$(free_port); done
RENDER_VARS=(PORT_AMS="${REGION_PORT[ams]}" PORT_IAD="${REGION_PORT[iad]}"
  PORT_SIN="${REGION_PORT[sin]}" WS_CLUSTER="" WS_ROUTE="")
for region in "${REGIONS[@]}"; do
  start_region "$region"
  log "region $region: nginx pid ${REGION_PID[$region]} on 127.0.0.1:${REGION_PORT[$region]}"
done

RESULTS="$WORK/failover.tsv"
: > "$RESULTS"
for sig in $SIGNALS; do
  for target in "${ACTIVE[@]}"; do
    run_one "$target" "$sig" "$RESULTS" || log "failover run failed for $target SIG$sig"
  done
done
echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION GET /100b; nearest region (ams) killed at ${KILL_AT}s," \
  "restarted ${DOWN_FOR}s later"
python3 "$HERE/summarize.py" failover "$RESULTS"
