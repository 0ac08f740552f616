#include "server.hpp"

#include "build_info.hpp"
#include "cluster_peers.hpp"
#include "server_metrics.hpp"
#include "edge_token_file.hpp"
#include "etcd_settings.hpp"
#include "service_notify.hpp"
#include "shutdown_signals.hpp"

#include "callgate/cluster/replicated_store.hpp"
#include "callgate/cluster/tools.hpp"
#include "callgate/config_api/api_router.hpp"
#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/edge_router.hpp"
#include "callgate/dispatch/media_bridge.hpp"
#include "callgate/dispatch/webhook_client.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/metrics.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/net/http_server.hpp"
#include "callgate/net/log.hpp"
#include "callgate/net/outbound_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace callgate::app {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using net::log;
using net::log_level;

namespace {

int fail_usage(const std::string& message)
{
    std::fprintf(stderr, "callgate: %s\n", message.c_str());
    return 2;
}

// Creates the data directory if needed and checks that it is a writable directory.
bool prepare_data_dir(const std::string& dir, std::string& error)
{
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec) {
            error = "cannot create data dir " + dir + ": " + ec.message();
            return false;
        }
    }
    if (!fs::is_directory(dir, ec)) {
        error = "data dir " + dir + " is not a directory";
        return false;
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        error = "data dir " + dir + " is not writable: " + std::strerror(errno);
        return false;
    }
    return true;
}

// Writes a file atomically (temp file, fsync, rename) with the given mode.
bool write_file_atomic(const std::string& path, const std::string& content, mode_t mode,
                       std::string& error)
{
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        error = "cannot write " + tmp + ": " + std::strerror(errno);
        return false;
    }
    ::fchmod(fd, mode);
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot write " + path + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

void raise_fd_limit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// Makes sure an admin key exists: CALLGATE_ADMIN_KEY if set, else a new one in admin.key.
// In cluster mode (`generate` false) only CALLGATE_ADMIN_KEY is registered
// here, so this node takes it at once; the shared store gets it (or a
// generated one) from bootstrap_cluster_admin_key.
bool bootstrap_admin_key(const std::string& data_dir, bool generate, engine::clock_source& clock,
                         engine::random_source& random, std::string& error)
{
    std::string keys_path = data_dir + "/admin_keys";
    if (const char* given = std::getenv("CALLGATE_ADMIN_KEY"); given != nullptr && *given != '\0') {
        if (std::strlen(given) < 16) {
            error = "CALLGATE_ADMIN_KEY must be at least 16 characters";
            return false;
        }
        if (!engine::config_service::add_admin_key(keys_path, given, clock, random, error))
            return false;
        log(log_level::info, "admin_key_registered", "Registered the admin key from CALLGATE_ADMIN_KEY",
            {{"source", "CALLGATE_ADMIN_KEY"}});
        return true;
    }
    if (!generate)
        return true;
    engine::admin_key_file existing(keys_path);
    if (!existing.reload_if_changed(error))
        return false;
    if (existing.size() > 0)
        return true;
    std::string key = engine::generate_api_key(random);
    std::string key_file = data_dir + "/admin.key";
    if (!write_file_atomic(key_file, key + "\n", 0600, error))
        return false;
    if (!engine::config_service::add_admin_key(keys_path, key, clock, random, error))
        return false;
    log(log_level::info, "admin_key_created", "Created an admin key and wrote it to a file", {{"file", key_file}});
    return true;
}

// The accepted edge tokens: from --edge-token-file, else <data-dir>/edge.token
// (created with a random token on first start, mode 0600).
bool load_edge_tokens(const serve_options& options, engine::random_source& random,
                      std::vector<std::string>& tokens, std::string& error)
{
    std::string path = options.edge_token_file;
    if (path.empty()) {
        path = options.data_dir + "/edge.token";
        if (!fs::exists(path)) {
            std::string token = "et_" + engine::generate_api_key(random).substr(3);
            if (!write_file_atomic(path, token + "\n", 0600, error))
                return false;
            log(log_level::info, "edge_token_created", "Created an edge token and wrote it to a file", {{"file", path}});
        }
    }
    return read_edge_token_file(path, tokens, error);
}

