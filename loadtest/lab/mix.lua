-- wrk script for the lab's faults: 4 GETs of /100b to each POST of /api that carries an
-- Idempotency-Key (unique per request), so every request is replayable. Counts responses by
-- status class and by the region that served them (x-region), and prints one FAULT line.
-- RUN_TAG (from faults.sh) makes keys unique across runs: Meridian answers a key it has seen
-- from its own store, without asking the origin.
local run_tag = os.getenv("RUN_TAG") or tostring(os.time())
local threads = {}
local n = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, non2xx, regions = 0, 0, {}
end

function request()
  n = n + 1
  if n % 5 == 0 then
    return wrk.format("POST", "/api", {["Idempotency-Key"] = run_tag .. "-" .. id .. "-" .. n,
      ["Content-Type"] = "application/json"}, '{"order": ' .. n .. '}')
  end
  return wrk.format("GET", "/100b")
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else non2xx = non2xx + 1 end
  local r = headers["x-region"] or "none"
  regions[r] = (regions[r] or 0) + 1
end

function done(summary, latency, requests)
  local total_ok, total_bad, by_region = 0, 0, {}
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("non2xx")
    for name, c in pairs(thread:get("regions")) do by_region[name] = (by_region[name] or 0) + c end
  end
  local names = {}
  for name, c in pairs(by_region) do table.insert(names, name .. "=" .. c) end
  table.sort(names)
  local e = summary.errors
  io.write(string.format(
    "FAULT requests=%d ok=%d non2xx=%d sockerr=%d p50ms=%.1f p99ms=%.1f regions=%s\n",
    summary.requests, total_ok, total_bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(names, ",")))
end
