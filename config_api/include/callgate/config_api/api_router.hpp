#pragma once

#include "callgate/net/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::engine {
class call_log;
class config_service;
} // namespace callgate::engine

namespace callgate::config_api {

// Cluster mode: a request one node forwards to the others carries this
// header; they answer for themselves only.
inline constexpr std::string_view forwarded_header = "X-Callgate-Forwarded";

// One other node's answer to a forwarded request.
struct peer_reply {
    std::string node;
    unsigned status = 0; // 0: no answer in time
    std::string body;
};

// What the config API sees of the other nodes in cluster mode.
struct cluster_peers {
    // GET /cluster/nodes' body, {"items": [...]}.
    std::function<std::string()> nodes_json;
    // Sends GET `target` with the caller's API key and forwarded_header to
    // every other live node and gathers the answers (status 0 for one that
    // did not answer within its time).
    std::function<boost::asio::awaitable<std::vector<peer_reply>>(std::string target, std::string api_key)> ask;
};

struct api_router_options {
    bool allow_insecure_urls = false;
    // Set in cluster mode: /calls answers for every live node, /cluster/nodes lists them.
    std::optional<cluster_peers> cluster;
    // What /readyz answers; ready when unset.
    std::function<net::readiness_report()> readiness;
    // The Prometheus text for /metrics.
    std::function<std::string()> render_metrics;
};

// Who may call a route.
enum class route_access {
    open,       // no key: health, readiness, metrics, the API document
    any_key,    // an active key; the handler applies the scoped-key rules
    admin_only, // an admin key; a scoped key gets 403 before the body is read
};

// One route as declared in the router's table.
struct route_spec {
    std::string_view method; // "GET"
    std::string_view path;   // "/identities/{agent_handle}"
    route_access access;
};

// The config API: routes, authentication, validation and error bodies of
// config-api.md, over the engine's config service.
//
// handle() runs on the connection's I/O thread and never blocks on disk: reads
// that miss the caches run on `workers`, writes go to the store's commit thread.
class api_router {
public:
    api_router(engine::config_service& service, engine::call_log& calls, boost::asio::any_io_executor workers,
               api_router_options options);

    boost::asio::awaitable<net::http_response> handle(net::http_request& request);

    // Every method and path served (without the /api/v1 prefixes), in the
    // route table's order: dispatch, 405 and its Allow header come from the
    // same table.
    static std::vector<route_spec> routes();
    // The OpenAPI 3.1 document served at /openapi.json.
    static const std::string& openapi_document();

private:
    engine::config_service& service_;
    engine::call_log& calls_;
    boost::asio::any_io_executor workers_;
    api_router_options options_;
};

} // namespace callgate::config_api
