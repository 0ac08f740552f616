#pragma once

#include "callgate/engine/metrics.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace callgate::cluster {
class replicated_store;
}
namespace callgate::dispatch {
struct dispatch_metrics;
}
namespace callgate::engine {
class call_log;
class config_service;
class store;
} // namespace callgate::engine
namespace callgate::net {
class http_server;
struct request_summary;
} // namespace callgate::net

namespace callgate::app {

// HTTP request durations of one listener, one histogram child per route
// pattern plus "unmatched". The routes are fixed at construction, so
// observe() is lock-free from any thread.
class route_durations {
public:
    route_durations(std::string listener, const std::vector<std::string_view>& routes);

    // A pattern not given at construction counts as "unmatched".
    void observe(std::string_view route, double seconds);
    void render(engine::metrics_writer& out) const;
    const std::string& listener() const { return listener_; }

private:
    std::string listener_;
    std::vector<std::string_view> routes_; // the last one is "unmatched"
    std::unordered_map<std::string_view, std::size_t> index_;
    engine::histogram durations_;
};

// What the server counts outside the modules, and /metrics' whole text.
struct server_metrics {
    server_metrics(const std::vector<std::string_view>& api_routes, const std::vector<std::string_view>& edge_routes);

    engine::histogram store_write{engine::histogram::latency_bounds()};
    engine::counter store_writes;
    route_durations api_requests;
    route_durations edge_requests;
    // Cluster mode.
    engine::histogram apply_lag{engine::histogram::latency_bounds()};
    std::mutex etcd_requests_mutex;
    std::map<std::pair<std::string, std::string>, std::uint64_t> etcd_requests; // (op, outcome) → count

    // For http_server_options::on_request. Any I/O thread.
    void observe_request(const net::request_summary& request);
};

// Everything /metrics shows; `cluster` only in cluster mode.
struct metrics_sources {
    server_metrics& server;
    const engine::config_service& service;
    const engine::store& db;
    const engine::call_log& calls;
    const net::http_server& api;
    const net::http_server& edge;
    const dispatch::dispatch_metrics& dispatch;
    const cluster::replicated_store* cluster;
};

// The Prometheus text of /metrics (both listeners serve the same).
std::string render_metrics(const metrics_sources& sources);

} // namespace callgate::app
