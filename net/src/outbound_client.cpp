#include "callgate/net/outbound_client.hpp"

#include "callgate/codec/url.hpp"

#include "callgate/net/destination_policy.hpp"
#include "eager_socket.hpp"
#include "tls_client.hpp"
#include "ws_stream_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <charconv>
#include <mutex>
#include <random>
#include <stdexcept>
#include <unordered_map>

namespace callgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto idle_keep = std::chrono::seconds(30);

// Breaker and bulkhead state of one origin, shared by all threads.
struct origin_state {
    std::atomic<std::size_t> in_flight{0};
    std::mutex mutex;
    int failures = 0; // consecutive transport failures
    steady::time_point opened_at{};
    bool trial_in_flight = false;

    // Whether a request may go now; `trial` tells if it is the half-open trial.
    bool admit(steady::time_point now, const outbound_options& o, bool& trial)
    {
        std::lock_guard lock(mutex);
        trial = false;
        if (failures < o.breaker_failures)
            return true;
        if (now < opened_at + o.breaker_open_for || trial_in_flight)
            return false;
        trial_in_flight = true;
        trial = true;
        return true;
    }

    // A request that was admitted but never sent (the bulkhead was full): it
    // says nothing about the origin, so the failure count stays as it is.
    void abandon(bool trial)
    {
        std::lock_guard lock(mutex);
        if (trial)
            trial_in_flight = false;
    }

    void record(bool transport_failure, bool trial, steady::time_point now, const outbound_options& o)
    {
        std::lock_guard lock(mutex);
        if (trial)
            trial_in_flight = false;
        if (!transport_failure) {
            failures = 0;
            return;
        }
        ++failures;
        if (failures >= o.breaker_failures)
            opened_at = now; // opens, or re-opens after a failed trial
    }
};

// A bridged call's client WebSocket runs over these (see open_websocket): a
// bare socket through an eager_socket (see eager_socket.hpp), TLS over that.
using bare_socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using frame_socket = detail::eager_socket<bare_socket>;
using bare_tls_stream = asio::ssl::stream<frame_socket>;

// One keep-alive connection, plain or TLS.
struct connection {
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    std::unique_ptr<beast::tcp_stream> plain;
    beast::flat_buffer buffer;
    steady::time_point idle_since{};

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};
using connection_ptr = std::unique_ptr<connection>;

// Idle connections of this thread, by client and origin. Connections belong to
// the thread's io_context, so each thread keeps its own.
thread_local std::unordered_map<std::string, std::vector<connection_ptr>> idle_connections;

struct exchange_result {
    outbound_response response;
    bool reply_started = false;
    bool keep_alive = false;
};

} // namespace

std::string_view to_string(outbound_error e)
{
    switch (e) {
    case outbound_error::none: return "none";
    case outbound_error::blocked: return "blocked";
    case outbound_error::dns: return "dns";
    case outbound_error::connect: return "connect";
    case outbound_error::tls: return "tls";
    case outbound_error::timeout: return "timeout";
    case outbound_error::too_large: return "too_large";
    case outbound_error::protocol: return "protocol";
    case outbound_error::overloaded: return "overloaded";
    case outbound_error::circuit_open: return "circuit_open";
    case outbound_error::bad_url: return "bad_url";
    }
    return "unknown";
}

bool is_transport_failure(outbound_error e)
{
    return e == outbound_error::dns || e == outbound_error::connect || e == outbound_error::tls ||
           e == outbound_error::timeout || e == outbound_error::protocol;
}

bool parse_url(std::string_view url, url_target& out)
{
    codec::url_parts parts;
    if (codec::parse_url(url, parts) != codec::url_syntax::ok)
        return false;
    bool secure = parts.scheme == "https" || parts.scheme == "wss";
    out.scheme = std::move(parts.scheme);
    out.host = std::move(parts.host);
    out.port = parts.port != 0 ? parts.port : secure ? 443 : 80;
    out.target = std::move(parts.target);
    return true;
}

