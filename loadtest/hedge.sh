#!/usr/bin/env bash
# Hedged requests against a slow tail: two regions of one app, the near one (ams) answering in
# 10 ms except every 20th request (5%), which it answers after 1 s; the far one (iad) always in
# 30 ms (10 ms plus 20 ms of distance). p50 and p99 through Meridian without and with
# `replay.hedge: { after: 50ms }`, and through nginx and HAProxy set up as closely as they
# allow (neither hedges: both give up on the near server after 50 ms and retry; see their
# configs in loadtest/hedge/). Run by `loadtest/run.sh hedge`.
#
#   loadtest/hedge.sh
#   loadtest/hedge.sh --help    (this text)
#
# Environment (defaults in brackets):
#   TARGETS   ["meridian meridian-hedge meridian-hedge-same nginx haproxy"]; a missing meridian
#             binary is skipped. meridian-hedge-same hedges to the same region
#             (`to: same_region`: the near server again, on a new connection);
#             meridian-hedge-p95 (not in the default list) does so after the route's
#             measured p95 instead of a fixed 50 ms
#   MERIDIAN  the meridian binary [build/proxy/meridian]
#   DURATION [15s]  CONNS [16]  (wrk -t1; every proxy and the origins share one CPU)
#   PER_REQUEST [10]  seconds of closed_loop.py after wrk: each request's own latency, once
#                     (wrk's percentiles are corrected for coordinated omission)
#   PROXY_CPU [1]  CLIENT_CPU [0]   KEEP_WORK [unset]  keep the temp dir
#
# Every process is started by this script, tracked by PID and stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGETS=${TARGETS:-"meridian meridian-hedge meridian-hedge-same nginx haproxy"}
DURATION=${DURATION:-15s}
PER_REQUEST=${PER_REQUEST:-10}
CONNS=${CONNS:-16}
PROXY_CPU=${PROXY_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}

# shellcheck source=lib.sh
source "$HERE/lib.sh"
require nginx haproxy wrk curl python3 taskset timeout
[ "$(nproc)" -ge 2 ] || PROXY_CPU=0 CLIENT_CPU=0
START_CPU=$PROXY_CPU

# start_origins: both regions' app servers, fresh, so every proxy meets the tail from its start.
start_origins() {
  PORT_NEAR=$(free_port) PORT_FAR=$(free_port)
  start origin-ams python3 "$HERE/hedge/tail_origin.py" "$PORT_NEAR" ams --delay-ms 10 \
    --stall-every 20 --stall-ms 1000
  NEAR_PID=$STARTED_PID
  start origin-iad python3 "$HERE/hedge/tail_origin.py" "$PORT_FAR" iad --delay-ms 30 \
    --stall-every 0
  FAR_PID=$STARTED_PID
  wait_ok "http://127.0.0.1:$PORT_FAR/" 3
  RENDER_VARS=(PORT_NEAR="$PORT_NEAR" PORT_FAR="$PORT_FAR")
}

# run_one TARGET RESULTS: origins and the proxy started alone, one wrk run, all stopped.
run_one() {
  local target=$1 results=$2 out="$WORK/out/hedge-$1.txt" secs=${DURATION%s} port pid
  local hedge="{ }" counters=""
  start_origins
  [ "$target" = meridian-hedge ] && hedge="{ hedge: { after: 50ms } }"
  [ "$target" = meridian-hedge-same ] && hedge="{ hedge: { after: 50ms, max: 2, to: same_region } }"
  [ "$target" = meridian-hedge-p95 ] && hedge="{ hedge: { after: p95, max: 2, to: same_region } }"
  case "$target" in
    nginx) start_server nginx nginx hedge/nginx.conf.in ;;
    haproxy) start_server haproxy haproxy hedge/haproxy.cfg.in ;;
    meridian|meridian-hedge|meridian-hedge-same|meridian-hedge-p95) start_server meridian "$target" hedge/meridian.yaml.in HEDGE="$hedge" ;;
  esac || { log "$target did not start"; return 1; }
  pid=$STARTED_PID port=$STARTED_PORT
  # The check's request is the tail's first; the 20th is the first stalled one.
  wait_ok "http://127.0.0.1:$port/" 3 || { stop_pid "$pid"; return 1; }
  # Warm-up, not measured: after: pNN hedges only once the route has 100 answers measured.
  timeout --kill-after=5 30 taskset -c "$CLIENT_CPU" python3 "$HERE/hedge/closed_loop.py" \
    "$port" --conns "$CONNS" --seconds 2 > /dev/null 2>&1 || true
  timeout --kill-after=5 $((secs + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNS" -d"$DURATION" --timeout 5s --latency "http://127.0.0.1:$port/" \
    > "$out" 2>&1 || log "wrk exited non-zero for $target"
  timeout --kill-after=5 $((PER_REQUEST + 30)) taskset -c "$CLIENT_CPU" \
    python3 "$HERE/hedge/closed_loop.py" "$port" --conns "$CONNS" --seconds "$PER_REQUEST" \
    > "$out.each" 2>&1 || log "closed_loop.py failed for $target"
  if [ "${target#meridian-hedge}" != "$target" ]; then
    counters=$(curl -s --max-time 2 "http://$(ready_admin "$WORK/$target-ready.json")/metrics" |
      grep -E '^meridian_hedges_total' | sed 's/meridian_hedges_total{route="all",outcome="\([a-z]*\)"}/\1=/' |
      tr -d ' ' | tr '\n' ' ')
  fi
  stop_pid "$pid"
  stop_pid "$NEAR_PID"
  stop_pid "$FAR_PID"
  python3 - "$target" "$out" "$counters" >> "$results" <<'PY'
import re, sys
target, path, counters = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
try:
    each = open(path + ".each").read().split()
    n, non200, errs, e50, e90, e99, emax = each[:7]
    each = "%7s %8sms %8sms %8sms %6s" % (n, e50, e90, e99, int(non200) + int(errs))
except (OSError, ValueError):
    each = "-"
def pct(p):
    m = re.search(r"^\s+%s%%\s+(\S+)" % p, text, re.M)
    return m.group(1) if m else "-"
rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
total = re.search(r"(\d+) requests in", text)
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(non2xx.group(1)) if non2xx else 0
print("%-19s %9s %9s %9s %9s %9s %7s | %s | %s" % (target, total.group(1) if total else "-",
      rps.group(1) if rps else "-", pct(50), pct(90), pct(99), errors, each, counters or "-"))
PY
  tail -n 1 "$results" >&2
}

active_targets
RESULTS="$WORK/hedge.tsv"
printf '%-19s %9s %9s %9s %9s %9s %7s | %7s %10s %10s %10s %6s | %s\n' target requests \
  req/s p50 p90 p99 errors requests p50 p90 p99 errors hedges > "$RESULTS"
for target in "${ACTIVE[@]}"; do
  case "$target" in meridian-hedge*) [ -x "$MERIDIAN" ] || continue ;; esac
  run_one "$target" "$RESULTS" || log "hedge run failed for $target"
done
echo
echo "left: wrk -t1 -c$CONNS -d$DURATION --latency GET / (percentiles corrected for coordinated" \
  "omission); right: closed_loop.py, $CONNS connections, ${PER_REQUEST}s (each request once)"
echo "near region: 10 ms, every 20th request 1 s; far region: 30 ms;" \
  "proxies + origins on CPU $PROXY_CPU, clients on CPU $CLIENT_CPU"
cat "$RESULTS"
