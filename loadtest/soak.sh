#!/usr/bin/env bash
# Soak: Meridian under moderate mixed load for DURATION seconds, reloaded every 10 s, with the
# nearest region flapping every 60 s; samples its RSS, open files and CPU per request every
# 10 s into a CSV and prints the slope of each (flat is the goal), plus the clients' errors.
#
#   loadtest/soak.sh DURATION        (seconds, e.g. 1800; stops by itself)
#   loadtest/soak.sh --help          (this text)
#
# On loopback: three regions (ams, iad, sin), each one nginx process; Meridian in front
# (failover/meridian.yaml.in, listener in ams). The load, all bounded by DURATION:
#   - keep-alive: wrk, 16 connections, one GET /100b per connection every 10 ms
#   - new connections: wrk, 4 connections with `Connection: close`, one GET every 20 ms
#   - HTTP/2: h2load (h2c prior knowledge), 4 clients x 4 streams, 50 req/s per client
#   - slow clients: 8 downloads of /1m read at 64 KiB/s, one after another
#   - WebSockets: 8 clients through /ws to a cluster of echo origins (soak/ws_echo.py in ams
#     and iad, Debian's python3-websockets), a message every 250 ms, a new session every 30 s
#     (soak/ws_clients.py); a session the proxy ends, a failed handshake or a lost echo is an
#     error: reloads must not cut tunnels. The echo origins are not flapped.
# Events: SIGHUP (reload) every 10 s; ams stopped (SIGKILL) every 60 s and restarted 5 s later.
# Output: WORK/soak.csv (t_s, rss_kib, fds, cpu_us_per_req, requests), the slopes, and each
# client's summary.
#
# Environment: MERIDIAN [build/proxy/meridian] (copied, so a rebuild cannot touch the run),
# KEEP_WORK [unset] keep the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
DURATION=${1:?usage: soak.sh DURATION_SECONDS}
require nginx wrk h2load curl python3 timeout
REGIONS=(ams iad sin)
declare -A REGION_PORT REGION_PID

cp "$MERIDIAN" "$WORK/meridian-bin"
MERIDIAN=$WORK/meridian-bin

start_region() {
  start_server nginx "region-$1" failover/region_nginx.conf.in PORT="${REGION_PORT[$1]}" NAME="$1"
  REGION_PID[$1]=$STARTED_PID
  wait_ok "http://127.0.0.1:${REGION_PORT[$1]}/100b" 100
}

write_bodies
for region in "${REGIONS[@]}"; do REGION_PORT[$region]=$(free_port); done
# The interpreter that has python3-websockets (a pyenv or venv python3 first in PATH may not).
WS_PY=""
for py in python3 /usr/bin/python3; do
  "$py" -c 'import websockets' 2>/dev/null && { WS_PY=$py; break; }
done
[ -n "$WS_PY" ] || { echo "missing python3-websockets (bash scripts/setup)" >&2; exit 1; }
WS_AMS=$(free_port) WS_IAD=$(free_port)
start ws-ams "$WS_PY" "$HERE/soak/ws_echo.py" "$WS_AMS" ams
start ws-iad "$WS_PY" "$HERE/soak/ws_echo.py" "$WS_IAD" iad
WS_ORIGIN_PIDS="${PIDS[*]: -2}"
RENDER_VARS=(PORT_AMS="${REGION_PORT[ams]}" PORT_IAD="${REGION_PORT[iad]}"
  PORT_SIN="${REGION_PORT[sin]}"
  WS_CLUSTER="  - { name: ws, endpoints: [ { address: \"127.0.0.1:$WS_AMS\", region: ams }, { address: \"127.0.0.1:$WS_IAD\", region: iad } ] }"
  WS_ROUTE="  - { name: ws, match: { path_prefix: /ws }, backends: [ { cluster: ws, weight: 1 } ], timeouts: { idle: 60s } }")
for region in "${REGIONS[@]}"; do start_region "$region"; done
start_server meridian meridian failover/meridian.yaml.in
MPID=$STARTED_PID PORT=$STARTED_PORT
ADMIN=$(ready_admin "$WORK/meridian-ready.json")
wait_ok "http://127.0.0.1:$PORT/100b" 100
log "meridian pid $MPID on 127.0.0.1:$PORT, admin $ADMIN; soak for ${DURATION}s"

