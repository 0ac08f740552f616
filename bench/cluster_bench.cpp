// cluster_bench: the measuring half of `scripts/bench cluster` (the script
// starts etcd and the nodes, samples CPU, and prints the table).
//
//   cluster_bench setup    --api A,B,C --api-key K --count N --out FILE
//       creates N identities with phone numbers and an auto_accept action,
//       round-robin over the nodes; writes "<id> <number>" lines to FILE.
//   cluster_bench converge --api A,B,C --edge A,B,C --api-key K --edge-token T --ids FILE --writes N
//       N sequential PUT /incoming-call-action, spread over the nodes; after
//       each 2xx polls every node's POST /v1/calls/decide (one keep-alive
//       connection per node, all three at once, back to back) until each
//       answers with the URL just written. Convergence = from the 2xx to the
//       reply that showed the new URL on the last node.
//   cluster_bench writes   --api A,B,C --api-key K --ids FILE --concurrency C --duration S
//       C closed-loop clients (client i on node i % 3, identity i) doing PUT
//       /incoming-call-action for S seconds.
//   cluster_bench raw      --etcd URL,URL,URL --concurrency C --duration S [--read] [--like PREFIX]
//       the etcd transactions a PUT /incoming-call-action commits, straight
//       from net::etcd_client: per worker, compares on the mod revisions of 3
//       keys (identity, action, signing key) and one put of the action; with
//       --read, first the read a node does (one txn with 3 gets). --like takes
//       the value sizes from a real identity under PREFIX.
//
// Each mode prints what it measured, then one line "RESULT key=value ..." for
// the script. Every wait has a deadline; exit status 1 on failure.

// GCC 12 pairs an inlined coroutine frame's operator new (Asio's recycling
// allocator) with std::free and warns; a false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "load/histogram.hpp"

#include "callgate/net/etcd_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using callgate::load::latency_histogram;
using namespace callgate::net;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ------------------------------------------------------------------ options

struct options {
    std::string mode;
    std::vector<std::string> api, edge, etcd;
    std::string api_key, edge_token, ids_file, out_file, like;
    int count = 64, writes = 1000, warmup = 20, concurrency = 64, background = 0;
    double duration = 10, deadline = 5; // converge: the most one write may take to show everywhere
    bool read = false;
    std::size_t value_bytes = 160;
};

std::vector<std::string> split_list(const std::string& s)
{
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "cluster_bench: %s\n", what.c_str());
    std::exit(1);
}

options parse(int argc, char** argv)
{
    if (argc < 2)
        fail("usage: cluster_bench setup|converge|writes|raw [flags] (see the comment at the top of bench/cluster_bench.cpp)");
    options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--read") {
            o.read = true;
            continue;
        }
        if (i + 1 >= argc)
            fail("missing a value after " + flag);
        std::string v = argv[++i];
        if (flag == "--api") o.api = split_list(v);
        else if (flag == "--edge") o.edge = split_list(v);
        else if (flag == "--etcd") o.etcd = split_list(v);
        else if (flag == "--api-key") o.api_key = v;
        else if (flag == "--edge-token") o.edge_token = v;
        else if (flag == "--ids") o.ids_file = v;
        else if (flag == "--out") o.out_file = v;
        else if (flag == "--like") o.like = v;
        else if (flag == "--count") o.count = std::stoi(v);
        else if (flag == "--writes") o.writes = std::stoi(v);
        else if (flag == "--warmup") o.warmup = std::stoi(v);
        else if (flag == "--background") o.background = std::stoi(v);
        else if (flag == "--concurrency") o.concurrency = std::stoi(v);
        else if (flag == "--duration") o.duration = std::stod(v);
        else if (flag == "--deadline") o.deadline = std::stod(v);
        else if (flag == "--value-bytes") o.value_bytes = static_cast<std::size_t>(std::stoul(v));
        else fail("unknown flag " + flag);
    }
    return o;
}

double cpu_seconds_self()
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::uint64_t micros(steady::duration d)
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

double ms(std::uint64_t us) { return static_cast<double>(us) / 1000.0; }

std::string json_text(const std::string& body, const std::string& key)
{
    auto at = body.find("\"" + key + "\":\"");
    if (at == std::string::npos)
        return {};
    at += key.size() + 4;
    return body.substr(at, body.find('"', at) - at);
}

