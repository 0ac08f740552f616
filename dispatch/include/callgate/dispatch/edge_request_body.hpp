#pragma once

// The edge protocol's bodies (edge-protocol.md) as plain functions, outside
// the router so the fuzzer and the benchmarks reach them without a server: the
// parsing of the decide and status requests, and the decision's response body.

#include "callgate/dispatch/call_decider.hpp"
#include "callgate/engine/call_records.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace callgate::dispatch {

// Reads a POST /v1/calls/decide body (edge-protocol.md): call_id and
// agent_identity_id as UUIDs or null, local_phone_number and
// remote_phone_number as strings of at most 256 bytes; one of
// local_phone_number and agent_identity_id, and a non-empty
// remote_phone_number, are required. Returns false with the 422 detail.
bool read_decide_body(std::string_view body, call_event& out, std::string& detail);

// The 200 body answering a decide request: call_id, agent_identity_id (or
// null), action and source; for an answer client_websocket_url and
// client_websocket_headers, for a reject (and a fallback answer) its reason;
// decided_in_us.
std::string decision_body(const call_decision& d);

struct status_update {
    engine::call_status status = engine::call_status::answered;
    std::optional<engine::hangup_reason> hangup; // nullopt: absent or null
};

// Reads a POST /v1/calls/{call_id}/status body: status one of answered,
// completed, failed, canceled; hangup_reason one of local, remote,
// max_duration, or null. Returns false with the 422 detail.
bool read_status_body(std::string_view body, status_update& out, std::string& detail);

} // namespace callgate::dispatch
