-- GET /v1/subscribers/{id}/offerings: the current offering and its packages.
package.path = os.getenv("ENTITLED_BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
local headers
function init() c.init(); headers = c.headers() end
function request()
  return wrk.format("GET", "/v1/subscribers/" .. c.customer() .. "/offerings", headers)
end
