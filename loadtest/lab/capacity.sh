#!/usr/bin/env bash
# Issue 15's capacity spill and latency order in the lab, with real round trips (about 10, 80
# and 200 ms from the edge to ams, iad and sin): Meridian against nginx and HAProxy, same run.
#
#   loadtest/lab/up.sh && loadtest/lab/capacity.sh && loadtest/lab/down.sh
#
# Beside each region's nginx it starts capacity/origin.py (CAPACITY requests at a time in
# SERVICE_MS each, the rest queue) on the region's loopback :8081, behind a second delay_relay
# on 10.77.N.2:81 with the region's delay (none when the link itself has netem). Each edge proxy
# runs alone for its run, configured as loadtest/capacity.sh configures it (every region
# limited to LIMIT in flight: Meridian `limits`, nginx `max_conns` with iad and sin as backups,
# HAProxy `maxconn` with `balance first`), on 10.77.0.2:8011 (Meridian), :8012, :8013.
#
# Scenario A, the nearest region overloaded: wrk from lab-client, A_CONNS connections (more than
# ams's LIMIT, fewer than all three regions'), A_SECONDS each, GET /x; per target: requests,
# errors, p50/p99 and the share per region. Targets meridian-nolimit (everything to ams: the
# overload itself), meridian (limits {soft: LIMIT, hard: LIMIT}, spill: soft), nginx, haproxy;
# also meridian-hard (limits {soft: LIMIT, hard: 2 x LIMIT}, spill: hard: ams queues up to twice
# the limit before anything crosses regions), not in the default list.
# Scenario B, a slow region: series.py from lab-client (B_CONNS keep-alive connections, every
# request logged), B_SECONDS; from B_AT for B_FOR s ams's app holds each answer SLOW_MS longer
# (origin.py's control file, outside its slots). Targets meridian-distance, meridian-latency
# (routing.order: latency), nginx, haproxy; per target and phase (before, during, after):
# requests, errors, p50/p99 and regions; when ams lost its traffic and won it back; and for
# Meridian its measured latency per region, once a second.
#
# Prints the two tables in markdown; raw files stay in RUN/capacity until down.sh.
# Environment (defaults in brackets): SCENARIOS ["A B"], A_TARGETS, B_TARGETS, CAPACITY [16],
# SERVICE_MS [20], LIMIT [16], A_CONNS ["32"], A_SECONDS [10], THREADS [2], B_CONNS [8],
# B_SECONDS [40], B_AT [10], B_FOR [15], SLOW_MS [200]. Every run is bounded; every process it
# starts is stopped by PID on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
SCENARIOS=${SCENARIOS:-"A B"}
A_TARGETS=${A_TARGETS:-"meridian-nolimit meridian nginx haproxy"}
B_TARGETS=${B_TARGETS:-"meridian-distance meridian-latency nginx haproxy"}
CAPACITY=${CAPACITY:-16} SERVICE_MS=${SERVICE_MS:-20} LIMIT=${LIMIT:-16}
A_CONNS=${A_CONNS:-32} A_SECONDS=${A_SECONDS:-10} THREADS=${THREADS:-2}
B_CONNS=${B_CONNS:-8} B_SECONDS=${B_SECONDS:-40} B_AT=${B_AT:-10} B_FOR=${B_FOR:-15}
SLOW_MS=${SLOW_MS:-200}
declare -A EDGE_PORT=([meridian]=8011 [nginx]=8012 [haproxy]=8013)
ADMIN_PORT=9911
[ -f "$RUN/link" ] || { log "the lab is not up (loadtest/lab/up.sh)"; exit 1; }
LINK=$(cat "$RUN/link")
OUT="$RUN/capacity"
mkdir -p "$OUT/tmp"
chmod 755 "$OUT" "$OUT/tmp"
BG=()

cleanup() {
  local p r
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_pidfile cap-edge
  for r in "${REGIONS[@]}"; do stop_pidfile "cap-origin-$r"; stop_pidfile "cap-relay-$r"; done
}
trap cleanup EXIT

