#include "server.hpp"

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
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
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
bool bootstrap_admin_key(const std::string& data_dir, engine::clock_source& clock,
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
        log(log_level::info, "admin_key_registered", {{"source", "CALLGATE_ADMIN_KEY"}});
        return true;
    }
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
    log(log_level::info, "admin_key_created", {{"file", key_file}});
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
            log(log_level::info, "edge_token_created", {{"file", path}});
        }
    }
    std::ifstream in(path);
    if (!in) {
        error = "cannot read edge token file " + path;
        return false;
    }
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.pop_back();
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#')
            continue;
        tokens.push_back(line.substr(first));
    }
    if (tokens.empty()) {
        error = "edge token file " + path + " holds no token";
        return false;
    }
    return true;
}

struct server_metrics {
    engine::histogram store_write{engine::histogram::latency_bounds()};
    engine::counter store_writes;
};

std::string render_metrics(const server_metrics& m, const engine::config_service& service,
                           const engine::store& db, const engine::call_log& calls,
                           const net::http_server& api, const net::http_server& edge,
                           const dispatch::dispatch_metrics& dispatch_metrics)
{
    std::string out;
    engine::render_header(out, "callgate_http_requests_total", "counter",
                          "HTTP responses sent, by listener and status code.");
    for (const net::http_server* server : {&api, &edge}) {
        for (unsigned code = 100; code < 600; ++code) {
            auto n = server->responses_with_status(code);
            if (n > 0)
                engine::render_sample(out, "callgate_http_requests_total",
                                      "listener=\"" + server->options().name + "\",code=\"" +
                                          std::to_string(code) + "\"",
                                      n);
        }
    }
    dispatch_metrics.render(out);
    engine::render_header(out, "callgate_store_write_duration_seconds", "histogram",
                          "Time to write and sync one group commit of config writes.");
    m.store_write.render(out, "callgate_store_write_duration_seconds", "");
    engine::render_header(out, "callgate_store_writes_total", "counter",
                          "Config writes committed (several may share one sync).");
    engine::render_sample(out, "callgate_store_writes_total", "", m.store_writes.value());
    engine::render_header(out, "callgate_store_health", "gauge",
                          "1 for the store's current state: ok (writable), full (free disk under "
                          "--min-free-disk), read_only (file system), failed (reopening).");
    for (auto h : {engine::store_health::ok, engine::store_health::full, engine::store_health::read_only,
                   engine::store_health::failed})
        engine::render_sample(out, "callgate_store_health", "state=\"" + std::string(engine::to_string(h)) + "\"",
                              db.health() == h ? 1 : 0);
    engine::render_header(out, "callgate_store_memory_bytes", "gauge",
                          "RocksDB memory in the --store-memory budget: blocks, index and filter blocks, memtables.");
    engine::render_sample(out, "callgate_store_memory_bytes", "", db.memory_usage());
    engine::render_header(out, "callgate_call_records_dropped_total", "counter",
                          "Call records not stored: refused by a full or read-only disk, or over the queue bound.");
    engine::render_sample(out, "callgate_call_records_dropped_total", "", calls.dropped());
    auto stats = service.stats();
    engine::render_header(out, "callgate_cache_hits_total", "counter", "Identity and number cache hits.");
    engine::render_sample(out, "callgate_cache_hits_total", "", stats.hits);
    engine::render_header(out, "callgate_cache_misses_total", "counter", "Identity and number cache misses.");
    engine::render_sample(out, "callgate_cache_misses_total", "", stats.misses);
    engine::render_header(out, "callgate_cache_entries", "gauge", "Entries in the identity and number caches.");
    engine::render_sample(out, "callgate_cache_entries", "", stats.entries);
    return out;
}

} // namespace