struct outbound_client::impl {
    outbound_options options;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    std::mutex origins_mutex;
    std::unordered_map<std::string, std::shared_ptr<origin_state>> origins;
    std::string pool_prefix;

    std::shared_ptr<origin_state> origin(const std::string& key)
    {
        std::lock_guard lock(origins_mutex);
        auto& slot = origins[key];
        if (!slot)
            slot = std::make_shared<origin_state>();
        return slot;
    }

    asio::awaitable<connection_ptr> connect(const url_target& t, bool secure, steady::time_point deadline,
                                            outbound_response& failure);
    asio::awaitable<exchange_result> exchange(connection& c, http::request<http::string_body>& req,
                                              steady::time_point deadline);
    asio::awaitable<outbound_response> send(http::verb method, std::string url,
                                            std::vector<std::pair<std::string, std::string>> headers,
                                            std::string body, steady::time_point deadline);
    asio::awaitable<websocket_result> open_websocket(std::string url,
                                                     std::vector<std::pair<std::string, std::string>> headers,
                                                     steady::time_point deadline, std::size_t message_limit,
                                                     int send_buffer);
};

namespace {

template <class NextLayer>
asio::awaitable<outbound_client::websocket_result> websocket_handshake(
    NextLayer stream, const url_target& t, const std::vector<std::pair<std::string, std::string>>& headers,
    steady::time_point deadline, std::size_t message_limit)
{
    namespace websocket = beast::websocket;
    outbound_client::websocket_result out;
    websocket::stream<NextLayer> ws(std::move(stream));
    websocket::stream_base::timeout timeouts{};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    timeouts.handshake_timeout = std::max(left, std::chrono::milliseconds(1));
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    ws.read_message_max(message_limit);
    ws.auto_fragment(false);
    ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers)
            req.set(name, value);
    }));
    bool default_port = t.port == 443 || t.port == 80;
    std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
    if (!default_port)
        host += ":" + std::to_string(t.port);
    websocket::response_type res;
    auto [ec] = co_await ws.async_handshake(res, host, t.target, use_tuple);
    if (ec) {
        out.error = steady::now() >= deadline ? outbound_error::timeout : outbound_error::protocol;
        out.detail = "WebSocket handshake with " + t.host + " failed: " + ec.message();
        co_return out;
    }
    for (const auto& field : res)
        out.response_headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.connection = std::make_unique<detail::ws_stream_connection<NextLayer>>(std::move(ws));
    co_return out;
}

} // namespace