// ------------------------------------------------------------------ HTTP/1.1 keep-alive client

struct reply {
    int status = 0; // 0: no reply (the error is in body)
    std::string body;
};

class http_conn {
public:
    explicit http_conn(std::string address) : address_(std::move(address)) {}

    asio::awaitable<reply> request(http::verb method, std::string target, std::vector<std::pair<std::string, std::string>> headers,
                                   std::string body, std::chrono::milliseconds timeout = std::chrono::seconds(10))
    {
        auto ex = co_await asio::this_coro::executor;
        if (!stream_) {
            auto colon = address_.rfind(':');
            tcp::resolver resolver(ex);
            std::string host = address_.substr(0, colon), port = address_.substr(colon + 1);
            auto [rec, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
            if (rec)
                co_return reply{0, "resolve " + address_ + ": " + rec.message()};
            stream_.emplace(ex);
            stream_->expires_after(std::chrono::seconds(5));
            auto [cec, ep] = co_await stream_->async_connect(endpoints, use_tuple);
            if (cec) {
                stream_.reset();
                co_return reply{0, "connect " + address_ + ": " + cec.message()};
            }
            stream_->socket().set_option(tcp::no_delay(true));
            buffer_.clear();
        }
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, address_);
        for (auto& [k, v] : headers)
            req.set(k, v);
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = std::move(body);
        }
        req.prepare_payload();
        stream_->expires_after(timeout);
        auto [wec, wn] = co_await http::async_write(*stream_, req, use_tuple);
        http::response<http::string_body> res;
        beast::error_code rec;
        if (!wec)
            std::tie(rec, std::ignore) = co_await http::async_read(*stream_, buffer_, res, use_tuple);
        if (wec || rec) {
            stream_.reset();
            co_return reply{0, address_ + ": " + (wec ? wec : rec).message()};
        }
        if (!res.keep_alive())
            stream_.reset();
        co_return reply{static_cast<int>(res.result_int()), std::move(res.body())};
    }

private:
    std::string address_;
    std::optional<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
};

// Runs a coroutine to completion on `ioc`, with a deadline.
template <class F>
void run_main(asio::io_context& ioc, F f, double deadline_s)
{
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, f(), [&](std::exception_ptr e) {
        done = true;
        error = e;
        ioc.stop();
    });
    asio::steady_timer watchdog(ioc, std::chrono::milliseconds(static_cast<long>(deadline_s * 1000)));
    watchdog.async_wait([&](beast::error_code ec) {
        if (!ec)
            ioc.stop();
    });
    ioc.run();
    if (error)
        std::rethrow_exception(error);
    if (!done)
        fail("gave up after " + std::to_string(static_cast<int>(deadline_s)) + " s (deadline)");
}

template <class F>
void run_main(F f, double deadline_s)
{
    asio::io_context ioc;
    run_main(ioc, std::move(f), deadline_s);
}

struct identity {
    std::string id, number;
};

std::vector<identity> read_ids(const std::string& file)
{
    std::ifstream in(file);
    std::vector<identity> ids;
    identity i;
    while (in >> i.id >> i.number)
        ids.push_back(i);
    if (ids.empty())
        fail("no identities in " + file);
    return ids;
}

std::string action_body(const std::string& id, const std::string& url)
{
    return "{\"agent_identity_id\":\"" + id + "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" + url +
           "\"}";
}

// ------------------------------------------------------------------ setup

