-- wrk script: creates CALLGATE_BENCH_N identities (handle "mem-<i>", number
-- +1200<i padded>) through POST /identities with the admin key in
-- CALLGATE_BENCH_KEY, spread over CALLGATE_BENCH_THREADS wrk threads; each
-- thread stops when its share is done. Used by `scripts/bench memory`.
local n = tonumber(os.getenv("CALLGATE_BENCH_N") or "1000000")
local threads = tonumber(os.getenv("CALLGATE_BENCH_THREADS") or "2")
local key = os.getenv("CALLGATE_BENCH_KEY") or ""
local count = 0

function setup(thread)
  thread:set("first", count)
  count = count + 1
end

function init(args)
  next_index = first
  failures = 0
end

function request()
  local i = next_index
  next_index = next_index + threads
  if i >= n then
    return wrk.format("GET", "/healthz")
  end
  local body = string.format('{"agent_handle":"mem-%d","phone_number":"+1200%08d"}', i, i)
  return wrk.format("POST", "/identities",
    {["X-API-Key"] = key, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 201 and status ~= 200 then failures = failures + 1 end
  if next_index >= n + threads * 64 then wrk.thread:stop() end
end
