-- GET /v1/health: the bare server (routing, middleware, logging), the run's baseline.
package.path = os.getenv("ENTITLED_BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
function init() c.init() end
function request() return wrk.format("GET", "/v1/health") end