void setup(const options& o)
{
    if (o.api.empty() || o.out_file.empty())
        fail("setup needs --api and --out");
    std::vector<identity> made;
    run_main(
        [&]() -> asio::awaitable<void> {
            std::vector<http_conn> api;
            for (const auto& a : o.api)
                api.emplace_back(a);
            std::mt19937 rng(std::random_device{}());
            std::string run = std::to_string(1000 + rng() % 9000);
            std::vector<std::pair<std::string, std::string>> h{{"X-API-Key", o.api_key}};
            for (int i = 0; i < o.count; ++i) {
                auto& node = api[static_cast<std::size_t>(i) % api.size()];
                char number[32];
                std::snprintf(number, sizeof number, "+1998%s%06d", run.c_str(), i);
                std::string handle = "cb-" + run + "-" + std::to_string(i);
                auto create = node.request(http::verb::post, "/identities", h,
                                           "{\"agent_handle\":\"" + handle + "\",\"phone_number\":\"" + number + "\"}");
                auto r = co_await std::move(create);
                if (r.status != 201)
                    fail("creating identity " + handle + ": " + std::to_string(r.status) + " " + r.body);
                identity id{json_text(r.body, "id"), number};
                auto put = node.request(http::verb::put, "/incoming-call-action", h, action_body(id.id, "wss://agent.example.com/ws"));
                r = co_await std::move(put);
                if (r.status != 200)
                    fail("setting the action of " + handle + ": " + std::to_string(r.status) + " " + r.body);
                made.push_back(id);
            }
        },
        120);
    std::ofstream out(o.out_file);
    for (const auto& i : made)
        out << i.id << ' ' << i.number << '\n';
    std::printf("RESULT identities=%zu\n", made.size());
}

// ------------------------------------------------------------------ converge

// callgate_etcd_apply_lag_seconds buckets (le -> cumulative count) from /metrics.
std::map<double, double> apply_lag_buckets(const std::string& metrics)
{
    std::map<double, double> out;
    const std::string name = "callgate_etcd_apply_lag_seconds_bucket{le=\"";
    std::stringstream in(metrics);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0)
            continue;
        auto close = line.find('"', name.size());
        std::string le = line.substr(name.size(), close - name.size());
        double bound = le == "+Inf" ? 1e9 : std::strtod(le.c_str(), nullptr);
        out[bound] = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    }
    return out;
}

std::string quantile_bound(const std::map<double, double>& cumulative, double q)
{
    if (cumulative.empty() || cumulative.rbegin()->second <= 0)
        return "-";
    double total = cumulative.rbegin()->second;
    for (const auto& [le, n] : cumulative)
        if (n >= q * total) {
            char text[32];
            if (le >= 1e9)
                return "> 10 s";
            std::snprintf(text, sizeof text, "<= %g ms", le * 1000);
            return text;
        }
    return "-";
}

void print_apply_lag(const std::vector<std::map<double, double>>& before, const std::vector<std::map<double, double>>& after)
{
    std::printf("  callgate_etcd_apply_lag_seconds during the run (commit on the writer's clock -> applied here):\n");
    for (std::size_t k = 0; k < after.size(); ++k) {
        std::map<double, double> delta;
        for (const auto& [le, n] : after[k])
            delta[le] = n - (before[k].count(le) ? before[k].at(le) : 0);
        std::printf("    node%zu: %.0f applies, p50 %s, p99 %s\n", k, delta.empty() ? 0.0 : delta.rbegin()->second,
                    quantile_bound(delta, 0.5).c_str(), quantile_bound(delta, 0.99).c_str());
    }
}

// Every node's apply-lag histogram, from /metrics.
asio::awaitable<std::vector<std::map<double, double>>> scrape_apply_lag(std::vector<std::string> apis, std::string api_key)
{
    std::vector<std::map<double, double>> out;
    std::vector<std::pair<std::string, std::string>> key{{"X-API-Key", api_key}};
    for (const auto& a : apis) {
        http_conn c(a);
        auto get = c.request(http::verb::get, "/metrics", key, {});
        auto m = co_await std::move(get);
        out.push_back(apply_lag_buckets(m.body));
    }
    co_return out;
}

