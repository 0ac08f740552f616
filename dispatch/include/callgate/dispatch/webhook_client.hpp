#pragma once

#include "callgate/dispatch/outcome.hpp"
#include "callgate/engine/records.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::engine {
class clock_source;
class random_source;
} // namespace callgate::engine

namespace callgate::net {
class outbound_client;
}

namespace callgate::dispatch {

struct dispatch_metrics;

// What a webhook and a client WebSocket are told about a call.
struct call_context {
    engine::uuid call_id;
    std::optional<std::string> local_phone_number; // the dialed number, or the identity's
    std::string remote_phone_number;
    std::int64_t created_at_us = 0;
};

struct webhook_outcome {
    outcome kind = outcome::webhook_error;
    std::optional<std::string> client_websocket_url; // for an answer
    std::string detail;                              // for logs
};

// Asks an identity's incoming-call webhook what to do with a call
// (dispatch.md): the flat call payload, Inkbox and Standard Webhooks
// signatures when the identity has a signing key, and the reply read as
// {action, client_websocket_url}; everything else is a reject with a reason.
class webhook_client {
public:
    webhook_client(net::outbound_client& http, engine::clock_source& clock, engine::random_source& random,
                   dispatch_metrics& metrics, bool allow_insecure_urls);

    // Never throws; completes by `deadline` (the decision budget).
    boost::asio::awaitable<webhook_outcome> ask(engine::snapshot_ptr identity, call_context call,
                                                std::chrono::steady_clock::time_point deadline);

    // The webhook body for a call (Inkbox's incoming-call shape, every key present).
    static std::string payload(const engine::identity_snapshot& identity, const call_context& call);
    // Reads the body of a webhook's HTTP 200 reply: an answer_webhook with the
    // client WebSocket URL (the reply's, checked, else `configured_websocket_url`),
    // a webhook_rejected, or a webhook_error with the reason in `detail`.
    static webhook_outcome read_reply(std::string_view body,
                                      const std::optional<std::string>& configured_websocket_url,
                                      bool allow_insecure_urls);
    // The request headers, signed with the identity's key if it has one.
    std::vector<std::pair<std::string, std::string>> headers(const engine::identity_snapshot& identity,
                                                             const std::string& body);

private:
    net::outbound_client& http_;
    engine::clock_source& clock_;
    engine::random_source& random_;
    dispatch_metrics& metrics_;
    bool allow_insecure_urls_;
};

} // namespace callgate::dispatch
