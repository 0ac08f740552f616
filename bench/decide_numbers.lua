-- wrk script: one POST /v1/calls/decide for each of the CALLGATE_BENCH_N
-- numbers that create_identities.lua made, spread over
-- CALLGATE_BENCH_THREADS wrk threads; each thread stops when its share is done.
local n = tonumber(os.getenv("CALLGATE_BENCH_N") or "1000000")
local threads = tonumber(os.getenv("CALLGATE_BENCH_THREADS") or "2")
local token = os.getenv("CALLGATE_BENCH_TOKEN") or ""
local count = 0

function setup(thread)
  thread:set("first", count)
  count = count + 1
end

function init(args)
  next_index = first
end

function request()
  local i = next_index
  next_index = next_index + threads
  if i >= n then
    return wrk.format("GET", "/healthz")
  end
  local body = string.format('{"local_phone_number":"+1200%08d","remote_phone_number":"+15550199"}', i)
  return wrk.format("POST", "/v1/calls/decide",
    {["X-Edge-Token"] = token, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if next_index >= n + threads * 64 then wrk.thread:stop() end
end