# The regions' apps, each behind its own relay with the link's delay.
for r in "${REGIONS[@]}"; do
  i=${REGION_NET[$r]}
  : > "$OUT/slow-$r"
  spawn "cap-origin-$r" "$r" python3 "$REPO/loadtest/capacity/origin.py" --port 8081 --region "$r" \
    --capacity "$CAPACITY" --service-ms "$SERVICE_MS" --control "$OUT/slow-$r"
  delay=${REGION_DELAY[$r]} jitter=${REGION_JITTER[$r]}
  [ "$LINK" = netem ] && delay=0 jitter=0
  : > "$OUT/relay-$r.control"
  spawn "cap-relay-$r" "$r" "$RELAY" --listen "10.77.$i.2:81" --origin 127.0.0.1:8081 \
    --delay-ms "$delay" --jitter-ms "$jitter" --backlog 1024 --control "$OUT/relay-$r.control"
done
for r in "${REGIONS[@]}"; do wait_http edge "http://10.77.${REGION_NET[$r]}.2:81/healthz" 10; done

kind() { echo "${1%%-*}"; }
unfilled() { ! grep -q '@[A-Z_]*@' "$1" || { log "$1: a placeholder left unfilled"; return 1; }; }

# start_edge TARGET: renders its config into OUT and starts it in lab-edge (PID: cap-edge).
start_edge() {
  local t=$1 port cfg
  port=${EDGE_PORT[$(kind "$t")]}
  case "$t" in
    meridian*)
      local limits="{ soft: $LIMIT, hard: $LIMIT }" order=distance spill=soft
      [ "$t" = meridian-nolimit ] && limits="{}"
      [ "$t" = meridian-hard ] && limits="{ soft: $LIMIT, hard: $((2 * LIMIT)) }" spill=hard
      [ "$t" = meridian-latency ] && order=latency
      cfg="$OUT/$t.yaml"
      render capacity_meridian.yaml.in "$cfg" PORT="$port" ADMIN_PORT="$ADMIN_PORT" \
        LIMITS="$limits" SPILL="$spill" ORDER="$order"
      unfilled "$cfg" || return 1
      "$MERIDIAN" validate -c "$cfg" > "$OUT/$t.validate" 2>&1 || { cat "$OUT/$t.validate" >&2; return 1; }
      spawn cap-edge edge "$MERIDIAN" run -c "$cfg" ;;
    nginx|haproxy)
      # loadtest/capacity's own template, its loopback addresses moved to the lab's.
      cfg="$OUT/$t.conf"
      sed -e "s|@WORK@|$OUT|g" -e "s|@LIMIT@|$LIMIT|g" -e "s|127.0.0.1:@PORT@|$EDGE_ADDR:$port|" \
        -e "s|127.0.0.1:@PORT_AMS@|10.77.1.2:81|" -e "s|127.0.0.1:@PORT_IAD@|10.77.2.2:81|" \
        -e "s|127.0.0.1:@PORT_SIN@|10.77.3.2:81|" "$REPO/loadtest/capacity/$( [ "$t" = nginx ] &&
        echo nginx.conf.in || echo haproxy.cfg.in)" > "$cfg"
      unfilled "$cfg" || return 1
      if [ "$t" = nginx ]; then
        spawn cap-edge edge nginx -p "$OUT" -c "$cfg" -g 'daemon off;'
      else
        spawn cap-edge edge haproxy -db -f "$cfg"
      fi ;;
    *) log "unknown target $t"; return 1 ;;
  esac
  wait_http client "http://$EDGE_ADDR:$port/x" 15
}

meridian_metrics() {  # meridian_metrics REGEX: matching lines of Meridian's /metrics, on one line
  in_ns edge curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E "$1" | tr '\n' ' '
}

