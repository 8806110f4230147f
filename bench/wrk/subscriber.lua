-- GET /v1/subscribers/{id}: CustomerInfo of a random seeded customer (the SDKs' hot path).
package.path = os.getenv("ENTITLED_BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
local headers
function init() c.init(); headers = c.headers() end
function request()
  return wrk.format("GET", "/v1/subscribers/" .. c.customer(), headers)
end
