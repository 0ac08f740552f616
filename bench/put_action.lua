-- wrk script: PUT /incoming-call-action, cycling over the identities in
-- CALLGATE_BENCH_IDS (comma-separated), each request a new client URL so every
-- write changes the stored config. Used by scripts/bench.
local ids = {}
for id in string.gmatch(os.getenv("CALLGATE_BENCH_IDS") or "", "[^,]+") do
  ids[#ids + 1] = id
end
local key = os.getenv("CALLGATE_BENCH_KEY")
local counter = 0

request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local body = '{"agent_identity_id":"' .. id .. '","incoming_call_action":"auto_accept",' ..
               '"client_websocket_url":"wss://agent.example.com/ws/' .. counter .. '"}'
  return wrk.format("PUT", "/incoming-call-action",
                    {["X-API-Key"] = key, ["Content-Type"] = "application/json"}, body)
end
