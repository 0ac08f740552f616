-- wrk script: one request for each i in [0, CALLGATE_BENCH_N), spread over
-- CALLGATE_BENCH_THREADS wrk threads; a thread stops when its share is done.
-- CALLGATE_BENCH_MODE=create: POST /identities (handle "mem-<i>", number
--   +1200<i, 8 digits>) with the admin key in CALLGATE_BENCH_KEY;
-- CALLGATE_BENCH_MODE=decide: POST /v1/calls/decide for number i with the
--   edge token in CALLGATE_BENCH_TOKEN.
-- Used by `scripts/bench memory`.
local n = tonumber(os.getenv("CALLGATE_BENCH_N") or "1000000")
local threads = tonumber(os.getenv("CALLGATE_BENCH_THREADS") or "2")
local mode = os.getenv("CALLGATE_BENCH_MODE") or "create"
local key = os.getenv("CALLGATE_BENCH_KEY") or ""
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
  if mode == "decide" then
    local body = string.format('{"local_phone_number":"+1200%08d","remote_phone_number":"+15550199"}', i)
    return wrk.format("POST", "/v1/calls/decide",
      {["X-Edge-Token"] = token, ["Content-Type"] = "application/json"}, body)
  end
  local body = string.format('{"agent_handle":"mem-%d","phone_number":"+1200%08d"}', i, i)
  return wrk.format("POST", "/identities",
    {["X-API-Key"] = key, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if next_index >= n + threads * 64 then wrk.thread:stop() end
end
