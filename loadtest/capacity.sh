#!/usr/bin/env bash
# One region overloaded: what clients see through Meridian, nginx and HAProxy when the nearest
# region cannot take all of the load, each proxy configured to spill as well as it allows.
#
#   loadtest/capacity.sh
#   loadtest/capacity.sh --help    (this text)
#
# Three regions on loopback (ams nearest, then iad, then sin), each an app (capacity/origin.py)
# that serves CAPACITY requests at a time in SERVICE_MS each and queues the rest. Every proxy
# limits each region to LIMIT requests in flight: Meridian `limits: {soft, hard}`, nginx
# `max_conns` (the others as backups), HAProxy `maxconn` with `balance first`. Scenarios:
#   spill  SPILL_CONNS clients: more than ams can serve, less than all three together
#   full   FULL_CONNS clients: more than all three together (Meridian waits at its hard limit,
#          HAProxy queues, nginx has no server left to pick)
# For each: requests, non-2xx, socket errors, p50/p99/max and the share each region served.
# `meridian-nolimit` (Meridian without limits: everything to the nearest region) shows the
# overload itself.
#
# Environment (defaults in brackets):
#   TARGETS     ["meridian-nolimit meridian nginx haproxy"]; a missing meridian binary is skipped
#   MERIDIAN    the meridian binary [build/proxy/meridian]
#   SCENARIOS ["spill full"]  SPILL_CONNS [32]  FULL_CONNS [64]  DURATION [10s]  THREADS [2]
#   CAPACITY [16]  SERVICE_MS [20]  LIMIT [16]
#   KEEP_WORK [unset]  keep the temp dir (configs, logs, raw wrk output)
#
# Every process is started by this script, tracked by PID and stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGETS=${TARGETS:-"meridian-nolimit meridian nginx haproxy"}
SCENARIOS=${SCENARIOS:-"spill full"}
SPILL_CONNS=${SPILL_CONNS:-32}
FULL_CONNS=${FULL_CONNS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CAPACITY=${CAPACITY:-16}
SERVICE_MS=${SERVICE_MS:-20}
LIMIT=${LIMIT:-16}
REGIONS=(ams iad sin)

# shellcheck source=lib.sh
source "$HERE/lib.sh"
require nginx haproxy wrk curl python3 timeout

declare -A REGION_PORT
PROXY_PID=""
PROXY_PORT=""

start_proxy() {
  case "$1" in
    nginx) start_server nginx nginx capacity/nginx.conf.in ;;
    haproxy) start_server haproxy haproxy capacity/haproxy.cfg.in ;;
    meridian) start_server meridian meridian capacity/meridian.yaml.in \
      LIMITS="{ soft: $LIMIT, hard: $LIMIT }" ;;
    meridian-nolimit) start_server meridian meridian-nolimit capacity/meridian.yaml.in LIMITS="{}" ;;
    *) log "unknown target $1"; return 1 ;;
  esac || { PROXY_PID=$STARTED_PID; return 1; }
  PROXY_PID=$STARTED_PID
  PROXY_PORT=$STARTED_PORT
  wait_ok "http://127.0.0.1:$PROXY_PORT/x" 12
}

# meridian_counters ADMIN: spills and refusals from Meridian's /metrics, on one line.
meridian_counters() {
  curl -s --max-time 2 "http://$1/metrics" |
    grep -E '^meridian_(spills_total|at_capacity_total)\{' | tr '\n' ' '
}

run_one() {
  local target=$1 scenario=$2 conns=$3 results=$4 out="$WORK/out/capacity-$1-$2.txt"
  local secs=${DURATION%s} line
  start_proxy "$target" || { log "$target did not start"; stop_pid "$PROXY_PID"; return 1; }
  timeout --kill-after=5 $((secs + 30)) wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency \
    -s "$HERE/failover/count.lua" "http://127.0.0.1:$PROXY_PORT/x" > "$out" 2>&1 ||
    log "wrk exited non-zero for $target"
  case "$target" in
    meridian*) log "$target: $(meridian_counters "$(ready_admin "$WORK/$target-ready.json")")" ;;
  esac
  stop_pid "$PROXY_PID"
  line=$(grep '^FAILOVER ' "$out" || true)
  [ -n "$line" ] || { log "no summary from wrk for $target:"; cat "$out" >&2; return 1; }
  echo "$target $scenario ${line#FAILOVER }" >> "$results"
  log "$target $scenario: ${line#FAILOVER }"
}

active_targets
for region in "${REGIONS[@]}"; do
  REGION_PORT[$region]=$(free_port)
  start "origin-$region" python3 "$HERE/capacity/origin.py" --port "${REGION_PORT[$region]}" \
    --region "$region" --capacity "$CAPACITY" --service-ms "$SERVICE_MS"
  wait_ok "http://127.0.0.1:${REGION_PORT[$region]}/x" 12
  log "region $region: origin pid $STARTED_PID on 127.0.0.1:${REGION_PORT[$region]}"
done
RENDER_VARS=(PORT_AMS="${REGION_PORT[ams]}" PORT_IAD="${REGION_PORT[iad]}"
  PORT_SIN="${REGION_PORT[sin]}" LIMIT="$LIMIT")

RESULTS="$WORK/capacity.tsv"
: > "$RESULTS"
for scenario in $SCENARIOS; do
  conns=$SPILL_CONNS
  [ "$scenario" = full ] && conns=$FULL_CONNS
  for target in "${ACTIVE[@]}"; do
    run_one "$target" "$scenario" "$conns" "$RESULTS" || log "run failed: $target $scenario"
  done
done
echo
echo "wrk -t$THREADS -d$DURATION GET /x; each region serves $CAPACITY at a time in ${SERVICE_MS}ms;" \
  "limit $LIMIT per region; spill: $SPILL_CONNS clients, full: $FULL_CONNS clients"
python3 "$HERE/summarize.py" capacity "$RESULTS"
