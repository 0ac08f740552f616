#pragma once

#include "callgate/net/http_server.hpp"
#include "callgate/net/route_table.hpp"

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

// Who may call an edge route.
enum class edge_access {
    open,       // no token: the probes and the API document
    edge_token, // a valid X-Edge-Token, checked after the path and method
};

// One edge route as declared in the router's table.
struct edge_route_spec {
    std::string_view method; // "POST"
    std::string_view path;   // "/v1/calls/{call_id}/status"
    edge_access access;
};

// The edge listener's routes (docs/edge-protocol.md): POST /v1/calls/decide,
// POST /v1/calls/{call_id}/status, the bridged WebSocket GET
// /v1/calls/stream and GET /metrics, behind X-Edge-Token (/metrics also takes
// it as "Authorization: Bearer <token>", as Prometheus sends it); /healthz,
// /readyz and /openapi.json without it. Every response names its route
// pattern (http_response::route) for the access log and metrics.
class edge_router {
public:
    // `bridge` serves GET /v1/calls/stream; without one that route is 404.
    edge_router(call_decider& decider, media_bridge* bridge, engine::clock_source& clock,
                edge_router_options options);

    boost::asio::awaitable<net::http_response> handle(net::http_request& request);

    // http_server_options::answer_now for the edge listener: a well-formed
    // POST /v1/calls/decide with a valid token whose decision the caches hold
    // (call_decider::try_decide) is answered in place. Other decide requests
    // (errors, cache misses, webhooks) are declined, and the connection comes
    // back after handle() answered them; any other route is `elsewhere`: a
    // connection carrying status updates or probes stays with handle(), as
    // before answer_now existed.
    net::ready_result answer_now(const net::ready_request& request, net::http_response& out);

    // Whether `token` is one of the configured edge tokens (constant time per token).
    bool token_allowed(std::string_view token) const;

    // Every method and path served, in the route table's order: dispatch, 405
    // and its Allow header come from the same table.
    static std::vector<edge_route_spec> routes();
    // The OpenAPI 3.1 document served at GET /openapi.json (dispatch/openapi.json).
    static const std::string& openapi_document();

private:
    struct route; // a row of the route table (edge_router.cpp)
    static const net::route_table<route>& table();

    // The checks after routing (405, the token) and the handler.
    boost::asio::awaitable<net::http_response> serve(net::http_request& request, net::route_lookup lookup,
                                                     const net::route_match<route>& match);

    // The handlers, one a route.
    boost::asio::awaitable<net::http_response> health(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> readiness(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> api_document(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> decide(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> update_status(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> stream(net::http_request& request, net::path_params params);
    boost::asio::awaitable<net::http_response> metrics(net::http_request& request, net::path_params params);

    call_decider& decider_;
    media_bridge* bridge_;
    engine::clock_source& clock_;
    edge_router_options options_;
};

} // namespace callgate::dispatch
