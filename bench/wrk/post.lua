-- POST one JSON body per line of "<prefix>.<thread>.txt", in order, to PATH.
-- args: <prefix> <path> [authorization]
-- Prints one JSON line: counts per status class and latency percentiles.
local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1] .. "." .. tid .. ".txt") do bodies[#bodies + 1] = line end
  target = args[2]
  hdrs = {["Content-Type"] = "application/json"}
  if args[3] then hdrs["Authorization"] = args[3] end
  idx = 0
  s2xx, s4xx, s5xx, wrapped = 0, 0, 0, 0
end

function request()
  idx = idx + 1
  if idx > #bodies then idx = 1; wrapped = wrapped + 1 end
  return wrk.format("POST", target, hdrs, bodies[idx])
end

function response(status, headers, body)
  if status < 300 then s2xx = s2xx + 1
  elseif status < 500 then s4xx = s4xx + 1
  else s5xx = s5xx + 1 end
end

function done(summary, latency, requests)
  local a, b, c, w = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx"); b = b + t:get("s4xx"); c = c + t:get("s5xx"); w = w + t:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"s2xx":%d,"s4xx":%d,"s5xx":%d,"wrapped":%d,' ..
    '"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration, a, b, c, w, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
