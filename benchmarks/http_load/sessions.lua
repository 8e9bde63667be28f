-- wrk script: each request carries the cookie of a session picked at random from a file
-- (one `name=value` line per session; a file of one line puts every request on one
-- session), and `done` prints one JSON line the benchmark parses.
--
--   wrk ... -s sessions.lua http://127.0.0.1:PORT/route -- COOKIE_FILE

local requests = {}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  -- Each thread formats every request once, so picking one costs wrk almost nothing.
  for line in io.lines(args[1]) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("GET", wrk.path, { Cookie = line })
    end
  end
  if #requests == 0 then error("no cookies in " .. args[1]) end
  math.randomseed(os.time() * 100 + seed)
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d,'
      .. ' "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
