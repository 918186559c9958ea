#!/usr/bin/env bash
# Tears the lab down: stops every process whose PID is in the run dir, then deletes the lab's
# namespaces (their veths go with them). Idempotent and bounded (a few seconds).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
if [ -d "$RUN" ]; then
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    # nginx and HAProxy also write their own PID to the same file (the same process, in the
    # foreground); meridian.run.pid is Meridian's own, which names its successor after a
    # binary upgrade (SIGUSR2).
    stop_pidfile "$name"
  done
fi
for n in client edge "${REGIONS[@]}" probe; do
  ip netns del "$(ns "$n")" 2>/dev/null || true
done
rm -rf "$RUN"
left=$(ip netns list | grep -c "^$NS_PREFIX" || true)
[ "$left" = 0 ] || { log "namespaces left: $(ip netns list | grep "^$NS_PREFIX")"; exit 1; }
log "down"
