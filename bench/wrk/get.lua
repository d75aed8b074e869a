-- GET PATH with an optional Authorization header and an optional pause.
-- args: <path> [authorization] [delay_ms]
-- With delay_ms each connection waits that long between its reads, so N
-- connections offer at most N * 1000 / delay_ms reads per second: the same
-- read load for every server, however fast each answers.
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  target = args[1]
  hdrs = {}
  if args[2] and args[2] ~= "" then hdrs["Authorization"] = args[2] end
  pause = tonumber(args[3] or "0")
  s2xx, sbad = 0, 0
end

function request() return wrk.format("GET", target, hdrs) end

function delay() return pause end

function response(status, headers, body)
  if status < 300 then s2xx = s2xx + 1 else sbad = sbad + 1 end
end

function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("s2xx"); b = b + t:get("sbad") end
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"s2xx":%d,"bad":%d,"p50_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f}\n', summary.requests, summary.duration, a, b,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
