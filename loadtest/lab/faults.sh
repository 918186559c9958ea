#!/usr/bin/env bash
# The lab's faults under load, for each proxy in the same run: per fault and proxy, the errors
# clients saw, p50/p99, Meridian's replays, and how long the fault was felt and took to heal.
#
#   loadtest/lab/up.sh && loadtest/lab/faults.sh > results.tsv && python3 loadtest/lab/table.py results.tsv
#
# Each run: wrk from lab-client (2 threads, 32 connections, GET /100b and POST /api with a
# unique Idempotency-Key, 4:1) for DURATION s, two slow downloads of /1m (curl, 256 KiB/s) in a
# loop, WS_CLIENTS WebSocket sessions to /ws (soak/ws_clients.py: a message every 250 ms, its
# echo from the region's ws_echo.py; a session cut by the proxy or the region is an error, and
# the client opens the next), and a probe (probe.py: a GET every 50 ms on a fresh connection). The fault hits ams,
# the nearest region, from AT s to AT+FOR s:
#   1 gone: ams's relay refuses connects (RST) and resets open ones
#   2 blackhole: an nftables rule in ams drops every packet from the edge
#   3 stall: ams sends response heads, then nothing
#   4 slow: ams's responses 300 ms later
#   5 flap: ams gone 2 s, back 2 s, for the whole window
#   6 gray: ams's health checks pass, every other request gets 503
#   7 noaccept: ams stops accepting (accept queue of 64 fills, then SYNs are dropped), open
#     connections closed, so every proxy reconnects at once
#   8 reloads: a reload of the proxy every second during the flap of 5, and midway one binary
#     upgrade each: Meridian's SIGUSR2 takeover; nginx's USR2 (a new master on the binary),
#     then WINCH and QUIT to the old one; HAProxy's every reload is one (its master, -W,
#     re-executes its binary on USR2)
# Output, one line per run (tab-separated, with a header): fault proxy link requests ok non2xx
# sockerr p50ms p99ms replays probe_bad felt_s recover_s dl_ok dl_bad regions ws_sessions
# ws_messages ws_errors.
# felt_s: from the fault's start to the last probe that failed or took over 1 s while it
# lasted; recover_s: from its end until every later probe is a 200 from ams.
# Environment: FAULTS ["1 2 3 4 5 6 7 8"], PROXIES ["meridian nginx haproxy"], DURATION [24],
# AT [6], FOR [10], WS_CLIENTS [4]. Every process it starts is bounded by DURATION and stopped by PID.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
FAULTS=${FAULTS:-"1 2 3 4 5 6 7 8"}
PROXIES=${PROXIES:-"meridian nginx haproxy"}
DURATION=${DURATION:-24} AT=${AT:-6} FOR=${FOR:-10} WS_CLIENTS=${WS_CLIENTS:-4}
[ -f "$RUN/link" ] || { log "the lab is not up (loadtest/lab/up.sh)"; exit 1; }
LINK=$(cat "$RUN/link")
OUT="$RUN/faults"
mkdir -p "$OUT"
BG=()
trap 'for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done; clear_faults' EXIT

clear_faults() {
  local r
  for r in "${REGIONS[@]}"; do set_fault "$r" none; done
  in_ns ams nft delete table inet lab 2>/dev/null || true
}

inject() {  # inject FAULT PROXY: starts the fault on ams (returns at once; flaps in background)
  case "$1" in
    1) set_fault ams gone ;;
    2) in_ns ams nft -f - <<'NFT'
table inet lab {
  chain input { type filter hook input priority 0; policy accept; iifname "lab-r1" drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "lab-r1" drop; }
}
NFT
      ;;
    3) set_fault ams stall ;;
    4) set_fault ams slow ;;
    5|8) flap "$FOR" & BG+=($!) ;;
    6) set_fault ams gray ;;
    7) set_fault ams noaccept ;;
  esac
  [ "$1" = 8 ] && { reloads "$2" "$FOR" & BG+=($!); }
  return 0
}