// The etcd client's options from the flags; requests counted in `metrics` if given.
net::etcd_client_options etcd_options(const serve_options& options, server_metrics* metrics)
{
    net::etcd_client_options o = etcd_settings(options);
    if (metrics)
        o.on_request = [metrics](std::string_view op, net::etcd_errc outcome) {
            std::lock_guard lock(metrics->etcd_requests_mutex);
            ++metrics->etcd_requests[{std::string(op), std::string(net::to_string(outcome))}];
        };
    return o;
}

// Cluster mode: until the shared store holds the admin key this node needs
// (CALLGATE_ADMIN_KEY's, or — when none exists anywhere — one this node
// generates and writes to <data-dir>/admin.key), tries again every second.
void bootstrap_cluster_admin_key(engine::config_service& service, const std::string& data_dir,
                                 const std::function<bool(std::chrono::milliseconds)>& pause)
{
    std::optional<std::string> given;
    if (const char* env = std::getenv("CALLGATE_ADMIN_KEY"); env != nullptr && *env != '\0')
        given = env;
    do {
        std::promise<engine::config_result<std::string>> done;
        auto future = done.get_future();
        service.bootstrap_admin_key(given, [&done](engine::config_result<std::string> r) { done.set_value(std::move(r)); });
        auto result = future.get();
        if (result.ok()) {
            if (!result.value.empty()) {
                std::string error;
                if (!write_file_atomic(data_dir + "/admin.key", result.value + "\n", 0600, error))
                    log(log_level::error, "admin_key_file_failed", "Could not write the generated admin key to its file",
                        {{"error", error}});
                else
                    log(log_level::info, "admin_key_created", "Created an admin key in etcd and wrote it to a file",
                        {{"file", data_dir + "/admin.key"}, {"store", "etcd"}});
            } else if (given) {
                log(log_level::info, "admin_key_registered", "Registered the admin key from CALLGATE_ADMIN_KEY in etcd",
                    {{"source", "CALLGATE_ADMIN_KEY"}, {"store", "etcd"}});
            }
            return;
        }
        log(log_level::warn, "admin_key_bootstrap_retry", "The config store is unavailable; will retry the admin key in 1 s",
            {{"reason", "config store unavailable"}});
    } while (pause(std::chrono::seconds(1)));
}

// A bound address other machines can dial: a wildcard host becomes this host's name.
std::string reachable_address(const std::string& bound)
{
    for (std::string_view wildcard : {"0.0.0.0:", "[::]:"})
        if (bound.rfind(wildcard, 0) == 0) {
            char host[256] = {};
            if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0')
                return host + bound.substr(wildcard.size() - 1);
        }
    return bound;
}

std::string node_name(const serve_options& options)
{
    if (!options.node_name.empty())
        return options.node_name;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        return "callgate";
    return host;
}

// Wraps a listener's handler: while the cluster node is not ready, every
// path but `open` answers 503 {"detail": "Not ready"}.
net::http_handler not_ready_gate(net::http_handler inner, const cluster::replicated_store* cluster,
                                 std::vector<std::string> open)
{
    return [inner = std::move(inner), cluster, open = std::move(open)](
               net::http_request& request) -> asio::awaitable<net::http_response> {
        if (!cluster->status().ready) {
            auto path = request.target().substr(0, request.target().find('?'));
            if (std::find(open.begin(), open.end(), path) == open.end())
                co_return net::json_error(503, "Not ready");
        }
        co_return co_await inner(request);
    };
}

// The drain after SIGTERM/SIGINT, as named steps: /readyz turns 503 and every
// reply closes its connection; the listeners keep serving for `delay` (a
// second signal ends it early) so load balancers move away; then they stop
// accepting, bridged calls get stop (engine_shutdown), and requests in flight
// get up to 8 s to finish.
void drain_listeners(std::atomic<int>& state, net::http_server& api, net::http_server& edge,
                     dispatch::media_bridge& bridge, shutdown_signals& signals, const char* signal_name,
                     std::chrono::milliseconds delay)
{
    state.store(2); // readyz: 503 {"status":"draining"}
    api.stop_keep_alive();
    edge.stop_keep_alive();
    notify_stopping("draining");
    log(log_level::info, "draining", "Draining: /readyz answers 503 and keep-alive is off",
        {{"signal", signal_name}, {"shutdown_delay_ms", delay.count()}});
    if (!signals.wait_for(delay))
        log(log_level::info, "shutdown_delay_cut", "A second signal cut the shutdown delay short",
            {{"reason", "second signal"}});

    api.drain();
    edge.drain();
    bridge.shutdown(); // every bridged call gets stop (engine_shutdown)
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    if (!api.wait_idle(deadline) || !edge.wait_idle(deadline))
        log(log_level::warn, "drain_timeout", "Connections were still open when the drain's time ran out",
            {{"connections", api.active_connections() + edge.active_connections()}});
}

} // namespace

