-- wrk script: POST /v1/calls/decide for the dialed number in CALLGATE_BENCH_NUMBER
-- with the edge token in CALLGATE_BENCH_TOKEN. Used by scripts/bench.
local token = os.getenv("CALLGATE_BENCH_TOKEN") or ""
local number = os.getenv("CALLGATE_BENCH_NUMBER") or "+15550100"
wrk.method = "POST"
wrk.path = "/v1/calls/decide"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Edge-Token"] = token
wrk.body = '{"local_phone_number":"' .. number .. '","remote_phone_number":"+15550199"}'