asio::awaitable<outbound_client::websocket_result> outbound_client::impl::open_websocket(
    std::string url, std::vector<std::pair<std::string, std::string>> headers, steady::time_point deadline,
    std::size_t message_limit, int send_buffer)
{
    websocket_result out;
    url_target t;
    if (!parse_url(url, t) || !(t.scheme == "wss" || (t.scheme == "ws" && options.allow_insecure))) {
        out.error = outbound_error::bad_url;
        out.detail = "cannot dial " + url;
        co_return out;
    }
    bool secure = t.scheme == "wss";
    // A bridged call's frames go over a bare socket on the io_context's own
    // executor (no beast::tcp_stream, no polymorphic executor per
    // operation), with TLS on top of that socket: the caller must run on an
    // io_context (the edge connection's).
    auto ex = co_await asio::this_coro::executor;
    const auto* io_ex = ex.target<asio::io_context::executor_type>();
    if (io_ex == nullptr)
        throw std::logic_error("outbound_client::open_websocket must run on an io_context's executor");
    auto connect_deadline = std::min(deadline, steady::now() + options.connect_timeout); // TCP and TLS
    outbound_response failure;
    auto c = co_await connect(t, false, deadline, failure); // TCP only
    if (!c) {
        out.error = failure.error;
        out.detail = failure.detail;
        co_return out;
    }
    auto released = c->plain->release_socket();
    beast::error_code ec;
    auto protocol = released.local_endpoint(ec).protocol();
    auto handle = ec ? -1 : released.release(ec);
    if (ec) {
        out.error = outbound_error::connect;
        out.detail = "cannot take over the connection to " + t.host + ": " + ec.message();
        co_return out;
    }
    bare_socket socket(*io_ex, protocol, handle);
    beast::error_code ignored;
    socket.set_option(asio::socket_base::send_buffer_size(send_buffer), ignored);
    if (!secure) {
        auto op = websocket_handshake(frame_socket(std::move(socket)), t, headers, deadline, message_limit);
        co_return co_await std::move(op);
    }
    bare_tls_stream stream(frame_socket(std::move(socket)), tls);
    detail::verify_server(stream, t.host);
    asio::steady_timer timer(ex, connect_deadline);
    auto result = co_await (stream.async_handshake(asio::ssl::stream_base::client, use_tuple) ||
                            timer.async_wait(use_tuple));
    if (result.index() == 1) {
        out.error = steady::now() >= deadline ? outbound_error::timeout : outbound_error::tls;
        out.detail = "TLS with " + t.host + " failed: no handshake within the connect timeout";
        co_return out;
    }
    if (auto [hec] = std::get<0>(result); hec) {
        out.error = steady::now() >= deadline ? outbound_error::timeout : outbound_error::tls;
        out.detail = "TLS with " + t.host + " failed: " + hec.message();
        co_return out;
    }
    auto op = websocket_handshake(std::move(stream), t, headers, deadline, message_limit);
    co_return co_await std::move(op);
}

asio::awaitable<connection_ptr> outbound_client::impl::connect(const url_target& t, bool secure,
                                                               steady::time_point deadline,
                                                               outbound_response& failure)
{
    auto ex = co_await asio::this_coro::executor;
    auto connect_deadline = std::min(deadline, steady::now() + options.connect_timeout);
    auto fail = [&](outbound_error e, std::string detail) -> connection_ptr {
        failure.error = steady::now() >= deadline && e != outbound_error::blocked ? outbound_error::timeout : e;
        failure.detail = std::move(detail);
        return nullptr;
    };

    // Resolve once; keep only the addresses the policy allows; dial only those.
    std::vector<tcp::endpoint> endpoints;
    if (detail::is_ip_literal(t.host)) {
        endpoints.emplace_back(asio::ip::make_address(t.host), t.port);
    } else {
        tcp::resolver resolver(ex);
        asio::steady_timer timer(ex, connect_deadline);
        auto result = co_await (resolver.async_resolve(t.host, std::to_string(t.port), use_tuple) ||
                                timer.async_wait(use_tuple));
        if (result.index() == 1)
            co_return fail(outbound_error::timeout, "DNS lookup of " + t.host + " timed out");
        auto [ec, results] = std::get<0>(result);
        if (ec)
            co_return fail(outbound_error::dns, "cannot resolve " + t.host + ": " + ec.message());
        for (const auto& entry : results)
            endpoints.push_back(entry.endpoint());
    }
    std::vector<tcp::endpoint> allowed;
    for (const auto& ep : endpoints)
        if (options.allow_private_destinations || is_public_address(ep.address()))
            allowed.push_back(ep);
    if (allowed.empty())
        co_return fail(outbound_error::blocked, t.host + " resolves only to addresses refused by the destination policy");

    auto c = std::make_unique<connection>();
    c->plain = std::make_unique<beast::tcp_stream>(ex);
    c->plain->expires_at(connect_deadline);
    auto [cec, ep] = co_await c->plain->async_connect(allowed, use_tuple);
    if (cec)
        co_return fail(outbound_error::connect, "cannot connect to " + t.host + ": " + cec.message());
    c->plain->socket().set_option(tcp::no_delay(true));
    if (!secure)
        co_return c;

    c->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*c->plain), tls);
    c->plain.reset();
    detail::verify_server(*c->secure, t.host);
    c->lowest().expires_at(connect_deadline);
    auto [hec] = co_await c->secure->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec)
        co_return fail(outbound_error::tls, "TLS with " + t.host + " failed: " + hec.message());
    co_return c;
}

