-- POST /v1/receipts (test store): a new purchase by a seeded customer, each with a fresh
-- fetch_token so every request records a transaction; 3 in 4 buy the consumable, the rest a
-- monthly subscription. Threads take disjoint customers in turn (thread t: t, t+T, t+2T, …),
-- so two purchases by one customer are never in flight together: that would be 423, the
-- customer lock working as designed, not a failure.
package.path = os.getenv("ENTITLED_BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
local headers
local threads = tonumber(os.getenv("ENTITLED_BENCH_THREADS") or "1")
local sent = 0
function init() c.init(); headers = c.headers() end
function request()
  local customer = ((thread_id - 1) + threads * sent) % c.customers
  sent = sent + 1
  local product = (sent % 4 == 0) and "pro_monthly" or "coins_100"
  local body = string.format(
    '{"app_user_id":"bench-user-%d","fetch_token":"bench-%s-%d-%d","product_id":"%s",'
      .. '"price":"4.99","currency":"USD","is_restore":false}',
    customer, c.run, thread_id, sent, product)
  return wrk.format("POST", "/v1/receipts", headers, body)
end
