-- wrk script for bench/serve/run_load.sh: POSTs the JSON bodies of the file named
-- by $BODIES (one per line) in turn, each connection from its own offset,
-- and prints one JSON line of results when done.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  bodies[#bodies + 1] = line
end
local path = os.getenv("TARGET_PATH")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

local i = 0
function request()
  i = i + 1
  local body = bodies[(offset + i) % #bodies + 1]
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "qps": %.2f, "p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f, "errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.mean / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