void converge(const options& o)
{
    if (o.api.size() != o.edge.size() || o.api.empty())
        fail("converge needs --api and --edge with one address per node, in the same order");
    auto ids = read_ids(o.ids_file);
    if (o.background < 0 || static_cast<std::size_t>(o.background) >= ids.size())
        fail("--background needs fewer writers than identities");
    const std::size_t nodes = o.api.size();
    latency_histogram all, others, writer, put_latency, poll_rtt;
    std::vector<latency_histogram> per_node(nodes);
    std::uint64_t polls = 0, poll_errors = 0, put_errors = 0, timeouts = 0, writer_stale = 0;
    std::uint64_t background_ok = 0, background_errors = 0;
    struct slow {
        std::uint64_t us;
        int write;
        std::size_t on;
        std::vector<std::uint64_t> per_node;
    };
    std::vector<slow> slowest;
    std::vector<std::map<double, double>> lag_before(nodes), lag_after(nodes);
    std::string first_error;
    double cpu0 = cpu_seconds_self();
    auto started = steady::now();
    const double budget = (o.writes + o.warmup) * (o.deadline + 12) + 60;
    run_main(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            std::vector<http_conn> api, edge;
            for (std::size_t k = 0; k < nodes; ++k) {
                api.emplace_back(o.api[k]);
                edge.emplace_back(o.edge[k]);
            }
            std::vector<std::pair<std::string, std::string>> key{{"X-API-Key", o.api_key}};
            std::vector<std::pair<std::string, std::string>> token{{"X-Edge-Token", o.edge_token}};
            for (std::size_t k = 0; k < nodes; ++k) {
                auto get = api[k].request(http::verb::get, "/metrics", key, {});
                auto m = co_await std::move(get);
                lag_before[k] = apply_lag_buckets(m.body);
            }
            std::string run = std::to_string(std::random_device{}() % 1000000);
            // --background N: N closed-loop writers on the last N identities (node b % 3) while the
            // timed writes go on, so convergence is timed under sustained write load.
            bool timing = true;
            int background_left = o.background;
            asio::steady_timer background_done(ex, steady::time_point::max());
            for (int b = 0; b < o.background; ++b) {
                asio::co_spawn(
                    ex,
                    [&, b]() -> asio::awaitable<void> {
                        http_conn conn(o.api[static_cast<std::size_t>(b) % nodes]);
                        const auto& id = ids[ids.size() - 1 - static_cast<std::size_t>(b)];
                        for (std::uint64_t n = 0; timing; ++n) {
                            auto put = conn.request(http::verb::put, "/incoming-call-action", key,
                                                    action_body(id.id, "wss://agent.example.com/b/" + std::to_string(n)));
                            auto r = co_await std::move(put);
                            ++(r.status == 200 ? background_ok : background_errors);
                        }
                    },
                    [&](std::exception_ptr) {
                        if (--background_left == 0)
                            background_done.cancel();
                    });
            }
            const std::size_t timed_ids = ids.size() - static_cast<std::size_t>(o.background);
            for (int i = -o.warmup; i < o.writes; ++i) {
                auto w = static_cast<std::size_t>(i + o.warmup);
                std::size_t on = w % nodes;
                const auto& id = ids[w % timed_ids];
                std::string url = "wss://agent.example.com/c/" + run + "/" + std::to_string(w);
                auto sent = steady::now();
                auto put = api[on].request(http::verb::put, "/incoming-call-action", key, action_body(id.id, url));
                auto r = co_await std::move(put);
                auto acked = steady::now();
                if (r.status != 200) {
                    ++put_errors;
                    if (first_error.empty())
                        first_error = "PUT on node " + std::to_string(on) + ": " + std::to_string(r.status) + " " + r.body;
                    continue;
                }
                std::string decide_body = "{\"local_phone_number\":\"" + id.number + "\",\"remote_phone_number\":\"+15550199\"}";
                auto deadline = acked + std::chrono::milliseconds(static_cast<long>(o.deadline * 1000));
                std::vector<std::uint64_t> seen(nodes, 0);
                std::vector<bool> ok(nodes, false);
                std::vector<int> tries(nodes, 0);
                std::size_t remaining = nodes;
                asio::steady_timer joined(ex, steady::time_point::max());
                for (std::size_t k = 0; k < nodes; ++k) {
                    asio::co_spawn(
                        ex,
                        [&, k]() -> asio::awaitable<void> {
                            for (;;) {
                                auto asked = steady::now();
                                auto ask = edge[k].request(http::verb::post, "/v1/calls/decide", token, decide_body,
                                                           std::chrono::milliseconds(2000));
                                auto d = co_await std::move(ask);
                                auto now = steady::now();
                                ++polls;
                                ++tries[k];
                                poll_rtt.record(micros(now - asked));
                                if (d.status != 200) {
                                    ++poll_errors;
                                    if (first_error.empty())
                                        first_error = "decide on node " + std::to_string(k) + ": " + std::to_string(d.status) +
                                                      " " + d.body;
                                } else if (json_text(d.body, "client_websocket_url") == url) {
                                    seen[k] = micros(now - acked);
                                    ok[k] = true;
                                    co_return;
                                }
                                if (now >= deadline)
                                    co_return;
                            }
                        },
                        [&](std::exception_ptr) {
                            if (--remaining == 0)
                                joined.cancel();
                        });
                }
                while (remaining > 0)
                    co_await joined.async_wait(use_tuple);
                if (i < 0)
                    continue; // warm-up
                put_latency.record(micros(acked - sent));
                if (std::find(ok.begin(), ok.end(), false) != ok.end()) {
                    ++timeouts;
                    std::string detail;
                    for (std::size_t k = 0; k < nodes; ++k)
                        detail += ok[k] ? "" : " node" + std::to_string(k);
                    if (timeouts <= 10)
                        std::fprintf(stderr, "cluster_bench: write %d (on node %zu): no convergence within %.1f s on%s\n", i,
                                     on, o.deadline, detail.c_str());
                    continue;
                }
                std::uint64_t last = *std::max_element(seen.begin(), seen.end());
                all.record(last);
                writer.record(seen[on]);
                if (tries[on] > 1) // the node that answered 2xx decided with the old config after it
                    ++writer_stale;
                std::uint64_t other_last = 0;
                for (std::size_t k = 0; k < nodes; ++k) {
                    per_node[k].record(seen[k]);
                    if (k != on)
                        other_last = std::max(other_last, seen[k]);
                }
                others.record(other_last);
                slowest.push_back({last, i, on, seen});
                std::sort(slowest.begin(), slowest.end(), [](const slow& a, const slow& b) { return a.us > b.us; });
                if (slowest.size() > 5)
                    slowest.pop_back();
            }
            timing = false;
            while (background_left > 0)
                co_await background_done.async_wait(use_tuple);
            for (std::size_t k = 0; k < nodes; ++k) {
                auto get = api[k].request(http::verb::get, "/metrics", key, {});
                auto m = co_await std::move(get);
                lag_after[k] = apply_lag_buckets(m.body);
            }
        },
        budget);
    double elapsed = std::chrono::duration<double>(steady::now() - started).count();
    double cpu = cpu_seconds_self() - cpu0;

    std::printf("convergence over %llu writes (after %d warm-up writes), spread over %zu nodes, %zu identities",
                static_cast<unsigned long long>(all.count()), o.warmup, nodes, ids.size() - static_cast<std::size_t>(o.background));
    if (o.background > 0)
        std::printf(", while %d other clients wrote %.0f/s (%llu errors)", o.background,
                    static_cast<double>(background_ok) / elapsed, static_cast<unsigned long long>(background_errors));
    std::printf(":\n");
    auto row = [](const char* name, const latency_histogram& h) {
        std::printf("  %-40s p50 %8.2f  p90 %8.2f  p99 %8.2f  max %8.2f ms\n", name, ms(h.percentile(0.5)),
                    ms(h.percentile(0.9)), ms(h.percentile(0.99)), ms(h.max()));
    };
    row("2xx -> every node decides with it", all);
    row("2xx -> the other nodes", others);
    row("2xx -> the node that took the write", writer);
    for (std::size_t k = 0; k < nodes; ++k) {
        std::string name = "2xx -> node" + std::to_string(k);
        row(name.c_str(), per_node[k]);
    }
    row("PUT /incoming-call-action (until 2xx)", put_latency);
    row("one decide poll (round trip)", poll_rtt);
    std::printf("  polls %llu, poll errors %llu, PUT errors %llu, writes not converged within %.1f s: %llu,\n"
                "  writes whose own node still decided with the old config after the 2xx: %llu\n",
                static_cast<unsigned long long>(polls), static_cast<unsigned long long>(poll_errors),
                static_cast<unsigned long long>(put_errors), o.deadline, static_cast<unsigned long long>(timeouts),
                static_cast<unsigned long long>(writer_stale));
    if (!first_error.empty())
        std::printf("  first error: %s\n", first_error.c_str());
    std::printf("  slowest writes (ms after the 2xx, per node):");
    for (const auto& s : slowest) {
        std::printf(" [#%d on node%zu:", s.write, s.on);
        for (auto v : s.per_node)
            std::printf(" %.1f", ms(v));
        std::printf("]");
    }
    std::printf("\n");
    print_apply_lag(lag_before, lag_after);
    std::printf("  generator: %.1f s, %.2f s CPU\n", elapsed, cpu);
    std::printf("RESULT writes=%llu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f others_p99_ms=%.3f writer_p99_ms=%.3f "
                "put_p50_ms=%.3f put_p99_ms=%.3f poll_p50_ms=%.3f errors=%llu timeouts=%llu writer_stale=%llu background_rate=%.1f\n",
                static_cast<unsigned long long>(all.count()), ms(all.percentile(0.5)), ms(all.percentile(0.9)),
                ms(all.percentile(0.99)), ms(all.max()), ms(others.percentile(0.99)), ms(writer.percentile(0.99)),
                ms(put_latency.percentile(0.5)), ms(put_latency.percentile(0.99)), ms(poll_rtt.percentile(0.5)),
                static_cast<unsigned long long>(put_errors + poll_errors), static_cast<unsigned long long>(timeouts),
                static_cast<unsigned long long>(writer_stale), static_cast<double>(background_ok) / elapsed);
    if (put_errors + timeouts > 0 || all.count() == 0)
        std::exit(1);
}