run_a() {  # run_a TARGET CONNS
  local t=$1 conns=$2 out="$OUT/A-$1-$2.wrk" line extra=-
  start_edge "$t" || { log "$t did not start"; stop_pidfile cap-edge; return 1; }
  timeout --kill-after=5 $((A_SECONDS + 20)) ip netns exec "$(ns client)" wrk -t"$THREADS" \
    -c"$conns" -d"${A_SECONDS}s" --timeout 5s --latency -s "$REPO/loadtest/failover/count.lua" \
    "http://$EDGE_ADDR:${EDGE_PORT[$(kind "$t")]}/x" > "$out" 2>&1 || log "wrk exited non-zero for $t"
  if [ "$(kind "$t")" = meridian ]; then
    extra=$(meridian_metrics '^meridian_(spills_total|at_capacity_total)\{' | sed 's/} /}=/g' | tr ' ' ';')
    extra=${extra:--}
  fi
  stop_pidfile cap-edge
  line=$(grep '^FAILOVER ' "$out" || echo "FAILOVER requests=0")
  echo -e "A\t$t\t$conns\t${line#FAILOVER }\t$extra" >> "$OUT/results.tsv"
  log "A $t $conns: ${line#FAILOVER } $extra"
}

run_b() {  # run_b TARGET
  local t=$1 port sp mp="" on off
  port=${EDGE_PORT[$(kind "$t")]}
  : > "$OUT/slow-ams"
  start_edge "$t" || { log "$t did not start"; stop_pidfile cap-edge; return 1; }
  sleep 3  # scenario timing: a few health checks, so every region has a measured latency
  timeout --kill-after=5 $((B_SECONDS + 10)) ip netns exec "$(ns client)" python3 "$HERE/series.py" \
    "$EDGE_ADDR" "$port" "$B_SECONDS" "$B_CONNS" /x > "$OUT/B-$t.series" 2> "$OUT/B-$t.series.err" &
  sp=$!; BG+=("$sp")
  if [ "$(kind "$t")" = meridian ]; then
    ( for _ in $(seq 0 "$B_SECONDS"); do
        echo "$(date +%s.%N) $(meridian_metrics '^meridian_region_latency_seconds\{')"
        sleep 1
      done ) > "$OUT/B-$t.latency" 2>&1 &
    mp=$!; BG+=("$mp")
  fi
  sleep "$B_AT"   # scenario timing: the slow window starts and ends at points of the run
  echo "$SLOW_MS" > "$OUT/slow-ams"
  on=$(date +%s.%N)
  sleep "$B_FOR"
  : > "$OUT/slow-ams"
  off=$(date +%s.%N)
  echo "$on $off" > "$OUT/B-$t.window"
  wait "$sp" || log "series.py exited non-zero for $t"
  [ -n "$mp" ] && { wait "$mp" || true; }
  BG=()
  stop_pidfile cap-edge
  python3 "$HERE/phases.py" "$OUT/B-$t.series" "$on" "$off" ams |
    sed "s/^/B\t$t\t/" >> "$OUT/results.tsv"
  log "B $t: $(grep -P "^B\t$t\tmove" "$OUT/results.tsv" | cut -f4-)"
}

: > "$OUT/results.tsv"
for scenario in $SCENARIOS; do
  case "$scenario" in
    A) for conns in $A_CONNS; do
         for t in $A_TARGETS; do run_a "$t" "$conns" || log "run failed: A $t $conns"; done
       done ;;
    B) for t in $B_TARGETS; do run_b "$t" || log "run failed: B $t"; done ;;
  esac
done
echo "LINK=$LINK; each region's app serves $CAPACITY at a time in ${SERVICE_MS} ms; limit $LIMIT per region;" \
  "A: wrk -t$THREADS -c'$A_CONNS' ${A_SECONDS}s; B: $B_CONNS connections ${B_SECONDS}s, ams +${SLOW_MS} ms from ${B_AT}s for ${B_FOR}s"
python3 "$HERE/capacity_table.py" "$OUT/results.tsv"
