#!/usr/bin/env bash
# A request sent on a pooled connection into a region that starts dropping every packet (a
# black hole, made with nftables) is taken as lost once the upstream's TCP has left it
# unacknowledged for timeouts.unacked beyond the round trip, and replayed in the next region:
# the client gets its answer in well under a second, not after the per-try timeout (10 s).
#
#   unacked_request_test.sh MERIDIAN_BINARY
#
# Runs in a network namespace of its own (unshare -n: root, iproute2, nftables), so the drop
# rule touches nothing else; exits 77 (skipped) where one cannot be made. Two origins (python3,
# HTTP/1.1 keep-alive) on the namespace's loopback answer with their region's name.
set -euo pipefail
MERIDIAN=$1
if [ -z "${UNACKED_TEST_IN_NETNS:-}" ]; then
  command -v nft >/dev/null && command -v ip >/dev/null || { echo "skip: needs nft and ip"; exit 77; }
  unshare -n true 2>/dev/null || { echo "skip: cannot make a network namespace"; exit 77; }
  UNACKED_TEST_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi

ip link set lo up
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- meridian log"; tail -n 30 "$WORK/meridian.log" || true; exit 1; }

origin() {  # origin PORT NAME
  /usr/bin/python3 - "$1" "$2" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, name = int(sys.argv[1]), sys.argv[2].encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
  PIDS+=($!)
}
# A fresh namespace has no other listener: fixed ports cannot collide here.
origin 18081 ams
origin 18082 iad

cat > "$WORK/meridian.yaml" <<YAML
workers: 1
access_log: "off"
listeners:
  - { name: public, address: 127.0.0.1:0, region: ams }
admin: { address: 127.0.0.1:0 }
regions:
  - { name: ams, lat: 52.37, lon: 4.90 }
  - { name: iad, lat: 38.95, lon: -77.45 }
clusters:
  - name: web
    endpoints:
      - { address: "127.0.0.1:18081", region: ams }
      - { address: "127.0.0.1:18082", region: iad }
routes:
  - name: app
    match: { path_prefix: / }
    backends: [ { cluster: web, weight: 1 } ]
    timeouts: { per_try: 10s, unacked: 300ms }
YAML
"$MERIDIAN" run -c "$WORK/meridian.yaml" --ready-file "$WORK/ready.json" > "$WORK/meridian.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/ready.json" ] && break; sleep 0.05; done
[ -s "$WORK/ready.json" ] || fail "meridian did not start"
PUBLIC=$(sed 's/.*"public": "\([^"]*\)".*/\1/' "$WORK/ready.json")
ADMIN=$(sed 's/.*"admin": "\([^"]*\)".*/\1/' "$WORK/ready.json")

# The origins start in the background: wait (bounded) until ams answers through the proxy.
# This leaves a pooled connection to ams.
body=""
for _ in $(seq 100); do
  body=$(curl -s -m 2 "http://$PUBLIC/" || true)
  [ "$body" = ams ] && break
  sleep 0.05
done
[ "$body" = ams ] || fail "the first request was not served by ams (got '$body')"

# ams turns into a black hole: every packet to or from its port is dropped on arrival (as a
# remote region drops them: sent by us, never received; a drop on output would not send them).
nft -f - <<'NFT'
table inet unacked_test {
  chain input { type filter hook input priority 0; policy accept; tcp dport 18081 drop; tcp sport 18081 drop; }
}
NFT

start=$(date +%s%N)
body=$(curl -s -m 5 "http://$PUBLIC/" || true)
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$body" = iad ] || fail "the request in the black hole was not answered by iad in 5 s (got '$body', ${took_ms} ms)"
[ "$took_ms" -lt 2000 ] || fail "the answer took ${took_ms} ms"
unacked=$(curl -s "http://$ADMIN/metrics" | awk '$1 == "meridian_upstream_unacked_total" {print $2}')
[ "$unacked" = 1 ] || fail "meridian_upstream_unacked_total is '$unacked', not 1"
echo "PASS: answered by iad in ${took_ms} ms; meridian_upstream_unacked_total $unacked"