// ------------------------------------------------------------------ writes (through callgate)

void writes(const options& o)
{
    if (o.api.empty())
        fail("writes needs --api");
    auto ids = read_ids(o.ids_file);
    if (ids.size() < static_cast<std::size_t>(o.concurrency))
        std::fprintf(stderr, "cluster_bench: %zu identities for %d clients: some share one (conflicting writes)\n", ids.size(),
                     o.concurrency);
    latency_histogram latency;
    std::uint64_t ok = 0, errors = 0;
    std::map<std::string, std::uint64_t> error_kinds;
    double cpu0 = cpu_seconds_self();
    auto started = steady::now();
    auto end = started + std::chrono::milliseconds(static_cast<long>(o.duration * 1000));
    steady::time_point last_done = started;
    std::vector<std::map<double, double>> lag_before, lag_after;
    run_main(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto scrape = scrape_apply_lag(o.api, o.api_key);
            lag_before = co_await std::move(scrape);
            started = steady::now();
            end = started + std::chrono::milliseconds(static_cast<long>(o.duration * 1000));
            last_done = started;
            int remaining = o.concurrency;
            asio::steady_timer joined(ex, steady::time_point::max());
            for (int c = 0; c < o.concurrency; ++c) {
                asio::co_spawn(
                    ex,
                    [&, c]() -> asio::awaitable<void> {
                        http_conn api(o.api[static_cast<std::size_t>(c) % o.api.size()]);
                        const auto& id = ids[static_cast<std::size_t>(c) % ids.size()];
                        std::vector<std::pair<std::string, std::string>> key{{"X-API-Key", o.api_key}};
                        for (std::uint64_t n = 0; steady::now() < end; ++n) {
                            auto sent = steady::now();
                            auto put = api.request(http::verb::put, "/incoming-call-action", key,
                                                   action_body(id.id, "wss://agent.example.com/w/" + std::to_string(c) + "/" +
                                                                          std::to_string(n)));
                            auto r = co_await std::move(put);
                            auto now = steady::now();
                            last_done = std::max(last_done, now);
                            if (r.status == 200) {
                                ++ok;
                                latency.record(micros(now - sent));
                            } else {
                                ++errors;
                                ++error_kinds[r.status == 0 ? r.body : std::to_string(r.status) + " " + r.body];
                            }
                        }
                    },
                    [&](std::exception_ptr) {
                        if (--remaining == 0)
                            joined.cancel();
                    });
            }
            while (remaining > 0)
                co_await joined.async_wait(use_tuple);
            auto scrape_after = scrape_apply_lag(o.api, o.api_key);
            lag_after = co_await std::move(scrape_after);
        },
        o.duration + 60);
    double elapsed = std::chrono::duration<double>(last_done - started).count();
    double cpu = cpu_seconds_self() - cpu0;
    std::printf("PUT /incoming-call-action, %d clients over %zu nodes: %llu ok, %llu errors in %.2f s = %.0f/s; p50 %.2f p99 %.2f "
                "max %.2f ms; generator CPU %.2f s\n",
                o.concurrency, o.api.size(), static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
                elapsed, static_cast<double>(ok) / elapsed, ms(latency.percentile(0.5)), ms(latency.percentile(0.99)),
                ms(latency.max()), cpu);
    for (const auto& [k, n] : error_kinds)
        std::printf("  error x%llu: %s\n", static_cast<unsigned long long>(n), k.c_str());
    print_apply_lag(lag_before, lag_after);
    std::printf("RESULT ok=%llu errors=%llu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n", static_cast<unsigned long long>(ok),
                static_cast<unsigned long long>(errors), elapsed, static_cast<double>(ok) / elapsed,
                ms(latency.percentile(0.5)), ms(latency.percentile(0.99)));
    if (ok == 0)
        std::exit(1);
}