asio::awaitable<exchange_result> outbound_client::impl::exchange(connection& c, http::request<http::string_body>& req,
                                                                 steady::time_point deadline)
{
    exchange_result out;
    c.lowest().expires_at(deadline);
    beast::error_code ec;
    if (c.secure)
        std::tie(ec, std::ignore) = co_await http::async_write(*c.secure, req, use_tuple);
    else
        std::tie(ec, std::ignore) = co_await http::async_write(*c.plain, req, use_tuple);
    if (ec) {
        out.response.error = ec == beast::error::timeout ? outbound_error::timeout : outbound_error::protocol;
        out.response.detail = "sending the request failed: " + ec.message();
        co_return out;
    }
    out.response.request_sent = true;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_reply_body);
    parser.header_limit(16 * 1024);
    if (c.secure)
        std::tie(ec, std::ignore) = co_await http::async_read(*c.secure, c.buffer, parser, use_tuple);
    else
        std::tie(ec, std::ignore) = co_await http::async_read(*c.plain, c.buffer, parser, use_tuple);
    out.reply_started = parser.got_some();
    if (ec) {
        if (ec == beast::error::timeout)
            out.response.error = outbound_error::timeout;
        else if (ec == http::error::body_limit)
            out.response.error = outbound_error::too_large;
        else
            out.response.error = outbound_error::protocol;
        out.response.detail = "reading the reply failed: " + ec.message();
        co_return out;
    }
    auto& res = parser.get();
    out.response.status = res.result_int();
    out.response.body = std::move(res.body());
    out.keep_alive = res.keep_alive();
    co_return out;
}

