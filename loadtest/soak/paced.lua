-- wrk script for the soak: each connection sends one request every PACE_MS (wrk's delay()),
-- so the load is moderate and steady; counts non-2xx and prints one SOAK line for soak.sh.
-- wrk runs one Lua state per thread: setup() keeps each thread so done() can sum them.
local threads = {}
local pace_ms = tonumber(os.getenv("PACE_MS") or "10")
local close = os.getenv("NEW_CONN") == "1"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, non2xx = 0, 0
  if close then wrk.headers["Connection"] = "close" end
end

function delay()
  return pace_ms
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "SOAK requests=%d ok=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50us=%d p99us=%d\n",
    summary.requests, total_ok, total_bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