flap() {  # flap SECONDS: ams gone 2 s, back 2 s
  local end=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$end" ]; do
    set_fault ams gone; sleep 2
    set_fault ams none; sleep 2
  done
}

reloads() {  # reloads PROXY SECONDS: one reload a second, and a binary upgrade midway
  local i pid
  for i in $(seq "$2"); do
    pid=$(cat "$RUN/$(proxy_pidname "$1").pid")
    case "$1" in
      meridian) pid=$(cat "$RUN/meridian.run.pid"); kill -HUP "$pid" ;;
      nginx) if [ "$i" = $(($2 / 2)) ]; then nginx_upgrade "$pid"; else kill -HUP "$pid"; fi ;;
      haproxy) kill -USR2 "$pid" ;;
    esac
    if [ "$1" = meridian ] && [ "$i" = $(($2 / 2)) ]; then kill -USR2 "$pid"; fi
    sleep 1
  done
}

# nginx_upgrade OLD_MASTER: nginx's documented binary upgrade. USR2 starts a new master on the
# binary (it writes edge-nginx.pid, the old one's becomes .oldbin); once it is up, WINCH stops
# the old workers gracefully and QUIT the old master. Bounded: 5 s for the new master.
nginx_upgrade() {
  local old=$1 new="" _
  kill -USR2 "$old"
  for _ in $(seq 50); do
    new=$(cat "$RUN/edge-nginx.pid" 2>/dev/null || true)
    [ -n "$new" ] && [ "$new" != "$old" ] && break
    sleep 0.1
  done
  if [ -z "$new" ] || [ "$new" = "$old" ]; then log "nginx: no new master after USR2"; return; fi
  kill -WINCH "$old"
  kill -QUIT "$old"
}

proxy_pidname() { case "$1" in meridian) echo meridian ;; *) echo "edge-$1" ;; esac; }

replays() {
  [ "$1" = meridian ] || { echo -; return; }
  in_ns edge curl -s --max-time 2 http://127.0.0.1:9901/metrics |
    awk '/^meridian_replays_total/{s+=$2} END{print s+0}'
}

# wait_ams PROXY: until the proxy serves from ams again (at most 20 s).
wait_ams() {
  local _ got
  for _ in $(seq 100); do
    got=$(in_ns client curl -s -D - -o /dev/null --max-time 1 "http://$EDGE_ADDR:${PROXY_PORT[$1]}/100b" |
      awk 'tolower($1)=="x-region:"{print $2}' | tr -d '\r')
    [ "$got" = ams ] && return 0
    sleep 0.2
  done
  log "$1 does not serve from ams (last: ${got:-nothing})"
}

downloads() {  # downloads PROXY SECONDS FILE: two slow downloads in a loop; counts ok/bad
  local end=$((SECONDS + $2)) ok=0 bad=0 code
  while [ "$SECONDS" -lt "$end" ]; do
    code=$(in_ns client curl -s -o /dev/null -w '%{http_code}:%{size_download}' --limit-rate 256k \
      --max-time $((end - SECONDS + 1)) "http://$EDGE_ADDR:${PROXY_PORT[$1]}/1m" || true)
    if [ "$code" = "200:1048576" ]; then ok=$((ok + 1));
    elif [ "$SECONDS" -lt "$end" ]; then bad=$((bad + 1)); fi
  done
  echo "$ok $bad" > "$3"
}

