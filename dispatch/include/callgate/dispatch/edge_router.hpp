#pragma once

#include "callgate/net/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::engine {
class clock_source;
}

namespace callgate::dispatch {

class call_decider;
class media_bridge;

struct edge_router_options {
    std::vector<std::string> tokens; // accepted X-Edge-Token values
    std::function<net::readiness_report()> readiness; // what /readyz answers; ready when unset
    std::function<std::string()> render_metrics;      // the Prometheus text for /metrics
};

// The edge listener's routes (edge-protocol.md): POST /v1/calls/decide,
// POST /v1/calls/{call_id}/status, the bridged WebSocket GET
// /v1/calls/stream and GET /metrics, behind X-Edge-Token (/metrics also takes
// it as "Authorization: Bearer <token>"); /healthz and /readyz without it.
// Every response names its route pattern (http_response::route).
class edge_router {
public:
    // `bridge` serves GET /v1/calls/stream; without one that route is 404.
    edge_router(call_decider& decider, media_bridge* bridge, engine::clock_source& clock,
                edge_router_options options);

    boost::asio::awaitable<net::http_response> handle(net::http_request& request);

    // Whether `token` is one of the configured edge tokens (constant time per token).
    bool token_allowed(std::string_view token) const;

    // Every route pattern handle() may name.
    static std::vector<std::string_view> routes();

private:
    std::string_view match_route(std::string_view path, std::string& call_id) const;
    boost::asio::awaitable<net::http_response> serve(net::http_request& request, std::string_view route,
                                                     std::string call_id);
    boost::asio::awaitable<net::http_response> decide(net::http_request& request);
    boost::asio::awaitable<net::http_response> update_status(net::http_request& request, std::string call_id);

    call_decider& decider_;
    media_bridge* bridge_;
    engine::clock_source& clock_;
    edge_router_options options_;
};

} // namespace callgate::dispatch
