// callgate-load: a load generator that acts as a fleet of telephony edges
// against a running callgate, and reports like wrk, h2load and SIPp do.
//
//   callgate-load decide --rate 2000 --duration 30s
//   callgate-load bridge --concurrency 100 --call-duration 10s
//
// Latency is measured from each call's intended start time under open load
// (--rate), so a stalled server shows up as latency, not as fewer requests.
#include "histogram.hpp"
#include "report.hpp"

#include "callgate/codec/base64.hpp"

#include "callgate/engine/secrets.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using callgate::load::latency_histogram;
using callgate::load::latency_summary;
using callgate::load::run_report;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ------------------------------------------------------------------ options

struct options {
    std::string scenario;
    std::string edge_url = "127.0.0.1:8081";
    std::string api_url = "127.0.0.1:8080";
    std::string edge_token;
    std::string api_key;
    double rate = 0; // calls per second; 0: closed loop at --concurrency
    int concurrency = 64;
    double duration = 10;
    double ramp = 0;
    int identities = 1;
    bool keep = false;
    bool setup = true;
    double call_duration = 5;
    std::string agent_listen = "127.0.0.1:0";
    bool proxy = false; // bridge through a plain WebSocket proxy: no decision frame
    std::string json_file;
    double max_p99_ms = 0;
    double max_error_rate = 0.01; // a run whose calls mostly fail must not look like a pass
    std::string number_base = "+1999";
    std::string number; // --no-setup: the number every call dials
    int threads = 1;    // decide and webhook: generator threads
    double webhook_latency = 0.010;
    double webhook_failure_rate = 0;
    std::string webhook_listen = "127.0.0.1:0";
    std::string html_file;
    std::string compare_file; // an earlier run's --json file, drawn beside this one
};

const char* usage = R"(Usage: callgate-load SCENARIO [flags]
       callgate-load --help | --version

Acts as a fleet of telephony edges against a running callgate.

Scenarios:
  decide    POST /v1/calls/decide for identities whose action is auto_accept
  bridge    WebSocket calls on /v1/calls/stream with 20 ms PCMU frames both ways,
            answered by a built-in voice agent (needs callgate started with
            --allow-insecure-urls --allow-private-destinations: the agent is ws://);
            each side's frame clock starts at a random point of its first 20 ms, as
            real calls' clocks do, not in step with calls started 10 or 20 ms apart
  webhook   POST /v1/calls/decide for identities whose action is webhook, answered
            by a built-in webhook responder (same callgate flags as bridge)

Load:
  --rate N              open loop: start N calls per second (latency counts from
                        each call's intended start)
  --concurrency N       closed loop when --rate is 0: N calls at a time (default 64);
                        with --rate, the most calls in flight
  --duration D          how long to generate load (default 10s)
  --ramp D              open loop: reach --rate linearly over D (default 0)
  --call-duration D     bridge: how long each call lasts (default 5s)
  --threads N           decide and webhook: generator threads, each with its share of
                        the rate and connections (default 1)

Target:
  --edge-url HOST:PORT  edge listener (default 127.0.0.1:8081; env CALLGATE_EDGE_URL)
  --api-url HOST:PORT   config API (default 127.0.0.1:8080; env CALLGATE_API_URL)
  --edge-token T        (env CALLGATE_EDGE_TOKEN)
  --api-key K           an admin key, to create identities (env CALLGATE_API_KEY)
  --identities N        identities to create and spread calls over (default 1)
  --keep                keep the identities afterwards (default: delete them)
  --no-setup            create nothing; every call dials --number
  --number E164         the dialed number with --no-setup (default +19990000000)
  --agent-listen H:P    bridge: where the built-in agent listens (default 127.0.0.1:0)
  --proxy               bridge through a plain WebSocket proxy (a baseline): the
                        agent gets the edge's frames as they are, no decision
  --webhook-latency D   webhook: the responder's delay before answering (default 10ms)
  --webhook-failure-rate R  webhook: share of requests answered 500 (default 0)
  --webhook-listen H:P  webhook: where the responder listens (default 127.0.0.1:0)

Output and gates:
  --json FILE           every figure as JSON
  --html FILE           a report: latency and throughput over time, latency by
                        percentile (p50 to p99.99), each chart captioned with the
                        run's scenario, load and date
  --compare OLD.json    draw an earlier run's --json file on the same axes (in the
                        --html report) and print both runs' p50/p99/p99.9
  --max-p99 MS          exit 3 if the p99 latency is above MS
  --max-error-rate R    exit 3 if errors / calls is above R (default 0.01; 1 turns it off)

Durations take s, m or ms suffixes (10s, 2m, 500ms).
)";

std::optional<double> parse_seconds(const std::string& text)
{
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    std::string unit = end;
    if (end == text.c_str() || v < 0)
        return std::nullopt;
    if (unit.empty() || unit == "s")
        return v;
    if (unit == "ms")
        return v / 1000;
    if (unit == "m")
        return v * 60;
    return std::nullopt;
}

