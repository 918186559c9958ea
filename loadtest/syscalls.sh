# Sourced by run.sh for its `syscalls` mode: system calls per request, per target and case,
# counted by `strace -c` on the proxy's process (every thread) while curl sends SYSCALL_REQS
# requests. The counts do not depend on the machine's load, so unlike CPU time they compare
# across runs and machines. strace slows the proxy down; only the counts are read.
#
# Cases: `keepalive-SIZE` (one connection, SYSCALL_REQS requests for /SIZE, one at a time) and
# `new-conn` (`Connection: close` on every /100b request: one connection per request, so the
# accept, set-up and close path is in the count).

# syscall_count TARGET_PID OUTFILE CURL_ARGS...: runs curl while strace counts the proxy's calls.
syscall_count() {
  local pid=$1 out=$2 st
  shift 2
  strace -f -c -p "$pid" -o "$out" 2> "$out.log" &
  st=$!
  PIDS+=("$st")
  # strace says "attached" once per thread on stderr; wait for the first, with a deadline.
  local deadline=$((SECONDS + 10))
  until grep -q "attached" "$out.log" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { log "strace did not attach to $pid"; break; }
    sleep 0.05
  done
  timeout 120 curl -s -o /dev/null "$@" || log "curl failed: $*"
  kill -INT "$st" 2>/dev/null || true
  wait "$st" 2>/dev/null || true
}

syscalls() {
  require strace
  local results="$WORK/syscalls.tsv" target size out
  : > "$results"
  for target in "${ACTIVE[@]}"; do
    start_target "$target" || { log "skipping $target"; continue; }
    for size in $SIZES; do
      curl -s -o /dev/null "$TARGET_URL/$size"  # the upstream connection is open already
      out="$WORK/out/strace-$target-keepalive-$size.txt"
      syscall_count "$TARGET_PID" "$out" "$TARGET_URL/$size?[1-$SYSCALL_REQS]"
      python3 "$HERE/summarize.py" strace "$out" "$target" "keepalive-$size" "$SYSCALL_REQS" \
        >> "$results"
    done
    out="$WORK/out/strace-$target-new-conn.txt"
    syscall_count "$TARGET_PID" "$out" -H "Connection: close" "$TARGET_URL/100b?[1-$SYSCALL_REQS]"
    python3 "$HERE/summarize.py" strace "$out" "$target" new-conn "$SYSCALL_REQS" >> "$results"
    stop_target "$target"
  done
  echo
  echo "system calls per request (strace -f -c on the proxy; curl, $SYSCALL_REQS requests per case)"
  python3 "$HERE/summarize.py" syscalls "$results"
}
