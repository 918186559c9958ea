#!/usr/bin/env bash
# Brings the lab up: namespaces lab-client, lab-edge, lab-ams, lab-iad, lab-sin joined by veth
# pairs (10.77.0.0/24 client-edge, 10.77.N.0/24 edge-region N), each region an nginx origin on
# its loopback behind a delay_relay on 10.77.N.2:80 (round trips to the edge of about 10, 80
# and 200 ms), and at the edge Meridian (:8001), nginx (:8002) and HAProxy (:8003).
#
#   loadtest/lab/up.sh        (idempotent: tears down what is left first; bounded: ~30 s)
#   loadtest/lab/down.sh
#
# The kernel's netem qdisc is used for the delay when it exists (LINK=netem is printed);
# otherwise delay_relay holds each chunk for the delay (LINK=relay). Every result says which.
# Needs root (ip netns, veth). Environment: RUN [/tmp/meridian-lab], MERIDIAN, RELAY.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
for tool in ip nginx haproxy curl "$MERIDIAN" "$RELAY"; do
  command -v "$tool" > /dev/null || { log "missing $tool"; exit 1; }
done
"$HERE/down.sh"
mkdir -p "$RUN/tmp" "$RUN/www"
chmod 755 "$RUN"
head -c 100 /dev/zero | tr '\0' a > "$RUN/www/100b"
head -c 1048576 /dev/zero | tr '\0' c > "$RUN/www/1m"
chmod 644 "$RUN/www/"*

for n in client edge "${REGIONS[@]}"; do
  ip netns add "$(ns "$n")"
  in_ns "$n" ip link set lo up
done
# client <-> edge
ip link add lab-c0 type veth peer name lab-e0
ip link set lab-c0 netns "$(ns client)"
ip link set lab-e0 netns "$(ns edge)"
in_ns client ip addr add 10.77.0.1/24 dev lab-c0
in_ns edge ip addr add 10.77.0.2/24 dev lab-e0
in_ns client ip link set lab-c0 up
in_ns edge ip link set lab-e0 up

# Does this kernel have netem? Tried on a throwaway namespace's loopback.
LINK=relay
ip netns add lab-probe
if ip netns exec lab-probe tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then LINK=netem; fi
ip netns del lab-probe
echo "$LINK" > "$RUN/link"

for r in "${REGIONS[@]}"; do
  i=${REGION_NET[$r]}
  ip link add "lab-e$i" type veth peer name "lab-r$i"
  ip link set "lab-e$i" netns "$(ns edge)"
  ip link set "lab-r$i" netns "$(ns "$r")"
  in_ns edge ip addr add "10.77.$i.1/24" dev "lab-e$i"
  in_ns "$r" ip addr add "10.77.$i.2/24" dev "lab-r$i"
  in_ns edge ip link set "lab-e$i" up
  in_ns "$r" ip link set "lab-r$i" up
  render origin_nginx.conf.in "$RUN/origin-$r.conf" NAME="$r"
  spawn "origin-$r" "$r" nginx -p "$RUN" -c "$RUN/origin-$r.conf" -g 'daemon off;'
  spawn "ws-$r" "$r" /usr/bin/python3 "$HERE/../soak/ws_echo.py" 8090 "$r"  # Debian's, with python3-websockets
  : > "$RUN/relay-$r.control"
  delay=${REGION_DELAY[$r]} jitter=${REGION_JITTER[$r]}
  if [ "$LINK" = netem ]; then
    # netem on both ends of the link: half the round trip each way; the relay adds none.
    in_ns edge tc qdisc add dev "lab-e$i" root netem delay "${delay}ms" "${jitter}ms"
    in_ns "$r" tc qdisc add dev "lab-r$i" root netem delay "${delay}ms" "${jitter}ms"
    delay=0 jitter=0
  fi
  spawn "relay-$r" "$r" "$RELAY" --listen "10.77.$i.2:80" --origin 127.0.0.1:8080 \
    --delay-ms "$delay" --jitter-ms "$jitter" --backlog 64 --control "$RUN/relay-$r.control"
done

render meridian.yaml.in "$RUN/meridian.yaml"
render nginx_edge.conf.in "$RUN/edge-nginx.conf"
render haproxy.cfg.in "$RUN/edge-haproxy.cfg"
"$MERIDIAN" validate -c "$RUN/meridian.yaml" > "$RUN/meridian.validate" 2>&1 ||
  { cat "$RUN/meridian.validate" >&2; exit 1; }
spawn meridian edge "$MERIDIAN" run -c "$RUN/meridian.yaml" --pid-file "$RUN/meridian.run.pid"
# By its full path: nginx re-executes its argv[0] for a binary upgrade (fault 8).
spawn edge-nginx edge "$(command -v nginx)" -p "$RUN" -c "$RUN/edge-nginx.conf" -g 'daemon off;'
# -W: master-worker, so SIGUSR2 reloads (faults.sh, fault 8)
spawn edge-haproxy edge haproxy -W -db -f "$RUN/edge-haproxy.cfg"

for r in "${REGIONS[@]}"; do wait_http edge "http://10.77.${REGION_NET[$r]}.2/healthz" 10; done
for p in meridian nginx haproxy; do wait_http client "http://$EDGE_ADDR:${PROXY_PORT[$p]}/100b" 15; done
for r in "${REGIONS[@]}"; do
  t=$(in_ns edge curl -s -o /dev/null -w '%{time_total}' "http://10.77.${REGION_NET[$r]}.2/100b")
  log "$r: GET /100b from the edge in ${t}s"
done
log "up (LINK=$LINK): client $(ns client) -> $EDGE_ADDR :8001 meridian, :8002 nginx, :8003 haproxy; run dir $RUN"