bool parse_options(int argc, char** argv, options& o, std::string& error)
{
    if (const char* v = std::getenv("CALLGATE_EDGE_URL"))
        o.edge_url = v;
    if (const char* v = std::getenv("CALLGATE_API_URL"))
        o.api_url = v;
    if (const char* v = std::getenv("CALLGATE_EDGE_TOKEN"))
        o.edge_token = v;
    if (const char* v = std::getenv("CALLGATE_API_KEY"))
        o.api_key = v;
    if (argc < 2) {
        error = "a scenario is required";
        return false;
    }
    o.scenario = argv[1];
    if (o.scenario != "decide" && o.scenario != "bridge" && o.scenario != "webhook") {
        error = "unknown scenario '" + o.scenario + "'";
        return false;
    }
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc)
                return std::nullopt;
            return std::string(argv[++i]);
        };
        auto number = [&](double& out) {
            auto v = value();
            char* end = nullptr;
            if (!v || (out = std::strtod(v->c_str(), &end), *end != '\0') || out < 0) {
                error = "flag " + a + " needs a non-negative number";
                return false;
            }
            return true;
        };
        auto seconds = [&](double& out) {
            auto v = value();
            auto s = v ? parse_seconds(*v) : std::nullopt;
            if (!s) {
                error = "flag " + a + " needs a duration such as 10s";
                return false;
            }
            out = *s;
            return true;
        };
        auto text = [&](std::string& out) {
            auto v = value();
            if (!v) {
                error = "flag " + a + " needs a value";
                return false;
            }
            out = *v;
            return true;
        };
        double n = 0;
        bool ok = true;
        if (a == "--rate")
            ok = number(o.rate);
        else if (a == "--concurrency")
            ok = number(n) && (o.concurrency = static_cast<int>(n), o.concurrency > 0);
        else if (a == "--duration")
            ok = seconds(o.duration);
        else if (a == "--ramp")
            ok = seconds(o.ramp);
        else if (a == "--call-duration")
            ok = seconds(o.call_duration);
        else if (a == "--identities")
            ok = number(n) && (o.identities = static_cast<int>(n), o.identities > 0);
        else if (a == "--edge-url")
            ok = text(o.edge_url);
        else if (a == "--api-url")
            ok = text(o.api_url);
        else if (a == "--edge-token")
            ok = text(o.edge_token);
        else if (a == "--api-key")
            ok = text(o.api_key);
        else if (a == "--agent-listen")
            ok = text(o.agent_listen);
        else if (a == "--json")
            ok = text(o.json_file);
        else if (a == "--html")
            ok = text(o.html_file);
        else if (a == "--compare")
            ok = text(o.compare_file);
        else if (a == "--webhook-latency")
            ok = seconds(o.webhook_latency);
        else if (a == "--webhook-failure-rate")
            ok = number(o.webhook_failure_rate) && o.webhook_failure_rate <= 1;
        else if (a == "--webhook-listen")
            ok = text(o.webhook_listen);
        else if (a == "--max-p99")
            ok = number(o.max_p99_ms);
        else if (a == "--max-error-rate")
            ok = number(o.max_error_rate);
        else if (a == "--threads")
            ok = number(n) && (o.threads = static_cast<int>(n), o.threads > 0 && o.threads <= 64);
        else if (a == "--number")
            ok = text(o.number);
        else if (a == "--keep")
            o.keep = true;
        else if (a == "--no-setup")
            o.setup = false;
        else if (a == "--proxy")
            o.proxy = true;
        else {
            error = "unknown flag " + a;
            return false;
        }
        if (!ok) {
            if (error.empty())
                error = "bad value for " + a;
            return false;
        }
    }
    for (auto* url : {&o.edge_url, &o.api_url}) {
        for (std::string prefix : {"http://", "ws://"})
            if (url->rfind(prefix, 0) == 0)
                *url = url->substr(prefix.size());
        while (!url->empty() && url->back() == '/')
            url->pop_back();
    }
    if (o.number.empty())
        o.number = o.number_base + "0000000";
    if (o.setup && !o.proxy && o.api_key.empty()) {
        error = "an admin key is needed to create identities (--api-key or CALLGATE_API_KEY), or pass --no-setup";
        return false;
    }
    return true;
}

void split(const std::string& address, std::string& host, std::string& port)
{
    auto colon = address.rfind(':');
    host = address.substr(0, colon);
    port = colon == std::string::npos ? "80" : address.substr(colon + 1);
}

// ------------------------------------------------------------------ results

struct results {
    latency_histogram latency;       // decide: request; bridge: time to answer
    latency_histogram relay_e2c;     // bridge: edge → agent frame latency
    latency_histogram relay_c2e;     // bridge: agent → edge
    latency_histogram window;        // this second, for progress
    std::uint64_t started = 0, completed = 0, errors = 0;
    std::map<std::string, std::uint64_t> error_kinds;
    std::map<std::string, std::uint64_t> outcomes; // "answer" or the reject reason
    std::uint64_t frames_due[2] = {0, 0}, frames_sent[2] = {0, 0}, frames_received[2] = {0, 0};
    std::vector<std::pair<double, double>> p99_over_time; // seconds, ms
    std::vector<std::pair<double, double>> rate_over_time;

    std::mutex mutex; // the decide workers of several threads report through it

