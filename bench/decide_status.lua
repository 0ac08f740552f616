-- wrk script: what an edge with one connection pool sends per call -- POST
-- /v1/calls/decide for CALLGATE_BENCH_NUMBER, then two status updates
-- (answered, completed) -- on every connection, with the edge token in
-- CALLGATE_BENCH_TOKEN. The updates go to one call, CALLGATE_BENCH_CALL_ID
-- (each is a store write like any other). Used by scripts/bench.
local token = os.getenv("CALLGATE_BENCH_TOKEN") or ""
local number = os.getenv("CALLGATE_BENCH_NUMBER") or "+15550100"
local status_path = "/v1/calls/" .. (os.getenv("CALLGATE_BENCH_CALL_ID") or "") .. "/status"
local headers = {["Content-Type"] = "application/json", ["X-Edge-Token"] = token}
local decide_body = '{"local_phone_number":"' .. number .. '","remote_phone_number":"+15550199"}'
local n = 0

function request()
  n = n + 1
  if n % 3 == 1 then
    return wrk.format("POST", "/v1/calls/decide", headers, decide_body)
  elseif n % 3 == 2 then
    return wrk.format("POST", status_path, headers, '{"status":"answered"}')
  end
  return wrk.format("POST", status_path, headers, '{"status":"completed"}')
end