int create_admin_key(const std::string& data_dir)
{
    std::string error;
    if (!prepare_data_dir(data_dir, error))
        return fail_usage(error);
    engine::system_clock_source clock;
    engine::crypto_random random;
    std::string key = engine::generate_api_key(random);
    if (!engine::config_service::add_admin_key(data_dir + "/admin_keys", key, clock, random, error))
        return fail_usage(error);
    std::printf("%s\n", key.c_str());
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
    server_metrics metrics;

    engine::store_options store_options;
    store_options.memory_bytes = static_cast<std::size_t>(options.store_memory);
    store_options.min_free_disk_bytes = options.min_free_disk;
    store_options.on_log = [](bool error, std::string_view message) {
        log(error ? log_level::error : log_level::info, "store", {{"message", std::string(message)}});
    };
    store_options.on_group_commit = [&metrics](double seconds, std::size_t requests) {
        metrics.store_write.observe(seconds);
        metrics.store_writes.inc(requests);
    };
    auto db = engine::store::open(options.data_dir + "/db", store_options, error);
    if (!db)
        return fail_usage("cannot open store in " + options.data_dir + ": " + error);
    if (!bootstrap_admin_key(options.data_dir, clock, random, error))
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
    engine::call_log calls(*db, clock);

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
    dispatch::dispatch_metrics dispatch_metrics;
    dispatch::webhook_client webhooks(*outbound_client, clock, random, dispatch_metrics, options.allow_insecure_urls);
    dispatch::call_decider decider(service, calls, webhooks, workers.get_executor(), dispatch_metrics, clock,
                                   std::chrono::milliseconds(options.webhook_timeout_ms));

    std::atomic<int> state{0}; // 0 starting, 1 ready, 2 draining
    auto readiness = [&state, &db] {
        switch (state.load()) {
        case 1: {
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
    router_options.render_metrics = [&] {
        return render_metrics(metrics, service, *db, calls, *api_ptr, *edge_ptr, dispatch_metrics);
    };
    config_api::api_router router(service, calls, workers.get_executor(), router_options);
    dispatch::media_bridge_options bridge_options;
    bridge_options.max_call_duration = options.max_call_duration;
    dispatch::media_bridge bridge(decider, *outbound_client, dispatch_metrics, clock, bridge_options);
    dispatch::edge_router edge_routes(decider, &bridge, clock, {edge_tokens, readiness});

    auto listener_options = [&](std::string name, std::string listen) {
        net::http_server_options o;
        o.name = std::move(name);
        o.listen = std::move(listen);
        o.read_timeout = std::chrono::milliseconds(options.read_timeout_ms);
        o.idle_timeout = std::chrono::milliseconds(options.idle_timeout_ms);
        if (!options.tls_cert.empty())
            o.tls = net::tls_files{options.tls_cert, options.tls_key};
        return o;
    };
    net::http_server api(context_ptrs, listener_options("api", options.api_listen),
                         [&router](net::http_request& request) { return router.handle(request); });
    net::http_server edge(context_ptrs, listener_options("edge", options.edge_listen),
                          [&edge_routes](net::http_request& request) { return edge_routes.handle(request); });
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
                log(log_level::info, "call_records_purged", {{"count", std::to_string(purged.value)}});
            }
            lock.lock();
            retention_wake.wait_for(lock, period, [&] { return retention_stop; });
        }
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
    // SIGTERM and SIGINT are caught before listen.json appears: whoever stops
    // callgate as soon as it is ready gets a graceful shutdown, not the
    // default action (killed at once: no drain, queued call records lost).
    asio::io_context signals_context(1);
    asio::signal_set signals(signals_context, SIGTERM, SIGINT);
    int received = 0;
    signals.async_wait([&](const boost::system::error_code&, int signal) { received = signal; });

    // Ready before listen.json appears: whoever waits for the file finds /readyz at 200.
    state.store(1);
    if (!write_file_atomic(options.data_dir + "/listen.json",
                           "{\"api\": \"" + api_address + "\", \"edge\": \"" + edge_address + "\"}\n", 0644,
                           error)) {
        log(log_level::error, "listen_file_failed", {{"error", error}});
    }
    log(log_level::info, "ready",
        {{"api", scheme + "://" + api_address},
         {"edge", scheme + "://" + edge_address},
         {"threads", std::to_string(threads)},
         {"data_dir", options.data_dir}});

    signals_context.run();

    log(log_level::info, "draining", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
    state.store(2);
    api.drain();
    edge.drain();
    bridge.shutdown(); // every bridged call gets stop (engine_shutdown)
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    auto active = [&] { return api.active_connections() + edge.active_connections(); };
    while (active() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (active() > 0)
        log(log_level::warn, "drain_timeout", {{"connections", std::to_string(active())}});
    {
        std::lock_guard lock(retention_mutex);
        retention_stop = true;
        retention_wake.notify_all();
    }
    retention.join();
    guards.clear();
    for (auto& ctx : contexts)
        ctx->stop();
    for (auto& t : io_threads)
        t.join();
    workers.join();
    calls.stop();
    db->close();
    ::unlink((options.data_dir + "/listen.json").c_str());
    log(log_level::info, "stopped");
    return 0;
}

} // namespace callgate::app