    void error(const std::string& kind)
    {
        ++errors;
        ++error_kinds[kind];
    }
    void merge(const results& other)
    {
        latency.merge(other.latency);
        relay_e2c.merge(other.relay_e2c);
        relay_c2e.merge(other.relay_c2e);
        started += other.started;
        completed += other.completed;
        errors += other.errors;
        for (const auto& [k, v] : other.error_kinds)
            error_kinds[k] += v;
        for (const auto& [k, v] : other.outcomes)
            outcomes[k] += v;
        for (int d = 0; d < 2; ++d) {
            frames_due[d] += other.frames_due[d];
            frames_sent[d] += other.frames_sent[d];
            frames_received[d] += other.frames_received[d];
        }
    }
};

// ------------------------------------------------------------------ setup (config API)

struct api_client {
    std::string address, key;

    std::pair<int, std::string> call(http::verb method, const std::string& target, const std::string& body = {})
    {
        asio::io_context ioc;
        std::string host, port;
        split(address, host, port);
        tcp::resolver resolver(ioc);
        beast::tcp_stream stream(ioc);
        beast::error_code ec;
        stream.connect(resolver.resolve(host, port, ec), ec);
        if (ec)
            return {0, ec.message()};
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, address);
        req.set("X-API-Key", key);
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = body;
        }
        req.prepare_payload();
        http::write(stream, req, ec);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        if (!ec)
            http::read(stream, buffer, res, ec);
        if (ec)
            return {0, ec.message()};
        return {static_cast<int>(res.result_int()), res.body()};
    }
};

std::string json_text(const std::string& body, const std::string& key)
{
    auto at = body.find("\"" + key + "\":\"");
    if (at == std::string::npos)
        return {};
    at += key.size() + 4;
    return body.substr(at, body.find('"', at) - at);
}

struct identity {
    std::string id, handle, number;
};

bool create_identities(const options& o, const std::string& client_url, const std::string& webhook_url,
                       std::vector<identity>& out)
{
    api_client api{o.api_url, o.api_key};
    std::mt19937 rng(std::random_device{}());
    std::string run = std::to_string(1000 + rng() % 9000);
    for (int i = 0; i < o.identities; ++i) {
        identity id;
        char number[32];
        std::snprintf(number, sizeof number, "%s%s%06d", o.number_base.c_str(), run.c_str(), i);
        id.number = number;
        id.handle = "load-" + run + "-" + std::to_string(i);
        auto [status, body] = api.call(http::verb::post, "/identities",
                                       "{\"agent_handle\":\"" + id.handle + "\",\"phone_number\":\"" + id.number + "\"}");
        if (status != 201) {
            std::fprintf(stderr, "callgate-load: creating identity %s failed: %d %s\n", id.handle.c_str(), status,
                         body.c_str());
            return false;
        }
        id.id = json_text(body, "id");
        std::string action = webhook_url.empty()
                                 ? "\"incoming_call_action\":\"auto_accept\""
                                 : "\"incoming_call_action\":\"webhook\",\"incoming_call_webhook_url\":\"" + webhook_url + "\"";
        std::tie(status, body) = api.call(http::verb::put, "/incoming-call-action",
                                          "{\"agent_identity_id\":\"" + id.id + "\"," + action +
                                              ",\"client_websocket_url\":\"" + client_url + "\"}");
        if (status != 200) {
            std::fprintf(stderr, "callgate-load: setting the action failed: %d %s\n", status, body.c_str());
            if (body.find("wss://") != std::string::npos)
                std::fprintf(stderr, "callgate-load: start callgate with --allow-insecure-urls for this scenario\n");
            return false;
        }
        out.push_back(id);
    }
    return true;
}

void delete_identities(const options& o, const std::vector<identity>& ids)
{
    api_client api{o.api_url, o.api_key};
    for (const auto& id : ids)
        api.call(http::verb::delete_, "/identities/" + id.handle);
}

// ------------------------------------------------------------------ load shape

// When the i-th call of an open-loop run is due, ramping linearly to `rate` over `ramp` s.
double intended_offset(std::uint64_t i, double rate, double ramp)
{
    double n = static_cast<double>(i);
    double ramp_calls = rate * ramp / 2;
    if (ramp <= 0 || n >= ramp_calls)
        return ramp <= 0 ? n / rate : ramp + (n - ramp_calls) / rate;
    return std::sqrt(2 * n * ramp / rate);
}

struct scheduler {
    const options& o;
    steady::time_point start;
    steady::time_point stop;
    std::uint64_t next = 0;

    // The next call's intended start, or nullopt when the run is over.
    std::optional<steady::time_point> take()
    {
        if (o.rate <= 0)
            return steady::now() < stop ? std::optional<steady::time_point>(steady::now()) : std::nullopt;
        auto due = start + std::chrono::duration_cast<steady::duration>(
                               std::chrono::duration<double>(intended_offset(next, o.rate, o.ramp)));
        if (due >= stop)
            return std::nullopt;
        ++next;
        return due;
    }
};

std::uint64_t micros_since(steady::time_point t)
{
    auto d = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t).count();
    return d < 0 ? 0 : static_cast<std::uint64_t>(d);
}

// ------------------------------------------------------------------ decide

