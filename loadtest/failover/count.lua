-- wrk script for the failover scenario: counts responses by status class and by the region
-- that served them (the upstreams send x-region), and prints one summary line that
-- failover.sh parses. wrk runs one Lua state per thread: setup() keeps each thread so done()
-- can collect their counters.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, non2xx = 0, 0
  regions = {}
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
  end
  local region = headers["x-region"] or "none"
  regions[region] = (regions[region] or 0) + 1
end

function done(summary, latency, requests)
  local total_ok, total_bad, by_region = 0, 0, {}
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("non2xx")
    for name, n in pairs(thread:get("regions")) do
      by_region[name] = (by_region[name] or 0) + n
    end
  end
  local e = summary.errors
  local names = {}
  for name, n in pairs(by_region) do table.insert(names, name .. "=" .. n) end
  table.sort(names)
  io.write(string.format(
    "FAILOVER requests=%d ok=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50us=%d p99us=%d maxus=%d regions=%s\n",
    summary.requests, total_ok, total_bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(names, ",")))
end
