#include "server_metrics.hpp"

#include "build_info.hpp"
#include "process_metrics.hpp"

#include "callgate/cluster/replicated_store.hpp"
#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/net/http_server.hpp"

#include <chrono>

namespace callgate::app {

namespace {

using engine::metric_type;

// Every family this file renders, with its help text.
constexpr engine::metric_family build_info{"callgate_build_info", metric_type::gauge,
                                           "1, labelled with the version and git commit of this binary."};
constexpr engine::metric_family http_requests_total{"callgate_http_requests_total", metric_type::counter,
                                                    "HTTP responses sent, by listener and status code."};
constexpr engine::metric_family http_request_duration_seconds{
    "callgate_http_request_duration_seconds", metric_type::histogram,
    "From a request's first byte to its response written, by listener and route pattern."};
constexpr engine::metric_family store_write_duration_seconds{
    "callgate_store_write_duration_seconds", metric_type::histogram,
    "Time to write and sync one group commit of config writes."};
constexpr engine::metric_family store_writes_total{"callgate_store_writes_total", metric_type::counter,
                                                   "Config writes committed (several may share one sync)."};
constexpr engine::metric_family store_health{
    "callgate_store_health", metric_type::gauge,
    "1 for the store's current state: ok (writable), full (free disk under --min-free-disk), read_only (file "
    "system), failed (reopening)."};
constexpr engine::metric_family store_memory_bytes{
    "callgate_store_memory_bytes", metric_type::gauge,
    "RocksDB memory in the --store-memory budget: blocks, index and filter blocks, memtables."};
constexpr engine::metric_family call_records_dropped_total{
    "callgate_call_records_dropped_total", metric_type::counter,
    "Call records not stored: refused by a full or read-only disk, or over the queue bound."};
constexpr engine::metric_family cache_hits_total{"callgate_cache_hits_total", metric_type::counter,
                                                 "Identity and number cache hits."};
constexpr engine::metric_family cache_misses_total{"callgate_cache_misses_total", metric_type::counter,
                                                   "Identity and number cache misses."};
constexpr engine::metric_family cache_entries{"callgate_cache_entries", metric_type::gauge,
                                              "Entries in the identity and number caches."};
// Cluster mode.
constexpr engine::metric_family etcd_up{"callgate_etcd_up", metric_type::gauge,
                                        "1 while etcd answers this node (checked every second)."};
constexpr engine::metric_family etcd_applied_revision{
    "callgate_etcd_applied_revision", metric_type::gauge,
    "The etcd revision this node's local copy of the config reflects."};
constexpr engine::metric_family etcd_apply_lag_seconds{
    "callgate_etcd_apply_lag_seconds", metric_type::histogram,
    "From a config change's commit (its writer's clock) to its apply on this node."};
constexpr engine::metric_family cluster_nodes{"callgate_cluster_nodes", metric_type::gauge,
                                              "Live nodes in the registry (this one included), as last read."};
constexpr engine::metric_family etcd_requests_total{"callgate_etcd_requests_total", metric_type::counter,
                                                    "Requests to etcd, by operation and outcome."};

constexpr std::string_view unmatched_route = "unmatched";

// What cluster mode adds to /metrics.
void render_cluster_metrics(engine::metrics_writer& out, server_metrics& m, const cluster::replicated_store& cluster)
{
    auto s = cluster.status();
    out.family(etcd_up).sample(std::uint64_t{s.etcd_up ? 1u : 0u});
    out.family(etcd_applied_revision).sample(static_cast<std::uint64_t>(s.applied_revision));
    out.family(etcd_apply_lag_seconds).histogram_sample(m.apply_lag);
    out.family(cluster_nodes).sample(static_cast<std::uint64_t>(cluster.nodes().size()));
    out.family(etcd_requests_total);
    std::lock_guard lock(m.etcd_requests_mutex);
    for (const auto& [key, n] : m.etcd_requests)
        out.sample(n, {{"op", key.first}, {"outcome", key.second}});
}

} // namespace

route_durations::route_durations(std::string listener, const std::vector<std::string_view>& routes)
    : listener_(std::move(listener)), durations_(engine::histogram::bounds_up_to(1e-5, 10), routes.size() + 1)
{
    for (auto route : routes)
        if (index_.emplace(route, routes_.size()).second)
            routes_.push_back(route);
    index_.emplace(unmatched_route, routes_.size());
    routes_.push_back(unmatched_route);
}

void route_durations::observe(std::string_view route, double seconds)
{
    auto it = index_.find(route);
    durations_.observe(seconds, it != index_.end() ? it->second : routes_.size() - 1);
}

void route_durations::render(engine::metrics_writer& out) const
{
    for (std::size_t i = 0; i < routes_.size(); ++i)
        if (durations_.count(i) > 0)
            out.histogram_sample(durations_, i, {{"listener", listener_}, {"route", routes_[i]}});
}

server_metrics::server_metrics(const std::vector<std::string_view>& api_routes,
                               const std::vector<std::string_view>& edge_routes)
    : api_requests("api", api_routes), edge_requests("edge", edge_routes)
{
}

void server_metrics::observe_request(const net::request_summary& request)
{
    double seconds = std::chrono::duration<double>(request.duration).count();
    (request.listener == edge_requests.listener() ? edge_requests : api_requests).observe(request.route, seconds);
}

std::string render_metrics(const metrics_sources& sources)
{
    std::string text;
    text.reserve(32 * 1024);
    engine::metrics_writer out(text);
    out.family(build_info).sample(std::uint64_t{1}, {{"version", build_version}, {"commit", build_commit}});
    render_process_metrics(out);
    out.family(http_requests_total);
    for (const net::http_server* server : {&sources.api, &sources.edge}) {
        for (unsigned code = 100; code < 600; ++code) {
            if (auto n = server->responses_with_status(code); n > 0)
                out.sample(n, {{"listener", server->options().name}, {"code", std::to_string(code)}});
        }
    }
    out.family(http_request_duration_seconds);
    sources.server.api_requests.render(out);
    sources.server.edge_requests.render(out);
    sources.dispatch.render(out);
    out.family(store_write_duration_seconds).histogram_sample(sources.server.store_write);
    out.family(store_writes_total).sample(sources.server.store_writes.value());
    out.family(store_health);
    for (auto h : {engine::store_health::ok, engine::store_health::full, engine::store_health::read_only,
                   engine::store_health::failed})
        out.sample(std::uint64_t{sources.db.health() == h ? 1u : 0u}, {{"state", engine::to_string(h)}});
    out.family(store_memory_bytes).sample(static_cast<std::uint64_t>(sources.db.memory_usage()));
    out.family(call_records_dropped_total).sample(static_cast<std::uint64_t>(sources.calls.dropped()));
    auto stats = sources.service.stats();
    out.family(cache_hits_total).sample(static_cast<std::uint64_t>(stats.hits));
    out.family(cache_misses_total).sample(static_cast<std::uint64_t>(stats.misses));
    out.family(cache_entries).sample(static_cast<std::uint64_t>(stats.entries));
    if (sources.cluster)
        render_cluster_metrics(out, sources.server, *sources.cluster);
    return text;
}

} // namespace callgate::app