asio::awaitable<void> decide_worker(const options& o, scheduler& s, results& r, const std::vector<identity>& ids,
                                    std::uint64_t seed)
{
    auto ex = co_await asio::this_coro::executor;
    std::string host, port;
    split(o.edge_url, host, port);
    tcp::resolver resolver(ex);
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    std::uint64_t n = seed;
    asio::steady_timer pause(ex);
    for (;;) {
        auto due = s.take();
        if (!due)
            co_return;
        if (*due > steady::now()) {
            pause.expires_at(*due);
            co_await pause.async_wait(use_tuple);
        }
        if (!stream) {
            stream.emplace(ex);
            auto [rec, results_] = co_await resolver.async_resolve(host, port, use_tuple);
            stream->expires_after(std::chrono::seconds(5));
            auto [cec, ep] = rec ? std::tuple(rec, tcp::endpoint{}) : co_await stream->async_connect(results_, use_tuple);
            if (rec || cec) {
                std::lock_guard lock(r.mutex);
                r.error("connect");
                stream.reset();
                ++r.started;
                continue;
            }
            stream->socket().set_option(tcp::no_delay(true));
            buffer.clear();
        }
        const identity* id = ids.empty() ? nullptr : &ids[n++ % ids.size()];
        http::request<http::string_body> req{http::verb::post, "/v1/calls/decide", 11};
        req.set(http::field::host, o.edge_url);
        req.set(http::field::content_type, "application/json");
        req.set("X-Edge-Token", o.edge_token);
        req.body() = "{\"local_phone_number\":\"" + (id ? id->number : o.number) +
                     "\",\"remote_phone_number\":\"+15550199\"}";
        req.prepare_payload();
        {
            std::lock_guard lock(r.mutex);
            ++r.started;
        }
        stream->expires_after(std::chrono::seconds(10));
        auto [wec, wn] = co_await http::async_write(*stream, req, use_tuple);
        http::response<http::string_body> res;
        beast::error_code rec2;
        if (!wec)
            std::tie(rec2, std::ignore) = co_await http::async_read(*stream, buffer, res, use_tuple);
        if (wec || rec2) {
            std::lock_guard lock(r.mutex);
            r.error(rec2 == beast::error::timeout ? "timeout" : "connection");
            stream.reset();
            continue;
        }
        auto latency = micros_since(*due);
        const auto& body = res.body();
        std::string action = json_text(body, "action");
        std::lock_guard lock(r.mutex);
        r.latency.record(latency);
        r.window.record(latency);
        ++r.completed;
        if (res.result_int() != 200) {
            r.error("http_" + std::to_string(res.result_int()));
            continue;
        }
        ++r.outcomes[action == "answer" ? "answer" : json_text(body, "reason")];
        if (!res.keep_alive())
            stream.reset();
    }
}

// ------------------------------------------------------------------ bridge

constexpr std::size_t frame_bytes = 160; // 20 ms of PCMU

std::string stamped_frame(std::uint64_t seq)
{
    std::string f(frame_bytes, '\x7f');
    auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              steady::now().time_since_epoch())
                                              .count());
    std::memcpy(f.data(), &now, 8);
    std::memcpy(f.data() + 8, &seq, 8);
    return f;
}

std::optional<std::uint64_t> stamp_of(const std::string& frame)
{
    if (frame.size() < 16)
        return std::nullopt;
    std::uint64_t t;
    std::memcpy(&t, frame.data(), 8);
    return t;
}

// The audio of a frame as the other side sent it: binary as is, JSON media decoded.
std::optional<std::string> audio_of(const std::string& data, bool binary)
{
    if (binary)
        return data;
    auto at = data.find("\"payload\":\"");
    if (at == std::string::npos || data.find("\"event\":\"media\"") == std::string::npos)
        return std::nullopt;
    at += 11;
    std::string raw;
    if (!callgate::codec::base64_decode(std::string_view(data).substr(at, data.find('"', at) - at), raw))
        return std::nullopt;
    return raw;
}

void measure(results& r, int direction, const std::string& audio)
{
    auto t = stamp_of(audio);
    if (!t)
        return;
    auto now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now().time_since_epoch()).count());
    (direction == 0 ? r.relay_e2c : r.relay_c2e).record(now > *t ? now - *t : 0);
    ++r.frames_received[direction];
}

using ws_stream = websocket::stream<beast::tcp_stream>;

// One side of a call, shared by its coroutines (each holds a reference count).
struct ws_side {
    explicit ws_side(ws_stream stream) : ws(std::move(stream)), tick(ws.get_executor()) {}
    ws_stream ws;
    bool ended = false;
    asio::steady_timer tick; // the sender's pacing timer; cancelled to end the call early
    // Ends the call from the reading side: the sender (the only writer) stops and closes.
    void end()
    {
        ended = true;
        tick.cancel();
    }
};
using side_ptr = std::shared_ptr<ws_side>;

