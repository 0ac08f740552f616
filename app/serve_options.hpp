#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace callgate::app {

// Everything `callgate serve` can be told, from flags, CALLGATE_* variables
// and a config file.
struct serve_options {
    std::string config_file; // where settings were read from, if anywhere
    std::string data_dir = "./data";
    std::string api_listen = "127.0.0.1:8080";
    std::string edge_listen = "127.0.0.1:8081";
    unsigned threads = 0; // 0: one per core
    std::string tls_cert;
    std::string tls_key;
    std::string ca_file;
    std::string edge_token_file;
    std::size_t cache_entries = 1'000'000;
    std::int64_t webhook_timeout_ms = 4000;
    std::int64_t webhook_connect_timeout_ms = 1000;
    std::int64_t webhook_max_in_flight = 256; // per origin
    std::int64_t webhook_breaker_failures = 5;
    std::int64_t webhook_breaker_open_ms = 30'000;
    std::chrono::seconds max_call_duration{4 * 3600};
    std::chrono::seconds call_retention{30 * 24 * 3600};
    bool allow_insecure_urls = false;
    bool allow_private_destinations = false;
    std::string log_format = "text";
    std::string log_level = "info";
    bool access_log = true; // one info line per HTTP request on both listeners
    std::int64_t read_timeout_ms = 10'000;
    std::int64_t idle_timeout_ms = 60'000;
    std::uint64_t store_memory = 256ull << 20;  // RocksDB block cache + memtables, bytes
    std::uint64_t min_free_disk = 64ull << 20;  // writes refused below this free space, bytes
    // After SIGTERM/SIGINT, how long the listeners keep serving (with /readyz
    // at 503) before they stop accepting.
    std::chrono::milliseconds shutdown_delay{5000};

    // Cluster mode (on when etcd_endpoints is not empty): the config lives in etcd.
    std::vector<std::string> etcd_endpoints; // http:// or https:// client URLs
    std::string etcd_prefix = "/callgate/";
    std::string etcd_ca_file;
    std::string etcd_cert_file;
    std::string etcd_key_file;
    std::string etcd_username;
    std::string etcd_password;
    std::string node_name;     // empty: the host name
    std::string advertise_api; // empty: http(s)://<bound api address>
    bool cluster() const { return !etcd_endpoints.empty(); }
};

// Parses "512MiB", "64M", "1GiB", "1G", "4096" (bytes); K/M/G are powers of 1024.
std::optional<std::uint64_t> parse_size(const std::string& text);

// Parses `serve` arguments (after the word "serve"), the environment and the
// config file named by --config (or CALLGATE_CONFIG). Flags win over
// CALLGATE_<FLAG> variables, which win over the file, which wins over the
// defaults. Every value is checked here, and settings that conflict; nothing
// is touched on disk. Returns false with one line in `error` for an unknown
// flag or key (a key with its file and line), a missing value or a bad value.
bool parse_serve_options(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, serve_options& out,
                         std::string& error);

// Parses "90s", "15m", "4h", "30d" (or plain seconds).
std::optional<std::chrono::seconds> parse_duration(const std::string& text);
// Parses what parse_duration does, plus milliseconds: "250ms".
std::optional<std::chrono::milliseconds> parse_duration_ms(const std::string& text);

const char* serve_help();

} // namespace callgate::app
