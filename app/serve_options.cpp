#include "serve_options.hpp"

#include "config_file.hpp"

#include "callgate/codec/url.hpp"
#include "callgate/net/http_server.hpp"

#include <cctype>
#include <charconv>
#include <functional>

namespace callgate::app {
namespace {

bool parse_int(const std::string& text, std::int64_t min, std::int64_t max, std::int64_t& out)
{
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || v < min || v > max)
        return false;
    out = v;
    return true;
}

bool parse_bool(const std::string& text, bool& out)
{
    if (text == "1" || text == "true" || text == "yes" || text == "on") {
        out = true;
        return true;
    }
    if (text == "0" || text == "false" || text == "no" || text == "off" || text.empty()) {
        out = false;
        return true;
    }
    return false;
}

// An http:// or https:// URL (RFC 3986, codec::parse_url's rules). An etcd
// `endpoint` names its port and has no path.
bool is_http_url(const std::string& text, bool endpoint)
{
    codec::url_parts url;
    return codec::parse_url(text, url) == codec::url_syntax::ok && (url.scheme == "http" || url.scheme == "https") &&
           (!endpoint || (url.port != 0 && url.target == "/"));
}

struct flag_spec {
    const char* name;
    bool is_bool;
    std::function<bool(serve_options&, const std::string&)> apply;
    const char* expects;
};

std::vector<flag_spec> flag_specs()
{
    auto text = [](std::string serve_options::*field) {
        return [field](serve_options& o, const std::string& v) {
            if (v.empty())
                return false;
            o.*field = v;
            return true;
        };
    };
    auto integer = [](std::int64_t serve_options::*field, std::int64_t min, std::int64_t max) {
        return [=](serve_options& o, const std::string& v) { return parse_int(v, min, max, o.*field); };
    };
    auto duration = [](std::chrono::seconds serve_options::*field) {
        return [field](serve_options& o, const std::string& v) {
            auto d = parse_duration(v);
            if (!d || d->count() <= 0)
                return false;
            o.*field = *d;
            return true;
        };
    };
    auto size = [](std::uint64_t serve_options::*field, std::uint64_t min) {
        return [=](serve_options& o, const std::string& v) {
            auto n = parse_size(v);
            if (!n || *n < min)
                return false;
            o.*field = *n;
            return true;
        };
    };
    // host:port, [v6]:port; the port 0 to 65535 (0 picks one). Checked here so
    // that a bad address exits 2 before anything is written.
    auto listen = [](std::string serve_options::*field) {
        return [field](serve_options& o, const std::string& v) {
            // The server's own parser, plus: an IPv6 host needs brackets.
            std::string host;
            std::uint16_t port = 0;
            if (!net::split_host_port(v, host, port) || host.empty() ||
                (v.front() != '[' && host.find(':') != std::string::npos))
                return false;
            o.*field = v;
            return true;
        };
    };
    auto boolean = [](bool serve_options::*field) {
        return [field](serve_options& o, const std::string& v) { return parse_bool(v, o.*field); };
    };
    return {
        {"config", false, text(&serve_options::config_file), "a config file path"},
        {"data-dir", false, text(&serve_options::data_dir), "a directory path"},
        {"api-listen", false, listen(&serve_options::api_listen), "host:port with a port from 0 to 65535"},
        {"edge-listen", false, listen(&serve_options::edge_listen), "host:port with a port from 0 to 65535"},
        {"threads", false,
         [](serve_options& o, const std::string& v) {
             std::int64_t n;
             if (!parse_int(v, 1, 1024, n))
                 return false;
             o.threads = static_cast<unsigned>(n);
             return true;
         },
         "a number from 1 to 1024"},
        {"tls-cert", false, text(&serve_options::tls_cert), "a PEM file"},
        {"tls-key", false, text(&serve_options::tls_key), "a PEM file"},
        {"ca-file", false, text(&serve_options::ca_file), "a PEM file"},
        {"edge-token-file", false, text(&serve_options::edge_token_file), "a file path"},
        {"cache-entries", false,
         [](serve_options& o, const std::string& v) {
             std::int64_t n;
             if (!parse_int(v, 1, 1'000'000'000, n))
                 return false;
             o.cache_entries = static_cast<std::size_t>(n);
             return true;
         },
         "a number from 1 to 1000000000"},
        {"webhook-timeout-ms", false, integer(&serve_options::webhook_timeout_ms, 100, 60'000),
         "milliseconds from 100 to 60000"},
        {"webhook-connect-timeout-ms", false, integer(&serve_options::webhook_connect_timeout_ms, 10, 60'000),
         "milliseconds from 10 to 60000"},
        {"webhook-max-in-flight", false, integer(&serve_options::webhook_max_in_flight, 1, 1'000'000),
         "a number from 1 to 1000000"},
        {"webhook-breaker-failures", false, integer(&serve_options::webhook_breaker_failures, 1, 1000),
         "a number from 1 to 1000"},
        {"webhook-breaker-open-ms", false, integer(&serve_options::webhook_breaker_open_ms, 10, 3'600'000),
         "milliseconds from 10 to 3600000"},
        {"max-call-duration", false, duration(&serve_options::max_call_duration),
         "a duration such as 4h, 90m or 3600s"},
        {"call-retention", false, duration(&serve_options::call_retention),
         "a duration such as 30d or 12h"},
        {"allow-insecure-urls", true, boolean(&serve_options::allow_insecure_urls), "true or false"},
        {"allow-private-destinations", true, boolean(&serve_options::allow_private_destinations),
         "true or false"},
        {"log-format", false,
         [](serve_options& o, const std::string& v) {
             if (v != "text" && v != "json")
                 return false;
             o.log_format = v;
             return true;
         },
         "text or json"},
        {"log-level", false,
         [](serve_options& o, const std::string& v) {
             if (v != "debug" && v != "info" && v != "warn" && v != "error")
                 return false;
             o.log_level = v;
             return true;
         },
         "debug, info, warn or error"},
        {"access-log", false,
         [](serve_options& o, const std::string& v) {
             if (v != "on" && v != "off")
                 return false;
             o.access_log = v == "on";
             return true;
         },
         "on or off"},
        {"store-memory", false, size(&serve_options::store_memory, 8ull << 20),
         "a size of at least 8MiB, such as 256MiB or 1GiB"},
        {"min-free-disk", false, size(&serve_options::min_free_disk, 0), "a size such as 64MiB or 1GiB"},
        {"etcd-endpoints", false,
         [](serve_options& o, const std::string& v) {
             std::vector<std::string> endpoints;
             for (std::size_t start = 0; start <= v.size();) {
                 auto comma = std::min(v.find(',', start), v.size());
                 auto item = v.substr(start, comma - start);
                 if (!is_http_url(item, true))
                     return false;
                 endpoints.push_back(item);
                 start = comma + 1;
             }
             o.etcd_endpoints = std::move(endpoints);
             return true;
         },
         "comma-separated http://host:port or https://host:port URLs"},
        {"etcd-prefix", false,
         [](serve_options& o, const std::string& v) {
             if (v.empty() || v.front() != '/')
                 return false;
             o.etcd_prefix = v.back() == '/' ? v : v + "/";
             return true;
         },
         "a key prefix starting with /, such as /callgate/"},
        {"etcd-ca-file", false, text(&serve_options::etcd_ca_file), "a PEM file"},
        {"etcd-cert-file", false, text(&serve_options::etcd_cert_file), "a PEM file"},
        {"etcd-key-file", false, text(&serve_options::etcd_key_file), "a PEM file"},
        {"etcd-username", false, text(&serve_options::etcd_username), "an etcd user name"},
        {"etcd-password", false, text(&serve_options::etcd_password), "a password"},
        {"node-name", false,
         [](serve_options& o, const std::string& v) {
             if (v.empty() || v.size() > 64)
                 return false;
             for (unsigned char c : v)
                 if (!std::isalnum(c) && c != '-' && c != '_' && c != '.')
                     return false;
             o.node_name = v;
             return true;
         },
         "1 to 64 letters, digits, '-', '_' or '.'"},
        {"advertise-api", false,
         [](serve_options& o, const std::string& v) {
             if (!is_http_url(v, false))
                 return false;
             o.advertise_api = v;
             return true;
         },
         "an http:// or https:// URL"},
        {"shutdown-delay", false,
         [](serve_options& o, const std::string& v) {
             auto d = parse_duration_ms(v);
             if (!d || *d > std::chrono::minutes(10))
                 return false;
             o.shutdown_delay = *d;
             return true;
         },
         "a duration from 0 to 10m, such as 5s or 500ms"},
        {"read-timeout-ms", false, integer(&serve_options::read_timeout_ms, 10, 600'000),
         "milliseconds from 10 to 600000"},
        {"idle-timeout-ms", false, integer(&serve_options::idle_timeout_ms, 10, 3'600'000),
         "milliseconds from 10 to 3600000"},
    };
}

std::string env_name(const std::string& flag)
{
    std::string out = "CALLGATE_";
    for (char c : flag)
        out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

} // namespace

std::optional<std::chrono::seconds> parse_duration(const std::string& text)
{
    if (text.empty())
        return std::nullopt;
    std::int64_t unit = 1;
    std::string digits = text;
    switch (text.back()) {
    case 's': unit = 1; digits.pop_back(); break;
    case 'm': unit = 60; digits.pop_back(); break;
    case 'h': unit = 3600; digits.pop_back(); break;
    case 'd': unit = 86400; digits.pop_back(); break;
    default: break;
    }
    std::int64_t n = 0;
    if (!parse_int(digits, 0, 100'000'000, n))
        return std::nullopt;
    return std::chrono::seconds(n * unit);
}

std::optional<std::chrono::milliseconds> parse_duration_ms(const std::string& text)
{
    if (text.size() > 2 && text.ends_with("ms")) {
        std::int64_t n = 0;
        if (!parse_int(text.substr(0, text.size() - 2), 0, 100'000'000'000, n))
            return std::nullopt;
        return std::chrono::milliseconds(n);
    }
    auto seconds = parse_duration(text);
    if (!seconds)
        return std::nullopt;
    return std::chrono::milliseconds(*seconds);
}

bool parse_serve_options(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, serve_options& out,
                         std::string& error)
{
    auto specs = flag_specs();
    auto find_spec = [&specs](std::string_view name) -> const flag_spec* {
        for (const auto& s : specs)
            if (name == s.name)
                return &s;
        return nullptr;
    };
    // `where` says where the value came from ("" or "FILE:LINE: "), `name` how it was named there.
    auto apply = [&](const flag_spec& spec, const std::string& value, const std::string& where, const std::string& name) {
        if (spec.apply(out, value))
            return true;
        error = where + "invalid value '" + value + "' for " + name + " (expected " + spec.expects + ")";
        return false;
    };

    // The flags, checked now and applied last: they win over everything.
    std::vector<std::pair<const flag_spec*, std::string>> flags;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) {
            error = "unexpected argument '" + arg + "'";
            return false;
        }
        std::string name = arg.substr(2), value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        const flag_spec* spec = find_spec(name);
        if (spec == nullptr) {
            error = "unknown flag --" + name;
            return false;
        }
        if (!has_value) {
            if (spec->is_bool) {
                value = "true";
            } else if (i + 1 < args.size()) {
                value = args[++i];
            } else {
                error = "flag --" + name + " needs a value (" + spec->expects + ")";
                return false;
            }
        }
        flags.emplace_back(spec, std::move(value));
    }

    // Then, lowest first: the config file (--config, else CALLGATE_CONFIG),
    // the environment, the flags.
    std::string config_path;
    if (auto it = env.find(env_name("config")); it != env.end())
        config_path = it->second;
    for (const auto& [spec, value] : flags)
        if (std::string_view(spec->name) == "config")
            config_path = value;
    if (!config_path.empty()) {
        std::vector<config_entry> entries;
        if (!read_config_file(config_path, entries, error))
            return false;
        for (const auto& entry : entries) {
            std::string where = config_path + ":" + std::to_string(entry.line) + ": ";
            const flag_spec* spec = find_spec(entry.key);
            if (spec == nullptr || std::string_view(spec->name) == "config") {
                error = where + "unknown key '" + entry.key + "' (keys are the flags of 'callgate serve --help' without --)";
                return false;
            }
            if (!apply(*spec, entry.value, where, entry.key))
                return false;
        }
    }
    for (const auto& spec : specs) {
        auto it = env.find(env_name(spec.name));
        if (it != env.end() && !apply(spec, it->second, "", env_name(spec.name)))
            return false;
    }
    for (const auto& [spec, value] : flags)
        if (!apply(*spec, value, "", std::string("--") + spec->name))
            return false;

    // Settings that only make sense together, or not together.
    if (out.tls_cert.empty() != out.tls_key.empty()) {
        error = "--tls-cert and --tls-key go together";
        return false;
    }
    if (out.etcd_cert_file.empty() != out.etcd_key_file.empty()) {
        error = "--etcd-cert-file and --etcd-key-file go together";
        return false;
    }
    if (out.etcd_username.empty() != out.etcd_password.empty()) {
        error = "--etcd-username and --etcd-password go together";
        return false;
    }
    if (out.api_listen == out.edge_listen && !out.api_listen.ends_with(":0")) {
        error = "--api-listen and --edge-listen are both " + out.api_listen + ": give them different ports";
        return false;
    }
    return true;
}

std::optional<std::uint64_t> parse_size(const std::string& text)
{
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr == text.data())
        return std::nullopt;
    std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
    int shift = 0;
    if (unit.empty() || unit == "B")
        shift = 0;
    else if (unit == "K" || unit == "KiB")
        shift = 10;
    else if (unit == "M" || unit == "MiB")
        shift = 20;
    else if (unit == "G" || unit == "GiB")
        shift = 30;
    else
        return std::nullopt;
    if (shift > 0 && value > (~std::uint64_t{0} >> shift))
        return std::nullopt;
    return value << shift;
}

const char* serve_help()
{
    return R"(Usage: callgate serve [flags]

Runs the config API and the call dispatcher with an embedded RocksDB store.
Every flag can also be set as an environment variable CALLGATE_<FLAG>
(e.g. CALLGATE_API_LISTEN=0.0.0.0:8080) or as a key of the config file
(api-listen = "0.0.0.0:8080"). Flags win over the environment, which wins
over the config file, which wins over the defaults. Every value is checked
before anything is written: a bad one exits 2 and creates nothing.

  --config FILE               read settings from FILE: one 'key = value' a line, the keys
                              are the flag names without --; '#' comments, quoted or bare
                              values (a TOML subset). An unknown key is an error
                              (also CALLGATE_CONFIG; the package's is /etc/callgate/callgate.conf)
  --data-dir DIR              store, admin key and listen.json (default ./data)
  --api-listen HOST:PORT      config API listener (default 127.0.0.1:8080; port 0 picks one)
  --edge-listen HOST:PORT     edge listener for telephony edges (default 127.0.0.1:8081)
  --threads N                 I/O threads (default: one per core)
  --tls-cert FILE             serve TLS with this PEM certificate chain (with --tls-key)
  --tls-key FILE              PEM private key for --tls-cert
  --ca-file FILE              extra trust anchors for webhooks and client WebSockets
  --edge-token-file FILE      edge tokens, one a line (default <data-dir>/edge.token)
  --cache-entries N           in-memory cache bound, per cache (default 1000000)
  --webhook-timeout-ms MS     whole webhook decision budget (default 4000)
  --webhook-connect-timeout-ms MS  connect + TLS handshake limit (default 1000)
  --webhook-max-in-flight N   per-origin cap on webhook requests in flight (default 256)
  --webhook-breaker-failures N  consecutive transport failures that open an origin's
                              circuit breaker (default 5)
  --webhook-breaker-open-ms MS  how long a breaker stays open before one trial (default 30000)
  --max-call-duration DUR     longest bridged call (default 4h)
  --call-retention DUR        how long call records are kept (default 30d)
  --allow-insecure-urls       accept ws:// and http:// URLs (labs and tests only)
  --allow-private-destinations  let webhooks and clients reach private addresses
  --log-format text|json      log line format (default text)
  --log-level LEVEL           debug, info, warn or error (default info)
  --access-log on|off         one info line per HTTP request on both listeners (default on)
  --read-timeout-ms MS        a request must arrive within this time (default 10000)
  --idle-timeout-ms MS        idle keep-alive connections close after this (default 60000)
  --store-memory SIZE         RocksDB's memory: block cache and memtables (default 256MiB)
  --min-free-disk SIZE        refuse config writes (507) and drop call records while the
                              data dir's disk has less free space (default 64MiB)
  --shutdown-delay DUR        after SIGTERM/SIGINT, keep serving this long with /readyz
                              at 503 so load balancers move away (default 5s; 0 for none)

Cluster mode (several nodes sharing one config through etcd; see docs/cluster.md):
  --etcd-endpoints URLS       comma-separated etcd client URLs (http:// or https://);
                              turns cluster mode on
  --etcd-prefix PREFIX        every key callgate writes lives under it (default /callgate/)
  --etcd-ca-file FILE         trust anchors for https:// etcd members
  --etcd-cert-file FILE       client certificate for etcd's --client-cert-auth (with
  --etcd-key-file FILE        its key)
  --etcd-username NAME        etcd authentication (with --etcd-password)
  --etcd-password PASSWORD
  --node-name NAME            unique per node (default: the host name)
  --advertise-api URL         how other nodes reach this node's config API
                              (default http://<bound api address>)

On first start an admin API key is written to <data-dir>/admin.key (mode 0600);
set CALLGATE_ADMIN_KEY to register a key of your own instead. Once listening,
the bound addresses are written to <data-dir>/listen.json (and systemd, when it
started callgate with Type=notify, is told READY=1).

Signals: SIGTERM or SIGINT drains: /readyz answers 503 {"status":"draining"} at
once and every reply closes its connection; the listeners keep serving for
--shutdown-delay (a second signal ends the delay), then stop accepting; requests
in flight finish, bridged calls get stop (engine_shutdown), exit 0.
)";
}

} // namespace callgate::app