// Sends a frame every 20 ms until `until` or the call ends; counts due vs
// sent. The only writer of its side: when done it sends stop (if
// `hang_up`) and closes. The first frame is due at a random point of the
// first 20 ms: with calls started at a steady rate (every 10 ms for 100 a
// second) the clocks would otherwise tick together, and every server would
// get its frames in bursts of half the calls at once.
asio::awaitable<void> pace_frames(side_ptr side, steady::time_point until, results& r, int direction, bool hang_up)
{
    thread_local std::minstd_rand rng(std::random_device{}());
    auto next = steady::now() + std::chrono::microseconds(std::uniform_int_distribution<int>(0, 19999)(rng));
    std::uint64_t seq = 0;
    while (!side->ended && next < until) {
        side->tick.expires_at(next);
        co_await side->tick.async_wait(use_tuple);
        // Frames due by now (a late wake-up owes several).
        while (next <= steady::now() && next < until && !side->ended) {
            ++r.frames_due[direction];
            auto frame = stamped_frame(seq++);
            side->ws.binary(true);
            auto [ec, n] = co_await side->ws.async_write(asio::buffer(frame), use_tuple);
            if (ec) {
                side->ended = true;
                co_return;
            }
            ++r.frames_sent[direction];
            next += std::chrono::milliseconds(20);
        }
    }
    bool by_us = !side->ended;
    side->ended = true;
    if (hang_up && by_us) {
        side->ws.text(true);
        std::string stop = R"({"event":"stop","reason":"remote"})";
        co_await side->ws.async_write(asio::buffer(stop), use_tuple);
    }
    if (side->ws.is_open())
        co_await side->ws.async_close(websocket::close_code::normal, use_tuple);
}

asio::awaitable<void> agent_session(tcp::socket socket, const options& o, results& r)
{
    auto side = std::make_shared<ws_side>(ws_stream(std::move(socket)));
    auto [aec] = co_await side->ws.async_accept(use_tuple);
    if (aec)
        co_return;
    auto until = steady::now() + std::chrono::duration_cast<steady::duration>(
                                     std::chrono::duration<double>(o.call_duration + 5));
    asio::co_spawn(side->ws.get_executor(), pace_frames(side, until, r, 1, false), asio::detached);
    beast::flat_buffer buffer;
    while (!side->ended) {
        buffer.clear();
        auto [ec, n] = co_await side->ws.async_read(buffer, use_tuple);
        if (ec)
            break;
        std::string data = beast::buffers_to_string(buffer.data());
        if (!side->ws.got_binary() && data.find("\"event\":\"stop\"") != std::string::npos)
            break;
        if (auto audio = audio_of(data, side->ws.got_binary()))
            measure(r, 0, *audio);
    }
    side->end();
}

asio::awaitable<void> agent_server(tcp::acceptor& acceptor, const options& o, results& r)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec)
            co_return;
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), agent_session(std::move(socket), o, r), asio::detached);
    }
}

asio::awaitable<void> bridge_call(const options& o, results& r, const identity* id, steady::time_point due)
{
    auto ex = co_await asio::this_coro::executor;
    std::string host, port;
    split(o.edge_url, host, port);
    tcp::resolver resolver(ex);
    auto side = std::make_shared<ws_side>(ws_stream(ex));
    auto& ws = side->ws;
    auto [rec, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    if (rec) {
        r.error("resolve");
        co_return;
    }
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
    auto [cec, ep] = co_await beast::get_lowest_layer(ws).async_connect(endpoints, use_tuple);
    if (cec) {
        r.error("connect");
        co_return;
    }
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    std::string token = o.edge_token;
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        if (!token.empty())
            req.set("X-Edge-Token", token);
    }));
    auto [hec] = co_await ws.async_handshake(o.edge_url, "/v1/calls/stream", use_tuple);
    if (hec) {
        r.error("handshake");
        co_return;
    }
    std::string number = id ? id->number : o.number;
    std::string first = "{\"event\":\"incoming_call\",\"local_phone_number\":\"" + number +
                        "\",\"remote_phone_number\":\"+15550199\"}";
    ws.text(true);
    auto [wec, wn] = co_await ws.async_write(asio::buffer(first), use_tuple);
    if (wec) {
        r.error("connection");
        co_return;
    }
    beast::flat_buffer buffer;
    if (!o.proxy) {
        auto [dec, dn] = co_await ws.async_read(buffer, use_tuple);
        if (dec) {
            r.error("no_decision");
            co_return;
        }
        std::string decision = beast::buffers_to_string(buffer.data());
        auto latency = micros_since(due);
        r.latency.record(latency);
        r.window.record(latency);
        if (decision.find("\"action\":\"answer\"") == std::string::npos) {
            ++r.outcomes[json_text(decision, "reason")];
            ++r.completed;
            co_return;
        }
    }
    ++r.outcomes["answer"];
    auto until = steady::now() + std::chrono::duration_cast<steady::duration>(
                                     std::chrono::duration<double>(o.call_duration));
    asio::co_spawn(ex, pace_frames(side, until, r, 0, true), asio::detached);
    for (;;) {
        buffer.clear();
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec)
            break;
        std::string data = beast::buffers_to_string(buffer.data());
        if (!ws.got_binary() && data.find("\"event\":\"stop\"") != std::string::npos && !side->ended) {
            r.error("hung_up_early");
            break;
        }
        if (auto audio = audio_of(data, ws.got_binary()))
            measure(r, 1, *audio);
    }
    side->end();
    ++r.completed;
}