echo -e "fault\tproxy\tlink\trequests\tok\tnon2xx\tsockerr\tp50ms\tp99ms\treplays\tprobe_bad\tfelt_s\trecover_s\tdl_ok\tdl_bad\tregions\tws_sessions\tws_messages\tws_errors"
for fault in $FAULTS; do
  for proxy in $PROXIES; do
    clear_faults
    wait_ams "$proxy"
    sleep 2  # health checks settle after the previous run's fault
    tag="$fault-$proxy" port=${PROXY_PORT[$proxy]}
    before=$(replays "$proxy")
    RUN_TAG="$tag-$(date +%s%N)" timeout --kill-after=5 $((DURATION + 15)) ip netns exec "$(ns client)" wrk -t2 -c32 -d"${DURATION}s" \
      --timeout 5s --latency -s "$HERE/mix.lua" "http://$EDGE_ADDR:$port" > "$OUT/$tag.wrk" 2>&1 &
    wrk_pid=$!; BG+=($wrk_pid)
    timeout --kill-after=5 $((DURATION + 10)) ip netns exec "$(ns client)" python3 "$HERE/probe.py" \
      "$EDGE_ADDR" "$port" "$DURATION" > "$OUT/$tag.probe" 2>&1 &
    probe_pid=$!; BG+=($probe_pid)
    # WebSockets: WS_CLIENTS sessions through the proxy, a message every 250 ms each.
    timeout --kill-after=5 $((DURATION + 10)) ip netns exec "$(ns client)" /usr/bin/python3 \
      "$HERE/../soak/ws_clients.py" "$EDGE_ADDR" "$port" "$WS_CLIENTS" "$DURATION" \
      > "$OUT/$tag.ws" 2>&1 &
    BG+=($!)
    for d in 1 2; do downloads "$proxy" "$DURATION" "$OUT/$tag.dl$d" & BG+=($!); done
    sleep "$AT"   # scenario timing: the fault starts and ends at points of the run
    inject "$fault" "$proxy"
    sleep "$FOR"
    for p in "${BG[@]:5}"; do kill "$p" 2>/dev/null || true; done  # flaps, reloads
    clear_faults
    wait "$wrk_pid" || true
    wait "$probe_pid" || true
    wait || true
    BG=()
    if [ "$fault" = 8 ] && [ "$proxy" = meridian ]; then
      cp "$RUN/meridian.run.pid" "$RUN/meridian.pid"  # the upgraded process
    fi
    after=$(replays "$proxy")
    line=$(grep '^FAULT ' "$OUT/$tag.wrk" || echo "FAULT requests=0 ok=0 non2xx=0 sockerr=0 p50ms=0 p99ms=0 regions=none")
    read -r dl1ok dl1bad < "$OUT/$tag.dl1" || dl1ok=0 dl1bad=0
    read -r dl2ok dl2bad < "$OUT/$tag.dl2" || dl2ok=0 dl2bad=0
    probe=$(python3 - "$OUT/$tag.probe" "$AT" "$FOR" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 4]
at, dur = float(sys.argv[2]), float(sys.argv[3])
rows = [(float(t), int(s), r, float(ms)) for t, s, r, ms in rows]
bad = [t for t, s, r, ms in rows if s != 200 or ms > 1000]
felt = max([t + 0.0 for t, s, r, ms in rows if at <= t <= at + dur and (s != 200 or ms > 1000)], default=None)
felt = "%.1f" % (felt - at) if felt is not None else "0"
end = at + dur
after = [(t, s == 200 and r == "ams") for t, s, r, ms in rows if t >= end]
rec = None
for i, (t, good) in enumerate(after):
    if all(g for _, g in after[i:]):
        rec = t - end
        break
print(len(bad), felt, "%.1f" % rec if rec is not None else ">%d" % (rows[-1][0] - end if rows else 0))
PY
)
    read -r probe_bad felt rec <<< "$probe"
    rep=-; [ "$proxy" = meridian ] && rep=$((after - before))
    ws=$(grep '^SOAK-WS ' "$OUT/$tag.ws" || echo "SOAK-WS sessions=0 messages=0 errors=0 (none)")
    # A value from wrk's FAULT line or the WebSocket clients' SOAK-WS line (no key is in both).
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $line $ws"; }
    echo -e "$fault\t$proxy\t$LINK\t$(kv requests)\t$(kv ok)\t$(kv non2xx)\t$(kv sockerr)\t$(kv p50ms)\t$(kv p99ms)\t$rep\t$probe_bad\t$felt\t$rec\t$((dl1ok + dl2ok))\t$((dl1bad + dl2bad))\t$(kv regions)\t$(kv sessions)\t$(kv messages)\t$(kv errors)"
  done
done
