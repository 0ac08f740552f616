#pragma once

#include "callgate/net/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace callgate::engine {
class clock_source;
}

namespace callgate::dispatch {

class call_decider;

struct edge_router_options {
    std::vector<std::string> tokens; // accepted X-Edge-Token values
    std::function<std::string()> readiness;
};

// The edge listener's HTTP routes (edge-protocol.md, section 1):
// POST /v1/calls/decide and POST /v1/calls/{call_id}/status, behind
// X-Edge-Token; /healthz and /readyz without it.
class edge_router {
public:
    edge_router(call_decider& decider, engine::clock_source& clock, edge_router_options options);

    boost::asio::awaitable<net::http_response> handle(net::http_request& request);

    // Whether `token` is one of the configured edge tokens (constant time per token).
    bool token_allowed(std::string_view token) const;

private:
    boost::asio::awaitable<net::http_response> decide(net::http_request& request);
    boost::asio::awaitable<net::http_response> update_status(net::http_request& request, std::string call_id);

    call_decider& decider_;
    engine::clock_source& clock_;
    edge_router_options options_;
};

} // namespace callgate::dispatch