int create_admin_key(const serve_options& options)
{
    std::string error;
    engine::system_clock_source clock;
    engine::crypto_random random;
    std::string key = engine::generate_api_key(random);
    if (options.cluster()) {
        try {
            if (!cluster::register_admin_key(etcd_options(options, nullptr), options.etcd_prefix,
                                             engine::config_service::admin_key_record(key, clock, random), error)) {
                std::fprintf(stderr, "callgate: %s\n", error.c_str());
                return 1;
            }
        } catch (const std::exception& e) {
            return fail_usage(std::string("etcd: ") + e.what());
        }
        std::printf("%s\n", key.c_str());
        return 0;
    }
    const auto& data_dir = options.data_dir;
    if (!prepare_data_dir(data_dir, error))
        return fail_usage(error);
    if (!engine::config_service::add_admin_key(data_dir + "/admin_keys", key, clock, random, error))
        return fail_usage(error);
    std::printf("%s\n", key.c_str());
    return 0;
}

int cluster_import(const serve_options& options)
{
    if (!options.cluster())
        return fail_usage("cluster import needs --etcd-endpoints");
    std::string error;
    engine::store_options store_options;
    store_options.on_log = [](bool is_error, std::string_view message) {
        if (is_error)
            log(log_level::error, "store", message);
    };
    auto db = engine::store::open(options.data_dir + "/db", store_options, error);
    if (!db)
        return fail_usage("cannot open store in " + options.data_dir + ": " + error);
    engine::admin_key_file admin_file(options.data_dir + "/admin_keys");
    if (!admin_file.reload_if_changed(error))
        return fail_usage(error);
    std::vector<engine::api_key_record> admin_keys;
    for (const auto& record : admin_file.all())
        admin_keys.push_back(*record);
    cluster::import_report report;
    bool ok = false;
    try {
        ok = cluster::import_store(
            *db, admin_keys, etcd_options(options, nullptr), options.etcd_prefix,
            [](std::size_t done, std::size_t total) {
                std::fprintf(stderr, "callgate: imported %zu of %zu records\n", done, total);
            },
            report, error);
    } catch (const std::exception& e) {
        error = std::string("etcd: ") + e.what();
    }
    db->close();
    if (!ok) {
        std::fprintf(stderr, "callgate: %s%s\n", error.c_str(),
                     report.refused ? " (nothing was written)" : "");
        return 1;
    }
    std::printf("imported %zu records from %s into %s in %zu transactions (etcd revision %lld)\n", report.records,
                options.data_dir.c_str(), options.etcd_prefix.c_str(), report.transactions,
                static_cast<long long>(report.revision));
    return 0;
}

