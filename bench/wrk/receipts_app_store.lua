-- POST /v1/receipts (App Store): StoreKit 2 signed transactions, each new, made before the
-- run by `apple-sign` (one file per wrk thread, one request body per line; thread t's
-- customers are t-1, t-1+T, …, so one customer never has two purchases in flight). Every
-- request verifies a certificate chain and an ES256 signature, then records a transaction.
-- A thread that runs out of bodies starts over: those repeats are idempotent 200s.
package.path = os.getenv("ENTITLED_BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
local headers
local bodies = {}
local sent = 0
function init()
  c.init()
  headers = c.headers()
  headers["Authorization"] = "Bearer " .. (os.getenv("ENTITLED_BENCH_APPLE_KEY")
    or error("ENTITLED_BENCH_APPLE_KEY is not set"))
  local dir = os.getenv("ENTITLED_BENCH_APPLE_DIR") or error("ENTITLED_BENCH_APPLE_DIR is not set")
  for line in io.lines(dir .. "/apple-receipts." .. thread_id .. ".jsonl") do
    bodies[#bodies + 1] = line
  end
end
function request()
  sent = sent + 1
  local body = bodies[((sent - 1) % #bodies) + 1]
  return wrk.format("POST", "/v1/receipts", headers, body)
end