URL="http://127.0.0.1:$PORT"
BOUNDED=(timeout --kill-after=10 $((DURATION + 60)))  # timeout passes our SIGTERM on
PACE_MS=10 start wrk-keepalive "${BOUNDED[@]}" wrk -t1 -c16 -d"${DURATION}s" --latency -s "$HERE/soak/paced.lua" "$URL/100b"
PACE_MS=20 NEW_CONN=1 start wrk-newconn "${BOUNDED[@]}" wrk -t1 -c4 -d"${DURATION}s" --latency -s "$HERE/soak/paced.lua" "$URL/100b"
start h2load "${BOUNDED[@]}" h2load -c4 -m4 --rps 50 -D "$DURATION" "$URL/100b"
start slow "${BOUNDED[@]}" python3 "$HERE/soak/slow_clients.py" 127.0.0.1 "$PORT" 8 65536 "$DURATION"
start ws "${BOUNDED[@]}" "$WS_PY" "$HERE/soak/ws_clients.py" 127.0.0.1 "$PORT" 8 "$DURATION"

requests() {
  curl -s --max-time 2 "http://$ADMIN/metrics" |
    awk '/^meridian_downstream_requests_total /{print $2; f=1} END{if(!f) print 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$MPID/stat"; }
HZ=$(getconf CLK_TCK)
echo "t_s,rss_kib,fds,cpu_us_per_req,requests" > "$WORK/soak.csv"
start_s=$(date +%s) last_cpu=$(cpu_ticks) last_req=$(requests) reloads=0 flaps=0
while :; do
  sleep 1  # scenario timing: events happen at wall-clock points of the run
  now=$(( $(date +%s) - start_s ))
  [ "$now" -lt "$DURATION" ] || break
  kill -0 "$MPID" || { log "meridian exited at ${now}s"; break; }
  if [ $((now % 60)) -eq 30 ] && kill -0 "${REGION_PID[ams]}" 2>/dev/null; then
    stop_pid "${REGION_PID[ams]}"; flaps=$((flaps + 1)); ams_down_at=$now
  fi
  if [ -n "${ams_down_at:-}" ] && [ $((now - ams_down_at)) -ge 5 ]; then
    start_region ams; ams_down_at=""
  fi
  if [ $((now % 10)) -eq 0 ] && [ "$now" != "${last_event:-}" ]; then
    last_event=$now
    kill -HUP "$MPID"; reloads=$((reloads + 1))
    cpu=$(cpu_ticks) req=$(requests)
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$MPID/status")
    fds=$(find "/proc/$MPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    per=$(python3 -c "import sys; c,r=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (c*1e6/$HZ/r if r>0 else 0))" \
      $((cpu - last_cpu)) $((req - last_req)))
    echo "$now,$rss,$fds,$per,$req" >> "$WORK/soak.csv"
    last_cpu=$cpu last_req=$req
  fi
done
log "load done; ${reloads} reloads, ${flaps} flaps of ams; waiting for the clients' summaries"
for pid in "${PIDS[@]}"; do
  [ "$pid" = "$MPID" ] && continue
  case " ${REGION_PID[*]} $WS_ORIGIN_PIDS " in *" $pid "*) continue ;; esac
  wait "$pid" 2>/dev/null || true
done
alive=yes; kill -0 "$MPID" 2>/dev/null || alive=no
echo "soak ${DURATION}s on loopback (no delay), meridian alive at the end: $alive," \
  "reloads $reloads, ams flaps $flaps"
echo "samples: $WORK/soak.csv"
python3 "$HERE/soak/slopes.py" "$WORK/soak.csv" || true
grep -h '^SOAK' "$WORK/wrk-keepalive.stdout" | sed 's/^/keep-alive: /' || true
grep -h '^SOAK' "$WORK/wrk-newconn.stdout" | sed 's/^/new-conn:   /' || true
grep -h -E '^requests:|^status codes:' "$WORK/h2load.stdout" | sed 's/^/h2load:     /' || true
grep -h '^SOAK-SLOW' "$WORK/slow.stdout" | sed 's/^/slow:       /' || true
grep -h '^SOAK-WS' "$WORK/ws.stdout" | sed 's/^/websocket:  /' || true
curl -s --max-time 2 "http://$ADMIN/metrics" |
  grep -E '^meridian_(replays_total|responses_total|config_reloads|upstream_connect_failures_total)' || true
