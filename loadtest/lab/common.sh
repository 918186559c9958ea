# shellcheck shell=bash
# Shared by up.sh, down.sh and faults.sh; sourced, never run. The lab's names, addresses and
# run dir (RUN, default /tmp/meridian-lab: configs, logs and one NAME.pid per process).
REPO=$(cd "$HERE/../.." && pwd)
RUN=${RUN:-/tmp/meridian-lab}
MERIDIAN=${MERIDIAN:-$REPO/build/proxy/meridian}
RELAY=${RELAY:-$REPO/build/tests/delay_relay}
NS_PREFIX=lab-
REGIONS=(ams iad sin)
declare -A REGION_NET=([ams]=1 [iad]=2 [sin]=3)
# One-way delay of each edge-region link, ms: round trips of about 10, 80 and 200 ms.
declare -A REGION_DELAY=([ams]=5 [iad]=40 [sin]=100)
declare -A REGION_JITTER=([ams]=1 [iad]=2 [sin]=4)
EDGE_ADDR=10.77.0.2
declare -A PROXY_PORT=([meridian]=8001 [nginx]=8002 [haproxy]=8003)

log() { echo "[lab] $*" >&2; }
ns() { echo "$NS_PREFIX$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

# stop_pidfile NAME: stops the process whose PID is in RUN/NAME.pid (TERM, 3 s, KILL).
stop_pidfile() {
  local f="$RUN/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# spawn NAME NS CMD...: starts CMD in namespace NS in the background (ip netns exec execs it,
# so the PID is the process's), output to RUN/NAME.log, PID to RUN/NAME.pid.
spawn() {
  local name=$1 n=$2
  shift 2
  setsid ip netns exec "$(ns "$n")" "$@" >> "$RUN/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

# render TEMPLATE OUT KEY=VALUE...: @KEY@ replaced (and @RUN@).
render() {
  local template=$1 out=$2 kv args=(-e "s|@RUN@|$RUN|g")
  shift 2
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$HERE/$template" > "$out"
}

# wait_http NS URL SECONDS: until a GET from NS answers 200.
wait_http() {
  local n=$1 url=$2 _
  for _ in $(seq $(($3 * 10))); do
    [ "$(in_ns "$n" curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" = 200 ] && return 0
    sleep 0.1
  done
  log "no 200 from $url in $(ns "$n")"
  return 1
}

# set_fault REGION WORD: the region's relay reads its control file every 100 ms.
set_fault() { echo "$2" > "$RUN/relay-$1.control"; }
