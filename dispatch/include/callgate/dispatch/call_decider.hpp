#pragma once

#include "callgate/dispatch/outcome.hpp"
#include "callgate/dispatch/webhook_client.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/records.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace callgate::engine {
class config_service;
class contact_rule_set;
class call_log;
class clock_source;
} // namespace callgate::engine

namespace callgate::dispatch {

struct dispatch_metrics;

// A new inbound call as an edge reports it.
struct call_event {
    std::optional<engine::uuid> call_id; // generated when absent
    std::optional<engine::uuid> agent_identity_id;
    std::optional<std::string> local_phone_number; // the dialed number
    std::string remote_phone_number;
    std::string request_id; // the edge request's X-Request-ID, for the decision's log lines
    // A try_decide for this call stopped short: the caches' hits and misses
    // it met are counted already, and are not counted again.
    bool lookups_counted = false;
};

struct call_decision {
    outcome kind = outcome::overloaded;
    std::optional<engine::uuid> agent_identity_id;
    std::optional<std::string> client_websocket_url;              // for an answer
    std::vector<std::pair<std::string, std::string>> client_headers; // handshake headers for an answer
    std::int64_t decided_in_us = 0;
    engine::snapshot_ptr identity;
    call_context call;
};

// The one decision function of dispatch.md: identity by id or dialed number,
// action from the cache (a miss is read on a worker thread, never on the I/O
// thread), then reject, answer, or ask the webhook; and the call record.
//
// decide() runs on the caller's I/O thread; many decisions run at once and a
// slow webhook holds only its own call.
class call_decider {
public:
    call_decider(engine::config_service& config, engine::call_log& calls, webhook_client& webhooks,
                 boost::asio::any_io_executor workers, dispatch_metrics& metrics, engine::clock_source& clock,
                 std::chrono::milliseconds webhook_budget);

    // Decides the call and queues its record (ringing for an answer, canceled
    // with hangup_reason "rejected" for a reject) before returning, so the
    // record is readable as soon as the decision is answered.
    boost::asio::awaitable<call_decision> decide(call_event event);

    // decide() without waiting: when the caches hold all the decision needs
    // (and the action needs no webhook), decides, queues the record and
    // returns the decision. Otherwise returns nullopt having recorded and
    // observed nothing (it counted the cache hits and misses it met: call
    // decide() with lookups_counted set), and decide() is the way to go.
    std::optional<call_decision> try_decide(call_event event);

    // Decides without recording (the media bridge records once the client
    // WebSocket answered or failed).
    boost::asio::awaitable<call_decision> decide_only(call_event event);

    // Queues the record of a decision with the given status.
    void record(const call_decision& d, engine::call_status status, std::int64_t started_at_us = 0);

    // A decision the engine makes without looking anything up (e.g. an
    // unsupported media format), counted like any other.
    call_decision engine_reject(call_event event, outcome kind);

    // The client WebSocket handshake headers of media-stream.md: X-Call-Context,
    // and its signature when the identity has a signing key.
    std::vector<std::pair<std::string, std::string>> handshake_headers(const engine::identity_snapshot& identity,
                                                                       const call_context& call);

    engine::call_log& calls() { return calls_; }
    engine::random_source& ids() { return ids_; }

private:
    struct progress;
    // What a decision still lacks after the steps the caches could take.
    enum class need { nothing, phone, snapshot, rules, webhook };
    progress begin(call_event event);
    need advance(progress& p);
    // The handshake headers of an answer, the decision time and its metric.
    call_decision finish(progress& p);

    boost::asio::awaitable<engine::config_result<engine::snapshot_ptr>> snapshot(engine::uuid id);
    boost::asio::awaitable<engine::config_result<std::optional<engine::uuid>>> identity_by_number(std::string number);
    // contact_blocked when the identity's rules and filter mode block
    // `caller`; nullopt when the call may go on.
    static std::optional<outcome> screen(const engine::identity_snapshot& identity,
                                         const engine::contact_rule_set& rules, const std::string& caller);

    engine::config_service& config_;
    engine::call_log& calls_;
    webhook_client& webhooks_;
    boost::asio::any_io_executor workers_;
    dispatch_metrics& metrics_;
    engine::clock_source& clock_;
    engine::fast_random ids_; // call and request ids: unique, not secret
    std::chrono::milliseconds webhook_budget_;
};

} // namespace callgate::dispatch