// ------------------------------------------------------------------ raw etcd

void raw(const options& o)
{
    if (o.etcd.empty())
        fail("raw needs --etcd");
    // One client per member, endpoints rotated, so workers start on different
    // members (as the three nodes' clients may). Enough idle connections that
    // no request pays a connect. The clients pool connections on `ioc`, which
    // must outlive them.
    asio::io_context ioc;
    std::vector<std::unique_ptr<etcd_client>> clients;
    for (std::size_t m = 0; m < o.etcd.size(); ++m) {
        etcd_client_options eo;
        for (std::size_t k = 0; k < o.etcd.size(); ++k)
            eo.endpoints.push_back(o.etcd[(m + k) % o.etcd.size()]);
        eo.max_idle_connections = static_cast<std::size_t>(o.concurrency);
        clients.push_back(std::make_unique<etcd_client>(eo));
    }
    const std::string prefix = "/cluster-bench-raw/";
    std::size_t identity_bytes = o.value_bytes, action_bytes = o.value_bytes, key_bytes = o.value_bytes;
    latency_histogram latency;
    std::uint64_t ok = 0, conflicts = 0, errors = 0;
    std::map<std::string, std::uint64_t> error_kinds;
    double cpu0 = 0, elapsed = 0;
    run_main(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto& first = *clients.front();
            if (!o.like.empty()) { // value sizes of a real identity's records
                auto like = etcd_range_request::with_prefix(o.like);
                like.limit = 200;
                auto like_op = first.range(std::move(like));
                auto found = co_await std::move(like_op);
                if (!found.ok())
                    fail("reading " + o.like + ": " + found.error.detail);
                for (const auto& kv : found.value.kvs) {
                    auto ends = [&](const char* s) {
                        std::string t = s;
                        return kv.key.size() > t.size() && kv.key.compare(kv.key.size() - t.size(), t.size(), t) == 0;
                    };
                    if (ends("/identity")) identity_bytes = kv.value.size();
                    if (ends("/action")) action_bytes = kv.value.size();
                    if (ends("/signing_key")) key_bytes = kv.value.size();
                }
            }
            std::printf("value bytes: identity %zu, action %zu, signing key %zu\n", identity_bytes, action_bytes, key_bytes);
            // Seed every worker's three keys.
            std::vector<std::array<std::int64_t, 3>> revisions(static_cast<std::size_t>(o.concurrency));
            std::vector<std::array<std::string, 3>> keys(static_cast<std::size_t>(o.concurrency));
            for (int c = 0; c < o.concurrency; ++c) {
                auto base = prefix + "config/id/" + std::to_string(100000 + c) + "/";
                keys[c] = {base + "identity", base + "action", base + "signing_key"};
                std::size_t sizes[3] = {identity_bytes, action_bytes, key_bytes};
                for (int k = 0; k < 3; ++k) {
                    auto put_op = first.put(keys[c][k], std::string(sizes[k], 'x'));
                    auto put = co_await std::move(put_op);
                    if (!put.ok())
                        fail("seeding " + keys[c][k] + ": " + put.error.detail);
                    revisions[c][k] = put.value;
                }
            }
            cpu0 = cpu_seconds_self();
            auto started = steady::now();
            auto end = started + std::chrono::milliseconds(static_cast<long>(o.duration * 1000));
            steady::time_point last_done = started;
            int remaining = o.concurrency;
            asio::steady_timer joined(ex, steady::time_point::max());
            for (int c = 0; c < o.concurrency; ++c) {
                asio::co_spawn(
                    ex,
                    [&, c]() -> asio::awaitable<void> {
                        auto& client = *clients[static_cast<std::size_t>(c) % clients.size()];
                        auto& rev = revisions[c];
                        const auto& k = keys[c];
                        std::string value(action_bytes, 'y');
                        for (std::uint64_t n = 0; steady::now() < end; ++n) {
                            auto sent = steady::now();
                            if (o.read) { // what a node reads first: one txn with the three gets
                                etcd_txn_request read;
                                for (const auto& key : k) {
                                    etcd_range_request r;
                                    r.key = key;
                                    read.success.push_back(etcd_op::get(std::move(r)));
                                }
                                auto read_op = client.txn(std::move(read));
                                auto got = co_await std::move(read_op);
                                if (!got.ok() || got.value.responses.size() != 3) {
                                    ++errors;
                                    ++error_kinds["read: " + std::string(to_string(got.error.code))];
                                    continue;
                                }
                                for (int i = 0; i < 3; ++i)
                                    if (!got.value.responses[i].range.kvs.empty())
                                        rev[i] = got.value.responses[i].range.kvs.front().mod_revision;
                            }
                            etcd_txn_request t;
                            for (int i = 0; i < 3; ++i)
                                t.compare.push_back(etcd_compare::mod_revision(k[i], etcd_compare::result::equal, rev[i]));
                            value[n % value.size()] = static_cast<char>('a' + n % 26);
                            t.success.push_back(etcd_op::put(k[1], value));
                            auto txn_op = client.txn(std::move(t));
                            auto r = co_await std::move(txn_op);
                            auto now = steady::now();
                            last_done = std::max(last_done, now);
                            if (!r.ok()) {
                                ++errors;
                                ++error_kinds[std::string(to_string(r.error.code)) + ": " + r.error.detail];
                            } else if (!r.value.succeeded) {
                                ++conflicts;
                            } else {
                                ++ok;
                                rev[1] = r.value.revision;
                                latency.record(micros(now - sent));
                            }
                        }
                    },
                    [&](std::exception_ptr) {
                        if (--remaining == 0)
                            joined.cancel();
                    });
            }
            while (remaining > 0)
                co_await joined.async_wait(use_tuple);
            elapsed = std::chrono::duration<double>(last_done - started).count();
            auto cleanup = first.delete_range(prefix, etcd_prefix_end(prefix));
            (void)co_await std::move(cleanup);
        },
        o.duration + 120);
    double cpu = cpu_seconds_self() - cpu0;
    std::printf("raw etcd txn (%s3 mod-revision compares + 1 put), %d workers: %llu ok, %llu failed compares, %llu errors in "
                "%.2f s = %.0f/s; p50 %.2f p99 %.2f max %.2f ms; generator CPU %.2f s\n",
                o.read ? "read txn of 3 gets, then " : "", o.concurrency, static_cast<unsigned long long>(ok),
                static_cast<unsigned long long>(conflicts), static_cast<unsigned long long>(errors), elapsed,
                static_cast<double>(ok) / elapsed, ms(latency.percentile(0.5)), ms(latency.percentile(0.99)),
                ms(latency.max()), cpu);
    for (const auto& [k, n] : error_kinds)
        std::printf("  error x%llu: %s\n", static_cast<unsigned long long>(n), k.c_str());
    std::printf("RESULT ok=%llu errors=%llu conflicts=%llu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n",
                static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
                static_cast<unsigned long long>(conflicts), elapsed, static_cast<double>(ok) / elapsed,
                ms(latency.percentile(0.5)), ms(latency.percentile(0.99)));
    if (ok == 0)
        std::exit(1);
}

} // namespace

int main(int argc, char** argv)
{
    try {
        auto o = parse(argc, argv);
        if (o.mode == "setup")
            setup(o);
        else if (o.mode == "converge")
            converge(o);
        else if (o.mode == "writes")
            writes(o);
        else if (o.mode == "raw")
            raw(o);
        else
            fail("unknown mode " + o.mode);
    } catch (const std::exception& e) {
        fail(e.what());
    }
    std::fflush(stdout);
    return 0;
}