asio::awaitable<void> bridge_driver(const options& o, scheduler& s, results& r, const std::vector<identity>& ids)
{
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pause(ex);
    std::uint64_t n = 0;
    int in_flight = 0;
    asio::steady_timer slot(ex);
    for (;;) {
        while (in_flight >= o.concurrency) {
            slot.expires_after(std::chrono::milliseconds(5));
            co_await slot.async_wait(use_tuple);
        }
        auto due = s.take();
        if (!due)
            break;
        if (*due > steady::now()) {
            pause.expires_at(*due);
            co_await pause.async_wait(use_tuple);
        }
        const identity* id = ids.empty() ? nullptr : &ids[n++ % ids.size()];
        ++in_flight;
        ++r.started;
        asio::co_spawn(ex, bridge_call(o, r, id, *due), [&in_flight](std::exception_ptr) { --in_flight; });
    }
    while (in_flight > 0) {
        slot.expires_after(std::chrono::milliseconds(20));
        co_await slot.async_wait(use_tuple);
    }
}

// ------------------------------------------------------------------ webhook responder

struct responder_stats {
    std::uint64_t served = 0, failed = 0;
};

asio::awaitable<void> responder_session(tcp::socket socket, const options& o, responder_stats& stats, std::uint64_t seed)
{
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    std::minstd_rand rng(static_cast<std::uint32_t>(seed));
    std::uniform_real_distribution<double> coin(0, 1);
    asio::steady_timer delay(stream.get_executor());
    for (;;) {
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
        if (ec)
            co_return;
        if (o.webhook_latency > 0) {
            delay.expires_after(std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.webhook_latency)));
            co_await delay.async_wait(use_tuple);
        }
        bool fail = coin(rng) < o.webhook_failure_rate;
        http::response<http::string_body> res{fail ? http::status::internal_server_error : http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = fail ? R"({"error":"injected failure"})" : R"({"action":"answer"})";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        ++stats.served;
        stats.failed += fail ? 1 : 0;
        auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
        if (wec || !req.keep_alive())
            co_return;
    }
}

asio::awaitable<void> responder(tcp::acceptor& acceptor, const options& o, responder_stats& stats)
{
    for (std::uint64_t i = 1;; ++i) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec)
            co_return;
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), responder_session(std::move(socket), o, stats, i), asio::detached);
    }
}

// ------------------------------------------------------------------ reporting

double ms(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

void print_histogram_row(const char* name, const latency_histogram& h)
{
    std::printf("  %-22s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f  (n=%llu)\n", name, ms(h.percentile(0.5)),
                ms(h.percentile(0.9)), ms(h.percentile(0.99)), ms(h.percentile(0.999)), ms(h.max()), h.mean() / 1000.0,
                static_cast<unsigned long long>(h.count()));
}

// What the report and the JSON file say of this run.
run_report report_of(const options& o, const results& r, double elapsed, double error_rate, std::time_t started_at)
{
    run_report out;
    out.scenario = o.scenario;
    char buf[256];
    std::string load = o.rate > 0 ? "open loop, " + std::to_string(static_cast<long>(o.rate)) + " calls/s" +
                                        (o.ramp > 0 ? " (ramp " + std::to_string(static_cast<long>(o.ramp)) + " s)" : "")
                                  : "closed loop, " + std::to_string(o.concurrency) + " at a time";
    std::snprintf(buf, sizeof buf, "%s, %g s, %d identit%s", load.c_str(), o.duration, o.identities,
                  o.identities == 1 ? "y" : "ies");
    out.parameters = buf;
    if (o.scenario == "bridge")
        out.parameters += ", calls of " + std::to_string(static_cast<long>(o.call_duration)) + " s" + (o.proxy ? ", proxy" : "");
    else if (o.threads > 1)
        out.parameters += ", " + std::to_string(o.threads) + " threads";
    if (o.scenario == "webhook") {
        std::snprintf(buf, sizeof buf, ", webhook %g ms", o.webhook_latency * 1000);
        out.parameters += buf;
    }
    std::tm utc{};
    ::gmtime_r(&started_at, &utc);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &utc);
    out.date = buf;
    out.duration_s = elapsed;
    out.rate = o.rate;
    out.concurrency = o.concurrency;
    out.started = r.started;
    out.completed = r.completed;
    out.errors = r.errors;
    out.error_rate = error_rate;
    out.throughput_per_s = static_cast<double>(r.completed) / std::max(o.duration, 0.001);
    out.latency = latency_summary::of(r.latency);
    out.relay_edge_to_agent = latency_summary::of(r.relay_e2c);
    out.relay_agent_to_edge = latency_summary::of(r.relay_c2e);
    for (int d = 0; d < 2; ++d) {
        out.frames[d][0] = r.frames_due[d];
        out.frames[d][1] = r.frames_sent[d];
        out.frames[d][2] = r.frames_received[d];
    }
    out.outcomes = r.outcomes;
    out.error_kinds = r.error_kinds;
    out.p99_ms_over_time = r.p99_over_time;
    out.rate_over_time = r.rate_over_time;
    bool bridge = o.scenario == "bridge";
    out.charted = bridge ? "relay_edge_to_agent" : "latency";
    out.curve_ms = run_report::curve_of(bridge ? r.relay_e2c : r.latency);
    return out;
}

