-- Shared by the load scripts: the public SDK key, the seeded customer count, a per-thread
-- random stream, and a done() hook that prints one machine-readable result line.
local M = {}

M.key = os.getenv("ENTITLED_BENCH_KEY") or error("ENTITLED_BENCH_KEY is not set")
M.customers = tonumber(os.getenv("ENTITLED_BENCH_CUSTOMERS") or "0")
M.run = os.getenv("ENTITLED_BENCH_RUN") or tostring(os.time())

local counter = 0

-- Gives each wrk thread its own id, so ids and random streams differ between threads.
function M.setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

-- Seeds the thread's random numbers; called from init() in the thread's own Lua state.
function M.init()
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- A seeded customer, uniformly at random (the same ids bench/load imported).
function M.customer()
  return "bench-user-" .. math.random(0, M.customers - 1)
end

function M.headers()
  return {
    ["Authorization"] = "Bearer " .. M.key,
    ["Content-Type"] = "application/json",
    ["X-Platform"] = "ios",
  }
end

-- One line bench/load parses: requests, req/s, latency percentiles (µs) and failures.
function M.done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d p999_us=%d max_us=%d "
      .. "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end

return M