asio::awaitable<outbound_response> outbound_client::impl::send(
    http::verb method, std::string url, std::vector<std::pair<std::string, std::string>> headers, std::string body,
    steady::time_point deadline)
{
    outbound_response failure;
    url_target t;
    if (!parse_url(url, t) || !(t.scheme == "https" || (t.scheme == "http" && options.allow_insecure))) {
        failure.error = outbound_error::bad_url;
        failure.detail = "cannot dial " + url;
        co_return failure;
    }
    bool secure = t.scheme == "https";
    std::string origin_key = t.scheme + "://" + t.host + ":" + std::to_string(t.port);
    auto state = origin(origin_key);
    bool trial = false;
    if (!state->admit(steady::now(), options, trial)) {
        failure.error = outbound_error::circuit_open;
        failure.detail = "circuit open for " + origin_key;
        co_return failure;
    }
    if (state->in_flight.fetch_add(1) >= options.max_in_flight_per_origin) {
        state->in_flight.fetch_sub(1);
        state->abandon(trial);
        failure.error = outbound_error::overloaded;
        failure.detail = "too many requests in flight to " + origin_key;
        co_return failure;
    }
    struct in_flight_guard {
        origin_state& s;
        ~in_flight_guard() { s.in_flight.fetch_sub(1); }
    } guard{*state};

    http::request<http::string_body> req{method, t.target, 11};
    bool default_port = (secure && t.port == 443) || (!secure && t.port == 80);
    std::string host_header = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
    req.set(http::field::host, default_port ? host_header : host_header + ":" + std::to_string(t.port));
    req.set(http::field::user_agent, options.user_agent);
    for (const auto& [name, value] : headers)
        req.set(name, value);
    req.keep_alive(true);
    if (method != http::verb::get) {
        req.body() = std::move(body);
        req.prepare_payload();
    }

    exchange_result result;
    bool done = false;
    // A pooled connection first; one that turns out closed before any reply is dropped.
    auto& pool = idle_connections[pool_prefix + origin_key];
    while (!pool.empty() && !done) {
        auto c = std::move(pool.back());
        pool.pop_back();
        if (steady::now() - c->idle_since > idle_keep)
            continue;
        result = co_await exchange(*c, req, deadline);
        if (result.response.error == outbound_error::none || result.reply_started ||
            result.response.error == outbound_error::timeout) {
            done = true;
            if (result.response.error == outbound_error::none && result.keep_alive &&
                pool.size() < options.max_idle_per_origin) {
                c->idle_since = steady::now();
                pool.push_back(std::move(c));
            }
        }
    }
    if (!done) {
        connection_ptr c;
        for (int attempt = 0; attempt < 2 && !c; ++attempt) {
            failure = {};
            c = co_await connect(t, secure, deadline, failure);
            if (c || failure.error != outbound_error::connect || attempt == 1)
                break;
            // One retry, only because no connection could be made, after a jittered pause.
            thread_local std::minstd_rand jitter_source{std::random_device{}()};
            auto pause = std::chrono::milliseconds(25 + static_cast<int>(jitter_source() % 75));
            if (steady::now() + pause + std::chrono::milliseconds(50) >= deadline)
                break;
            asio::steady_timer timer(co_await asio::this_coro::executor, pause);
            co_await timer.async_wait(use_tuple);
        }
        if (!c) {
            state->record(is_transport_failure(failure.error), trial, steady::now(), options);
            co_return failure;
        }
        result = co_await exchange(*c, req, deadline);
        if (result.response.error == outbound_error::none && result.keep_alive &&
            pool.size() < options.max_idle_per_origin) {
            c->idle_since = steady::now();
            pool.push_back(std::move(c));
        }
    }
    bool transport_failure = is_transport_failure(result.response.error) ||
                             (result.response.error == outbound_error::none && result.response.status >= 500);
    state->record(transport_failure, trial, steady::now(), options);
    co_return std::move(result.response);
}

outbound_client::outbound_client(outbound_options options) : impl_(std::make_shared<impl>())
{
    impl_->options = std::move(options);
    auto& ctx = impl_->tls;
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    ctx.set_default_verify_paths();
    if (!impl_->options.ca_file.empty()) {
        beast::error_code ec;
        ctx.load_verify_file(impl_->options.ca_file, ec);
        if (ec)
            throw std::runtime_error("cannot load CA file " + impl_->options.ca_file + ": " + ec.message());
    }
    impl_->pool_prefix = std::to_string(reinterpret_cast<std::uintptr_t>(impl_.get())) + "|";
}

outbound_client::~outbound_client() = default;

asio::awaitable<outbound_client::websocket_result> outbound_client::open_websocket(
    std::string url, std::vector<std::pair<std::string, std::string>> headers, steady::time_point deadline,
    std::size_t message_limit, int send_buffer)
{
    auto self = impl_;
    auto op = self->open_websocket(std::move(url), std::move(headers), deadline, message_limit, send_buffer);
    co_return co_await std::move(op);
}

asio::awaitable<outbound_response> outbound_client::post(std::string url,
                                                         std::vector<std::pair<std::string, std::string>> headers,
                                                         std::string body, steady::time_point deadline)
{
    auto self = impl_; // keeps the client alive for the coroutine
    // Made outside the co_await expression: GCC 12 mishandles class-type temporaries inside it.
    auto op = self->send(http::verb::post, std::move(url), std::move(headers), std::move(body), deadline);
    co_return co_await std::move(op);
}

asio::awaitable<outbound_response> outbound_client::get(std::string url,
                                                        std::vector<std::pair<std::string, std::string>> headers,
                                                        steady::time_point deadline)
{
    auto self = impl_;
    auto op = self->send(http::verb::get, std::move(url), std::move(headers), {}, deadline);
    co_return co_await std::move(op);
}

} // namespace callgate::net