int run_server(const serve_options& options)
{
    net::log_level level = log_level::info;
    net::parse_log_level(options.log_level, level);
    net::configure_logging(level, options.log_format == "json");

    // The data dir holds signing keys and key hashes: nothing in it is for
    // other users (RocksDB creates its files with the process umask).
    ::umask(0077);
    std::string error;
    if (!prepare_data_dir(options.data_dir, error))
        return fail_usage(error);
    ::chmod((options.data_dir + "/db").c_str(), 0700); // a store made before this rule
    raise_fd_limit();
    ::unlink((options.data_dir + "/listen.json").c_str());

    engine::system_clock_source clock;
    engine::crypto_random random;
    std::vector<std::string_view> api_routes, edge_patterns;
    for (const auto& route : config_api::api_router::routes())
        api_routes.push_back(route.path);
    for (const auto& route : dispatch::edge_router::routes())
        edge_patterns.push_back(route.path);
    server_metrics metrics(api_routes, edge_patterns);

    engine::store_options store_options;
    store_options.memory_bytes = static_cast<std::size_t>(options.store_memory);
    store_options.min_free_disk_bytes = options.min_free_disk;
    store_options.on_log = [](bool error, std::string_view message) {
        log(error ? log_level::error : log_level::info, "store", message);
    };
    store_options.on_group_commit = [&metrics](double seconds, std::size_t requests) {
        metrics.store_write.observe(seconds);
        metrics.store_writes.inc(requests);
    };
    std::unique_ptr<engine::store> db = engine::store::open(options.data_dir + "/db", store_options, error);
    if (!db)
        return fail_usage("cannot open store in " + options.data_dir + ": " + error);
    // Cluster mode: etcd holds the config, the local store is this node's copy.
    std::atomic<engine::config_service*> service_ptr{nullptr};
    cluster::replicated_store* cluster = nullptr;
    if (options.cluster()) {
        cluster::replicated_store_options c;
        c.etcd = etcd_options(options, &metrics);
        c.prefix = options.etcd_prefix;
        c.node_name = node_name(options);
        c.on_applied = [&service_ptr](engine::column column, std::string_view key) {
            if (auto* s = service_ptr.load())
                s->on_applied(column, key);
        };
        c.on_reloaded = [&service_ptr] {
            if (auto* s = service_ptr.load())
                s->on_reloaded();
        };
        c.on_apply_lag = [&metrics](double seconds) { metrics.apply_lag.observe(seconds); };
        try {
            auto replicated = cluster::replicated_store::start(std::move(db), std::move(c));
            cluster = replicated.get();
            db = std::move(replicated);
        } catch (const std::exception& e) {
            return fail_usage(std::string("etcd: ") + e.what());
        }
        log(log_level::info, "cluster_mode", "Cluster mode: the config lives in etcd",
            {{"node", node_name(options)}, {"prefix", options.etcd_prefix}, {"endpoints", options.etcd_endpoints.size()}});
    }
    if (!bootstrap_admin_key(options.data_dir, !options.cluster(), clock, random, error))
        return fail_usage(error);

    unsigned threads = options.threads != 0 ? options.threads
                                            : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<asio::io_context*> context_ptrs;
    for (unsigned i = 0; i < threads; ++i) {
        contexts.push_back(std::make_unique<asio::io_context>(1));
        context_ptrs.push_back(contexts.back().get());
    }
    asio::thread_pool workers(std::max(2u, threads));

    engine::config_service service(*db, clock, random, options.data_dir + "/admin_keys",
                                   options.cache_entries);
    service_ptr.store(&service);
    if (cluster)
        service.on_reloaded(); // nothing the applier changed before now can be cached, but be sure
    // A data dir from before the two-key call record layout is converted here, once.
    auto convert_started = std::chrono::steady_clock::now();
    std::size_t convert_logged = 0;
    bool converting = false;
    engine::call_log calls(*db, clock, [&](std::size_t moved, bool finished) {
        if (!finished && (!converting || moved >= convert_logged + 100'000)) {
            log(log_level::info, "call_records_converting",
                "Converting call records to the current layout (once, after an upgrade)", {{"moved", moved}});
            converting = true;
            convert_logged = moved;
        } else if (finished && converting) {
            std::chrono::duration<double> took = std::chrono::steady_clock::now() - convert_started;
            log(log_level::info, "call_records_converted", "Converted call records to the current layout",
                {{"moved", moved}, {"seconds", took.count()}});
        }
    });

    std::vector<std::string> edge_tokens;
    if (!load_edge_tokens(options, random, edge_tokens, error))
        return fail_usage(error);
    net::outbound_options outbound;
    outbound.ca_file = options.ca_file;
    outbound.allow_private_destinations = options.allow_private_destinations;
    outbound.allow_insecure = options.allow_insecure_urls;
    outbound.connect_timeout = std::chrono::milliseconds(options.webhook_connect_timeout_ms);
    outbound.max_in_flight_per_origin = static_cast<std::size_t>(options.webhook_max_in_flight);
    outbound.breaker_failures = static_cast<int>(options.webhook_breaker_failures);
    outbound.breaker_open_for = std::chrono::milliseconds(options.webhook_breaker_open_ms);
    outbound.user_agent = std::string("callgate/") + CALLGATE_VERSION;
    std::unique_ptr<net::outbound_client> outbound_client;
    try {
        outbound_client = std::make_unique<net::outbound_client>(outbound);
    } catch (const std::exception& e) {
        return fail_usage(e.what());
    }
    dispatch::dispatch_metrics dispatch_metrics(std::chrono::milliseconds(options.webhook_timeout_ms));
    dispatch::webhook_client webhooks(*outbound_client, clock, random, dispatch_metrics, options.allow_insecure_urls);
    dispatch::call_decider decider(service, calls, webhooks, workers.get_executor(), dispatch_metrics, clock,
                                   std::chrono::milliseconds(options.webhook_timeout_ms));

    std::atomic<int> state{0}; // 0 starting, 1 ready, 2 draining
    auto readiness = [&state, &db, cluster] {
        switch (state.load()) {
        case 1: {
            if (cluster) {
                auto s = cluster->status();
                if (!s.ready) {
                    std::string body = s.importing ? "{\"status\":\"starting\",\"import\":\"running\"}"
                                       : s.etcd_up ? "{\"status\":\"starting\"}"
                                                   : "{\"status\":\"starting\",\"etcd\":\"unreachable\"}";
                    return net::readiness_report{false, std::move(body)};
                }
                if (!s.etcd_up)
                    return net::readiness_report{true, "{\"status\":\"degraded\",\"etcd\":\"unreachable\",\"revision\":" +
                                                           std::to_string(s.applied_revision) + "}"};
            }
            auto health = db->health();
            if (health == engine::store_health::ok)
                return net::readiness_report{};
            // Still deciding calls from memory and the store's reads: ready, degraded.
            return net::readiness_report{
                true, "{\"status\":\"degraded\",\"store\":\"" + std::string(engine::to_string(health)) + "\"}"};
        }
        case 2: return net::readiness_report{false, "{\"status\":\"draining\"}"};
        default: return net::readiness_report{false, "{\"status\":\"starting\"}"};
        }
    };
    net::http_server* api_ptr = nullptr;
    net::http_server* edge_ptr = nullptr;
    config_api::api_router_options router_options;
    router_options.allow_insecure_urls = options.allow_insecure_urls;
    router_options.readiness = readiness;
    if (cluster) {
        try {
            router_options.cluster = make_cluster_peers(*cluster, options.ca_file);
        } catch (const std::exception& e) {
            return fail_usage(e.what());
        }
    }
    router_options.render_metrics = [&] {
        return render_metrics({metrics, service, *db, calls, *api_ptr, *edge_ptr, dispatch_metrics, cluster});
    };
    config_api::api_router router(service, calls, workers.get_executor(), router_options);
    dispatch::media_bridge_options bridge_options;
    bridge_options.max_call_duration = options.max_call_duration;
    dispatch::media_bridge bridge(decider, *outbound_client, dispatch_metrics, clock, bridge_options);
    dispatch::edge_router edge_routes(decider, &bridge, clock,
                                      {edge_tokens, readiness, router_options.render_metrics});

    auto listener_options = [&](std::string name, std::string listen) {
        net::http_server_options o;
        o.name = std::move(name);
        o.listen = std::move(listen);
        o.read_timeout = std::chrono::milliseconds(options.read_timeout_ms);
        o.idle_timeout = std::chrono::milliseconds(options.idle_timeout_ms);
        o.head_paths = {"/healthz", "/readyz"}; // probes that want no body
        o.access_log = options.access_log;
        o.on_request = [&metrics](const net::request_summary& request) { metrics.observe_request(request); };
        if (!options.tls_cert.empty())
            o.tls = net::tls_files{options.tls_cert, options.tls_key};
        return o;
    };
    net::http_handler api_handler = [&router](net::http_request& request) { return router.handle(request); };
    net::http_handler edge_handler = [&edge_routes](net::http_request& request) { return edge_routes.handle(request); };
    if (cluster) {
        // Until the local copy has caught up, only health, readiness, metrics
        // and the API description answer; the rest is 503 "Not ready".
        api_handler = not_ready_gate(std::move(api_handler), cluster, {"/healthz", "/readyz", "/metrics", "/openapi.json"});
        edge_handler = not_ready_gate(std::move(edge_handler), cluster, {"/healthz", "/readyz", "/metrics", "/openapi.json"});
    }
    net::http_server api(context_ptrs, listener_options("api", options.api_listen), std::move(api_handler));
    auto edge_options = listener_options("edge", options.edge_listen);
    // Decisions the caches hold are answered straight from the edge's epoll sets.
    edge_options.answer_now = [&edge_routes, cluster](const net::ready_request& request, net::http_response& out) {
        if (cluster && !cluster->status().ready)
            return net::ready_result::declined; // not_ready_gate answers 503
        return edge_routes.answer_now(request, out);
    };
    net::http_server edge(context_ptrs, std::move(edge_options), std::move(edge_handler));
    api_ptr = &api;
    edge_ptr = &edge;
    if (!api.listen(error) || !edge.listen(error)) {
        std::fprintf(stderr, "callgate: %s\n", error.c_str());
        return 1;
    }
    api.start();
    edge.start();

    // Retention: drop call records older than --call-retention, checked every few minutes.
    std::mutex retention_mutex;
    std::condition_variable retention_wake;
    bool retention_stop = false;
    std::thread retention([&] {
        auto period = std::min<std::chrono::seconds>(std::chrono::seconds(300), options.call_retention / 10 + std::chrono::seconds(1));
        std::unique_lock lock(retention_mutex);
        while (!retention_stop) {
            lock.unlock();
            auto cutoff = clock.now_us() - std::chrono::duration_cast<std::chrono::microseconds>(options.call_retention).count();
            for (;;) {
                auto purged = calls.purge_older_than(cutoff);
                if (!purged.ok() || purged.value == 0)
                    break;
                log(log_level::info, "call_records_purged", "Purged call records older than --call-retention",
                    {{"count", purged.value}});
            }
            lock.lock();
            retention_wake.wait_for(lock, period, [&] { return retention_stop; });
        }
    });

    // Cluster mode: the admin key lives in etcd (the store's writer threads do the work).
    std::thread admin_bootstrap;
    if (cluster)
        admin_bootstrap = std::thread([&] {
            bootstrap_cluster_admin_key(service, options.data_dir, [&](std::chrono::milliseconds d) {
                std::unique_lock lock(retention_mutex);
                return !retention_wake.wait_for(lock, d, [&] { return retention_stop; });
            });
        });

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> io_threads;
    for (auto& ctx : contexts) {
        guards.push_back(asio::make_work_guard(*ctx));
        io_threads.emplace_back([&ctx] { ctx->run(); });
    }

    std::string api_address = api.local_address();
    std::string edge_address = edge.local_address();
    std::string scheme = options.tls_cert.empty() ? "http" : "https";
    if (cluster)
        cluster->advertise(!options.advertise_api.empty() ? options.advertise_api
                                                          : scheme + "://" + reachable_address(api_address));
    shutdown_signals signals; // before anyone learns we are ready: an early SIGTERM drains too
    // Ready before listen.json appears: whoever waits for the file finds /readyz at 200.
    state.store(1);
    if (!write_file_atomic(options.data_dir + "/listen.json",
                           "{\"api\": \"" + api_address + "\", \"edge\": \"" + edge_address + "\"}\n", 0644,
                           error)) {
        log(log_level::error, "listen_file_failed", "Could not write listen.json", {{"error", error}});
    }
    log(log_level::info, "ready", "Serving the config API and the edge",
        {{"api", scheme + "://" + api_address},
         {"edge", scheme + "://" + edge_address},
         {"threads", threads},
         {"data_dir", options.data_dir},
         {"version", build_version},
         {"commit", build_commit}});
    notify_ready("api " + scheme + "://" + api_address + ", edge " + scheme + "://" + edge_address);

    int received = signals.wait();
    drain_listeners(state, api, edge, bridge, signals, received == SIGTERM ? "SIGTERM" : "SIGINT",
                    options.shutdown_delay);
    {
        std::lock_guard lock(retention_mutex);
        retention_stop = true;
        retention_wake.notify_all();
    }
    retention.join();
    if (admin_bootstrap.joinable())
        admin_bootstrap.join();
    guards.clear();
    for (auto& ctx : contexts)
        ctx->stop();
    for (auto& t : io_threads)
        t.join();
    workers.join();
    calls.stop();
    db->close();
    ::unlink((options.data_dir + "/listen.json").c_str());
    log(log_level::info, "stopped", "Stopped after a clean drain");
    return 0;
}

} // namespace callgate::app