bool write_text_file(const std::string& path, const std::string& text)
{
    std::FILE* f = std::fopen(path.c_str(), "w");
    bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f != nullptr)
        ok = std::fclose(f) == 0 && ok;
    if (!ok)
        std::fprintf(stderr, "callgate-load: cannot write %s\n", path.c_str());
    return ok;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(usage, stdout);
        return 0;
    }
    if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
        std::printf("callgate-load %s\n", CALLGATE_VERSION);
        return 0;
    }
    options o;
    std::string error;
    if (!parse_options(argc, argv, o, error)) {
        std::fprintf(stderr, "callgate-load: %s (see 'callgate-load --help')\n", error.c_str());
        return 2;
    }
    run_report before;
    if (!o.compare_file.empty()) {
        std::ifstream in(o.compare_file, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "callgate-load: cannot read --compare %s\n", o.compare_file.c_str());
            return 2;
        }
        if (std::string why; !from_json(text, before, why)) {
            std::fprintf(stderr, "callgate-load: --compare %s: %s\n", o.compare_file.c_str(), why.c_str());
            return 2;
        }
    }
    asio::io_context ioc(1);
    results r;

    // The built-in voice agent for the bridge scenario.
    std::optional<tcp::acceptor> agent;
    std::string agent_url = "wss://agent.invalid/ws";
    if (o.scenario == "bridge") {
        std::string host, port;
        split(o.agent_listen, host, port);
        agent.emplace(ioc, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))));
        agent_url = "ws://" + host + ":" + std::to_string(agent->local_endpoint().port()) + "/agent";
        asio::co_spawn(ioc, agent_server(*agent, o, r), asio::detached);
        std::printf("agent listening on %s\n", agent_url.c_str());
    }
    std::optional<tcp::acceptor> hook;
    responder_stats hook_stats;
    std::string webhook_url;
    if (o.scenario == "webhook") {
        std::string host, port;
        split(o.webhook_listen, host, port);
        hook.emplace(ioc, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))));
        webhook_url = "http://" + host + ":" + std::to_string(hook->local_endpoint().port()) + "/hook";
        asio::co_spawn(ioc, responder(*hook, o, hook_stats), asio::detached);
        std::printf("webhook responder on %s (latency %.0f ms, failure rate %.2f)\n", webhook_url.c_str(),
                    o.webhook_latency * 1000, o.webhook_failure_rate);
    }
    std::vector<identity> ids;
    if (o.setup && !o.proxy) {
        if (!create_identities(o, agent_url, webhook_url, ids))
            return 1;
        std::printf("created %zu identities\n", ids.size());
    }

    auto start = steady::now();
    std::time_t started_at = std::time(nullptr);
    auto stop = start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration));
    // decide and webhook may use several generator threads, each with its share
    // of the rate and connections; bridge calls stay on one thread.
    int threads = o.scenario == "bridge" ? 1 : o.threads;
    options share = o;
    share.rate = o.rate / threads;
    share.concurrency = std::max(1, o.concurrency / threads);
    std::vector<std::unique_ptr<asio::io_context>> extra_contexts;
    std::vector<std::unique_ptr<results>> extra_results;
    std::vector<std::unique_ptr<scheduler>> schedulers;
    std::vector<std::thread> extra_threads;
    std::atomic<int> live{0};
    bool running = true;
    auto all_results = [&] {
        std::vector<results*> out{&r};
        for (auto& x : extra_results)
            out.push_back(x.get());
        return out;
    };
    for (int t = 0; t < threads; ++t) {
        asio::io_context* context = &ioc;
        results* rr = &r;
        if (t > 0) {
            extra_contexts.push_back(std::make_unique<asio::io_context>(1));
            extra_results.push_back(std::make_unique<results>());
            context = extra_contexts.back().get();
            rr = extra_results.back().get();
        }
        schedulers.push_back(std::make_unique<scheduler>(scheduler{t == 0 && threads == 1 ? o : share, start, stop}));
        auto& sched = *schedulers.back();
        if (o.scenario == "decide" || o.scenario == "webhook") {
            for (int i = 0; i < share.concurrency; ++i) {
                ++live;
                asio::co_spawn(*context,
                               decide_worker(sched.o, sched, *rr, ids, static_cast<std::uint64_t>(t * 100000 + i)),
                               [&live](std::exception_ptr) { --live; });
            }
        } else {
            ++live;
            asio::co_spawn(*context, bridge_driver(o, sched, *rr, ids), [&live](std::exception_ptr) { --live; });
        }
    }
    for (auto& context : extra_contexts)
        extra_threads.emplace_back([c = context.get()] { c->run(); });

    // Progress: a line a second (rewritten in place on a terminal).
    bool tty = ::isatty(STDOUT_FILENO) != 0;
    asio::steady_timer progress(ioc);
    std::uint64_t last_completed = 0;
    std::function<void()> tick = [&] {
        progress.expires_after(std::chrono::seconds(1));
        progress.async_wait([&](beast::error_code ec) {
            if (ec || !running)
                return;
            double t = std::chrono::duration<double>(steady::now() - start).count();
            latency_histogram window;
            std::uint64_t completed = 0, errors = 0;
            for (auto* each : all_results()) {
                std::lock_guard lock(each->mutex);
                window.merge(each->window);
                each->window.reset();
                completed += each->completed;
                errors += each->errors;
            }
            double rate = static_cast<double>(completed - last_completed);
            last_completed = completed;
            double p99 = ms(window.percentile(0.99));
            r.p99_over_time.emplace_back(t, p99);
            r.rate_over_time.emplace_back(t, rate);
            std::printf("%s[%5.0fs] %8.0f calls/s  p99 %8.3f ms  errors %llu%s", tty ? "\r" : "", t, rate, p99,
                        static_cast<unsigned long long>(errors), tty ? "   " : "\n");
            std::fflush(stdout);
            if (live > 0)
                tick();
        });
    };
    tick();
    asio::steady_timer watchdog(ioc);
    std::function<void()> check = [&] {
        watchdog.expires_after(std::chrono::milliseconds(50));
        watchdog.async_wait([&](beast::error_code) {
            if (live == 0) {
                running = false;
                progress.cancel();
                if (agent)
                    agent->close();
                if (hook)
                    hook->close();
                ioc.stop(); // idle keep-alive connections from the engine would keep it running
                return;
            }
            check();
        });
    };
    check();
    ioc.run_for(std::chrono::duration_cast<steady::duration>(
        std::chrono::duration<double>(o.duration + o.call_duration + 30)));
    double elapsed = std::chrono::duration<double>(steady::now() - start).count();
    for (auto& context : extra_contexts)
        context->stop();
    for (auto& t : extra_threads)
        t.join();
    for (auto& x : extra_results)
        r.merge(*x);
    if (tty)
        std::printf("\n");

    if (!o.keep && !ids.empty())
        delete_identities(o, ids);

    // Summary.
    double error_rate = r.started == 0 ? 0 : static_cast<double>(r.errors) / static_cast<double>(r.started);
    std::printf("\n%s: %llu calls started, %llu completed in %.1fs (%.0f calls/s), %llu errors (%.2f%%)\n",
                o.scenario.c_str(), static_cast<unsigned long long>(r.started),
                static_cast<unsigned long long>(r.completed), elapsed,
                static_cast<double>(r.completed) / std::min(elapsed, o.duration + (o.scenario == "bridge" ? o.call_duration : 0)),
                static_cast<unsigned long long>(r.errors), error_rate * 100);
    std::printf("\n  latency (ms)                 p50       p90       p99     p99.9       max      mean\n");
    print_histogram_row(o.scenario == "bridge" ? "time to answer" : "decide", r.latency);
    if (o.scenario == "webhook")
        std::printf("  webhook responder: %llu requests, %llu failed on purpose\n",
                    static_cast<unsigned long long>(hook_stats.served), static_cast<unsigned long long>(hook_stats.failed));
    if (o.scenario == "bridge") {
        print_histogram_row("relay edge->agent", r.relay_e2c);
        print_histogram_row("relay agent->edge", r.relay_c2e);
        const char* dir[] = {"edge->agent", "agent->edge"};
        std::printf("\n  frames          due       sent   received    dropped\n");
        for (int d = 0; d < 2; ++d)
            std::printf("  %-11s %9llu  %9llu  %9llu  %9lld\n", dir[d], static_cast<unsigned long long>(r.frames_due[d]),
                        static_cast<unsigned long long>(r.frames_sent[d]),
                        static_cast<unsigned long long>(r.frames_received[d]),
                        static_cast<long long>(r.frames_sent[d]) - static_cast<long long>(r.frames_received[d]));
    }
    if (!r.outcomes.empty()) {
        std::printf("\n  outcomes:");
        for (const auto& [k, v] : r.outcomes)
            std::printf(" %s=%llu", k.empty() ? "?" : k.c_str(), static_cast<unsigned long long>(v));
        std::printf("\n");
    }
    if (!r.error_kinds.empty()) {
        std::printf("  errors:");
        for (const auto& [k, v] : r.error_kinds)
            std::printf(" %s=%llu", k.c_str(), static_cast<unsigned long long>(v));
        std::printf("\n");
    }

    auto report = report_of(o, r, elapsed, error_rate, started_at);
    if (!o.json_file.empty() && !write_text_file(o.json_file, to_json(report)))
        return 1;
    if (!o.html_file.empty() && !write_text_file(o.html_file, to_html(report, o.compare_file.empty() ? nullptr : &before)))
        return 1;
    if (!o.compare_file.empty()) {
        const auto& now = report.charted == "latency" ? report.latency : report.relay_edge_to_agent;
        const auto& then = before.charted == "latency" ? before.latency : before.relay_edge_to_agent;
        std::printf("\n  compared with %s (%s, %s):\n  p50 %.3f -> %.3f ms, p99 %.3f -> %.3f ms, p99.9 %.3f -> %.3f ms, "
                    "%.0f -> %.0f calls/s\n",
                    o.compare_file.c_str(), before.parameters.c_str(), before.date.c_str(), then.p50, now.p50, then.p99,
                    now.p99, then.p999, now.p999, before.throughput_per_s, report.throughput_per_s);
    }

    int rc = 0;
    double p99 = ms((o.scenario == "bridge" ? r.relay_e2c : r.latency).percentile(0.99));
    if (o.max_p99_ms > 0 && p99 > o.max_p99_ms) {
        std::printf("FAIL: p99 %.3f ms is above --max-p99 %.3f ms\n", p99, o.max_p99_ms);
        rc = 3;
    }
    if (o.max_error_rate >= 0 && error_rate > o.max_error_rate) {
        std::printf("FAIL: error rate %.4f is above --max-error-rate %.4f\n", error_rate, o.max_error_rate);
        rc = 3;
    }
    return rc;
}
