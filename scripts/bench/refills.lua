-- wrk script for scripts/bench_refills.py: every request refills a different pre-seeded paid order.
-- Arguments (after --): ORDERS_FILE PRODUCT_ID THREADS; each line of ORDERS_FILE is order,token,card.
-- Thread k takes lines k, k+THREADS, ...; it stops when its share runs out (the run then ends early).
-- The same script measures the ceiling (PRODUCT_ID "-": POST /append, no body).
local counter, threads = 0, {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  orders, nxt, created, other = {}, 1, 0, 0
  product, nthreads = args[2], tonumber(args[3])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then table.insert(orders, line) end
    i = i + 1
  end
end

function request()
  if product == "-" then  -- the ceiling: no orders to use up
    return wrk.format("POST", "/append")
  end
  local line = orders[nxt]
  if line == nil then  -- this thread's share is used up: the run's rate would be understated
    wrk.thread:stop()
    line = orders[#orders]
  end
  nxt = nxt + 1
  local order, token, card = line:match("([^,]+),([^,]+),([^,]+)")
  local body = '{"product_id":"' .. product .. '","payment_method_id":"' .. card .. '"}'
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "bench-" .. order,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/orders/" .. order .. "/refills", headers, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"created":%d,"other":%d,"duration_us":%d,"requests":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\n',
    c, o, summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
