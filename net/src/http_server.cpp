#include "callgate/net/http_server.hpp"

#include "callgate/net/log.hpp"
#include "callgate/net/request_framing.hpp"
#include "callgate/net/request_id.hpp"
#include "ws_stream_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <mutex>

namespace callgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// What drain() needs to reach a connection: its executor and a way to cut it
// while it waits for its next request.
struct session_token {
    asio::any_io_executor executor;
    bool idle = false; // touched only on `executor`
    std::function<void()> cancel;
    std::string remote; // the client's host:port, for the access log
};

using steady = std::chrono::steady_clock;

std::string format_endpoint(const tcp::endpoint& ep)
{
    auto addr = ep.address();
    std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
    return host + ":" + std::to_string(ep.port());
}

} // namespace

std::string_view bearer_token(std::string_view authorization)
{
    if (authorization.size() <= 7 || !beast::iequals(authorization.substr(0, 7), "Bearer "))
        return {};
    authorization.remove_prefix(7);
    while (!authorization.empty() && authorization.front() == ' ')
        authorization.remove_prefix(1);
    return authorization;
}

http_response json_response(unsigned status, std::string body)
{
    http_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

http_response json_error(unsigned status, std::string_view detail)
{
    std::string body = "{\"detail\":\"";
    for (char c : detail) {
        if (c == '"' || c == '\\')
            body += '\\';
        body += c;
    }
    body += "\"}";
    return json_response(status, std::move(body));
}

http_response readiness_response(const readiness_report& report)
{
    return json_response(report.ready ? 200 : 503, report.body);
}

bool split_host_port(std::string_view address, std::string& host, std::uint16_t& port)
{
    std::string_view port_text;
    if (!address.empty() && address.front() == '[') {
        auto close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
            return false;
        host = std::string(address.substr(1, close - 1));
        port_text = address.substr(close + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return false;
        host = std::string(address.substr(0, colon));
        port_text = address.substr(colon + 1);
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port_text.empty() ||
        value > 65535)
        return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

struct http_server::impl {
    std::vector<asio::io_context*> contexts;
    http_server_options options;
    http_handler handler;
    std::optional<asio::ssl::context> tls;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::atomic<std::size_t> active{0};
    std::atomic<bool> draining{false};   // not accepting; idle connections close
    std::atomic<bool> keep_alive_off{false}; // every response closes its connection
    std::array<std::atomic<std::uint64_t>, 600> status_counts{};
    std::size_t next_context = 0;
    mutable std::mutex sessions_mutex;
    mutable std::condition_variable sessions_gone; // notified when `active` drops to 0
    std::list<std::shared_ptr<session_token>> sessions;

    asio::awaitable<void> accept_loop();
    template <class Stream>
    asio::awaitable<void> run_session(Stream stream, std::shared_ptr<session_token> token);
    template <class Stream>
    asio::awaitable<void> run_websocket(Stream& stream, http::request<http::string_body> request,
                                        std::function<asio::awaitable<void>(ws_connection&)> session,
                                        std::string_view id, std::string_view route,
                                        std::chrono::steady_clock::time_point started, const session_token& token);
    // Serves requests until the connection should close; returns true if it
    // was upgraded to a WebSocket (and `stream` was moved away).
    template <class Stream>
    asio::awaitable<bool> serve_requests(Stream& stream, session_token& token);
    void spawn_session(tcp::socket socket);
    // The access log line and on_request, after a response.
    void finished(std::string_view method, std::string_view route, unsigned status, std::uint64_t bytes_sent,
                  std::chrono::steady_clock::time_point started, std::string_view id, std::string_view remote) const;
    // Whether HEAD on this target (path and query) is answered as its GET.
    bool answers_head(std::string_view target) const
    {
        auto path = target.substr(0, target.find('?'));
        return std::find(options.head_paths.begin(), options.head_paths.end(), path) != options.head_paths.end();
    }
};

namespace {

template <class Stream>
class request_view final : public http_request {
public:
    // `as_get`: a HEAD request the handler answers as its GET.
    request_view(Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
                 std::size_t body_limit, bool as_get, const net::request_id& id)
        : stream_(stream), buffer_(buffer), parser_(parser), body_limit_(body_limit), as_get_(as_get), id_(id)
    {
    }

    std::string_view method() const override { return as_get_ ? "GET" : parser_.get().method_string(); }
    std::string_view target() const override { return parser_.get().target(); }
    std::string_view header(std::string_view name) const override
    {
        const auto& fields = parser_.get();
        auto it = fields.find(beast::string_view(name.data(), name.size()));
        return it == fields.end() ? std::string_view{} : std::string_view(it->value());
    }
    bool is_websocket_upgrade() const override { return beast::websocket::is_upgrade(parser_.get()); }
    std::string_view request_id() const override { return id_.view(); }
    bool has_body() const override
    {
        auto length = parser_.content_length();
        return parser_.chunked() || (length && *length > 0);
    }
    std::optional<std::uint64_t> content_length() const override
    {
        auto length = parser_.content_length();
        return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
    }

    asio::awaitable<body_status> read_body(std::string& out) override
    {
        if (state_ == body_state::read)
            co_return body_status::failed; // the body was handed out already
        if (state_ == body_state::failed)
            co_return body_status::failed;
        auto length = parser_.content_length();
        if (length && *length > body_limit_) {
            state_ = body_state::failed;
            co_return body_status::too_large;
        }
        if (!parser_.is_done()) {
            if (beast::iequals(header("Expect"), "100-continue")) {
                static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
                auto [ec, n] = co_await asio::async_write(
                    stream_, asio::buffer(interim.data(), interim.size()), use_tuple);
                if (ec) {
                    state_ = body_state::failed;
                    co_return body_status::failed;
                }
            }
            parser_.body_limit(body_limit_);
            // Fast path: a small body that arrived with the header is parsed from
            // the buffer at once, without another trip through the reactor.
            if (length && buffer_.size() >= *length) {
                beast::error_code ec;
                while (!parser_.is_done() && !ec && buffer_.size() > 0) {
                    auto used = parser_.put(buffer_.data(), ec);
                    buffer_.consume(used);
                    if (used == 0)
                        break;
                }
                if (ec == http::error::need_more)
                    ec = {};
                if (ec) {
                    state_ = body_state::failed;
                    co_return ec == http::error::body_limit ? body_status::too_large : body_status::failed;
                }
            }
        }
        if (!parser_.is_done()) {
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser_, use_tuple);
            if (ec) {
                state_ = body_state::failed;
                co_return ec == http::error::body_limit ? body_status::too_large : body_status::failed;
            }
        }
        state_ = body_state::read;
        out = std::move(parser_.get().body());
        co_return body_status::ok;
    }

    bool body_pending() const { return state_ == body_state::unread && has_body(); }
    bool body_failed() const { return state_ == body_state::failed; }

private:
    enum class body_state { unread, read, failed };
    Stream& stream_;
    beast::flat_buffer& buffer_;
    http::request_parser<http::string_body>& parser_;
    std::size_t body_limit_;
    bool as_get_;
    const net::request_id& id_;
    body_state state_ = body_state::unread;
};

http::response<http::string_body> make_response(http_response& r, unsigned version, bool keep, std::string_view id)
{
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "callgate");
    res.set("X-Request-ID", beast::string_view(id.data(), id.size()));
    if (!r.body.empty() || r.status != 204)
        res.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers)
        res.set(name, value);
    res.body() = std::move(r.body);
    res.keep_alive(keep);
    res.prepare_payload();
    return res;
}

// The framing verdict for a parsed request header (RFC 9112 §6).
framing_verdict check_framing(const http::request_parser<http::string_body>& parser)
{
    const auto& fields = parser.get();
    std::vector<std::string_view> lengths, codings;
    auto cl = fields.equal_range(http::field::content_length);
    for (auto it = cl.first; it != cl.second; ++it)
        lengths.emplace_back(it->value());
    auto te = fields.equal_range(http::field::transfer_encoding);
    for (auto it = te.first; it != te.second; ++it)
        codings.emplace_back(it->value());
    if (lengths.empty() && codings.empty())
        return {};
    return check_request_framing(fields.version(), lengths, codings);
}

// An error that ends the connection. The details passed here are fixed ASCII text.
http_response plain_error(unsigned status, std::string_view detail)
{
    http_response r = json_error(status, detail);
    r.close = true;
    return r;
}

} // namespace

template <class Stream>
asio::awaitable<bool> http_server::impl::serve_requests(Stream& stream, session_token& token)
{
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer(options.header_limit + options.body_limit + 16 * 1024);
    request_id id;
    for (;;) {
        if (buffer.size() == 0) {
            if (draining.load())
                co_return false;
            token.idle = true;
            lowest.expires_after(options.idle_timeout);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
            token.idle = false;
            if (ec)
                co_return false;
            buffer.commit(n);
        }
        auto started = steady::now(); // the request's first byte is in
        lowest.expires_after(options.read_timeout);
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
        // The body limit applies when the handler reads the body, so that an
        // oversize Content-Length reaches the handler (401 comes before 413).
        parser.body_limit(boost::none);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
        http_response response;
        bool keep = false;
        bool head = false; // HEAD: the status and headers only, never a body (RFC 9110 §9.3.2)
        unsigned version = 11;
        if (ec == http::error::header_limit) {
            id.generate();
            response = plain_error(431, "Request headers too large");
        } else if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
                   ec == asio::error::eof || ec == asio::error::connection_reset ||
                   ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated) {
            co_return false;
        } else if (ec) {
            id.generate();
            response = plain_error(400, "Malformed HTTP request");
        } else if (auto framing = check_framing(parser); framing.status != 0) {
            id.assign(parser.get()["X-Request-ID"]);
            response = plain_error(framing.status, framing.detail);
        } else {
            id.assign(parser.get()["X-Request-ID"]);
            version = parser.get().version();
            head = parser.get().method() == http::verb::head;
            request_view<Stream> view(stream, buffer, parser, options.body_limit,
                                      head && answers_head(parser.get().target()), id);
            try {
                response = co_await handler(view);
            } catch (const std::exception& e) {
                log(log_level::error, "handler_failed", "A request handler failed; answered 500",
                    {{"listener", options.name}, {"request_id", id.view()}, {"error", e.what()}});
                response = plain_error(500, "Internal Server Error");
            }
            if (response.websocket && view.is_websocket_upgrade()) {
                co_await run_websocket(stream, parser.release(), std::move(response.websocket), id.view(),
                                       response.route, started, token);
                co_return true;
            }
            keep = parser.get().keep_alive() && !response.close && !keep_alive_off.load() && !framing.close_after;
            if (view.body_failed()) {
                keep = false;
            } else if (keep && view.body_pending()) {
                // Discard a body the handler did not need, if small enough, to keep the connection.
                auto length = view.content_length();
                if (length && *length <= options.body_limit &&
                    !beast::iequals(view.header("Expect"), "100-continue")) {
                    std::string discarded;
                    keep = co_await view.read_body(discarded) == body_status::ok;
                } else {
                    keep = false;
                }
            }
        }
        auto res = make_response(response, version, keep, id.view());
        lowest.expires_after(options.read_timeout);
        http::response_serializer<http::string_body> serializer(res);
        auto [wec, wn] = head ? co_await http::async_write_header(stream, serializer, use_tuple)
                              : co_await http::async_write(stream, serializer, use_tuple);
        finished(parser.get().method_string(), response.route, response.status, wn, started, id.view(), token.remote);
        if (wec)
            co_return false;
        if (response.status < status_counts.size())
            status_counts[response.status].fetch_add(1, std::memory_order_relaxed);
        if (!keep)
            co_return false;
    }
}

void http_server::impl::finished(std::string_view method, std::string_view route, unsigned status,
                                 std::uint64_t bytes_sent, steady::time_point started, std::string_view id,
                                 std::string_view remote) const
{
    request_summary summary{options.name,
                            method.empty() ? std::string_view("-") : method,
                            route.empty() ? std::string_view("unmatched") : route,
                            status,
                            bytes_sent,
                            steady::now() - started,
                            id,
                            remote};
    if (options.access_log && log_enabled(log_level::info)) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(summary.duration).count();
        char msg[160];
        std::snprintf(msg, sizeof msg, "%.*s %.*s answered %u in %lld us", static_cast<int>(summary.method.size()),
                      summary.method.data(), static_cast<int>(summary.route.size()), summary.route.data(),
                      summary.status, static_cast<long long>(us));
        log(log_level::info, "http_request", msg,
            {{"listener", summary.listener},
             {"method", summary.method},
             {"route", summary.route},
             {"status", summary.status},
             {"bytes_sent", summary.bytes_sent},
             {"duration_us", us},
             {"request_id", summary.request_id},
             {"remote", summary.remote}});
    }
    if (options.on_request)
        options.on_request(summary);
}

template <class Stream>
asio::awaitable<void> http_server::impl::run_websocket(
    Stream& stream, http::request<http::string_body> request,
    std::function<asio::awaitable<void>(ws_connection&)> session, std::string_view id, std::string_view route,
    steady::time_point started, const session_token& token)
{
    namespace websocket = beast::websocket;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_never(); // the websocket stream keeps its own timeouts
    beast::error_code ignored;
    lowest.socket().set_option(asio::socket_base::send_buffer_size(options.websocket_send_buffer), ignored);
    websocket::stream<Stream> ws(std::move(stream));
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(5);
    timeouts.idle_timeout = options.websocket_idle_timeout;
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    ws.read_message_max(options.websocket_message_limit);
    ws.auto_fragment(false);
    ws.set_option(websocket::stream_base::decorator([id](websocket::response_type& res) {
        res.set(http::field::server, "callgate");
        res.set("X-Request-ID", beast::string_view(id.data(), id.size()));
    }));
    auto [ec] = co_await ws.async_accept(request, use_tuple);
    // A failed handshake has been answered 400 by Beast, or the peer is gone.
    finished(request.method_string(), route, ec ? 400 : 101, 0, started, id, token.remote);
    if (ec)
        co_return;
    status_counts[101].fetch_add(1, std::memory_order_relaxed);
    detail::ws_stream_connection<Stream> connection(std::move(ws));
    co_await session(connection);
}

template <class Stream>
asio::awaitable<void> http_server::impl::run_session(Stream stream, std::shared_ptr<session_token> token)
{
    auto& lowest = beast::get_lowest_layer(stream);
    token->cancel = [&lowest] {
        beast::error_code ignored;
        lowest.socket().cancel(ignored);
    };
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
        lowest.expires_after(options.read_timeout);
        auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
        if (ec)
            co_return;
        if (co_await serve_requests(stream, *token))
            co_return; // upgraded: the WebSocket session owned and closed the stream
        lowest.expires_after(std::chrono::seconds(2));
        auto [sec] = co_await stream.async_shutdown(use_tuple);
    } else {
        if (co_await serve_requests(stream, *token))
            co_return; // upgraded: the WebSocket session owned and closed the stream
        // Lingering close: stop sending, then read and discard what the client
        // still sends for a moment, so our last response is not lost to a reset.
        beast::error_code ignored;
        lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
        lowest.expires_after(std::chrono::seconds(1));
        std::array<char, 16 * 1024> sink;
        std::size_t drained = 0;
        while (drained < 1024 * 1024) {
            auto [ec, n] = co_await lowest.async_read_some(asio::buffer(sink), use_tuple);
            if (ec)
                break;
            drained += n;
        }
    }
}

void http_server::impl::spawn_session(tcp::socket socket)
{
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    auto token = std::make_shared<session_token>();
    token->executor = executor;
    if (options.access_log) {
        auto peer = socket.remote_endpoint(ignored);
        if (!ignored)
            token->remote = format_endpoint(peer);
    }
    std::list<std::shared_ptr<session_token>>::iterator position;
    {
        std::lock_guard lock(sessions_mutex);
        position = sessions.insert(sessions.end(), token);
        active.fetch_add(1);
    }
    auto finished = [this, position](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(log_level::error, "session_failed", "A connection's session failed; it was closed",
                    {{"listener", options.name}, {"error", ex.what()}});
            }
        }
        std::lock_guard lock(sessions_mutex);
        sessions.erase(position);
        if (active.fetch_sub(1) == 1)
            sessions_gone.notify_all();
    };
    if (tls) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
        asio::co_spawn(executor, run_session(std::move(stream), token), std::move(finished));
    } else {
        asio::co_spawn(executor, run_session(beast::tcp_stream(std::move(socket)), token),
                       std::move(finished));
    }
}

asio::awaitable<void> http_server::impl::accept_loop()
{
    asio::steady_timer backoff(acceptor->get_executor());
    for (;;) {
        auto& target = *contexts[next_context++ % contexts.size()];
        auto [ec, socket] = co_await acceptor->async_accept(target, use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor->is_open())
            co_return;
        if (ec) {
            // Out of descriptors or similar: say so, wait a little, keep serving.
            log(log_level::warn, "accept_failed", "Could not accept a connection; retrying in 50 ms",
                {{"listener", options.name}, {"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds(50));
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        spawn_session(std::move(socket));
    }
}

http_server::http_server(std::vector<asio::io_context*> contexts, http_server_options options,
                         http_handler handler)
    : impl_(std::make_unique<impl>()), options_(options)
{
    impl_->contexts = std::move(contexts);
    impl_->options = std::move(options);
    impl_->handler = std::move(handler);
}

http_server::~http_server() = default;

bool http_server::listen(std::string& error)
{
    auto& o = impl_->options;
    std::string host;
    std::uint16_t port = 0;
    if (!split_host_port(o.listen, host, port)) {
        error = "invalid listen address '" + o.listen + "' (expected host:port)";
        return false;
    }
    if (o.tls) {
        try {
            impl_->tls.emplace(asio::ssl::context::tls_server);
            auto& ctx = *impl_->tls;
            ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
            ctx.use_certificate_chain_file(o.tls->cert_file);
            ctx.use_private_key_file(o.tls->key_file, asio::ssl::context::pem);
        } catch (const std::exception& e) {
            error = "cannot load TLS certificate or key (" + o.tls->cert_file + ", " +
                    o.tls->key_file + "): " + e.what();
            return false;
        }
    }
    auto& ioc = *impl_->contexts.front();
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        error = "cannot resolve listen address '" + o.listen + "': " + ec.message();
        return false;
    }
    tcp::endpoint endpoint = results.begin()->endpoint();
    auto acceptor = std::make_unique<tcp::acceptor>(ioc);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec)
        acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor->bind(endpoint, ec);
    if (!ec)
        acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error = "cannot listen on " + o.listen + ": " + ec.message();
        return false;
    }
    impl_->acceptor = std::move(acceptor);
    return true;
}

std::string http_server::local_address() const
{
    beast::error_code ec;
    auto ep = impl_->acceptor->local_endpoint(ec);
    return ec ? std::string{} : format_endpoint(ep);
}

void http_server::start()
{
    auto* self = impl_.get();
    asio::co_spawn(impl_->acceptor->get_executor(), self->accept_loop(), [](std::exception_ptr) {});
}

void http_server::stop_keep_alive() { impl_->keep_alive_off.store(true); }

void http_server::drain()
{
    auto* self = impl_.get();
    self->keep_alive_off.store(true);
    self->draining.store(true);
    asio::post(self->acceptor->get_executor(), [self] {
        beast::error_code ignored;
        self->acceptor->close(ignored);
    });
    std::lock_guard lock(self->sessions_mutex);
    for (auto& token : self->sessions) {
        asio::post(token->executor, [token] {
            if (token->idle && token->cancel)
                token->cancel();
        });
    }
}

std::size_t http_server::active_connections() const { return impl_->active.load(); }

bool http_server::wait_idle(std::chrono::steady_clock::time_point deadline) const
{
    std::unique_lock lock(impl_->sessions_mutex);
    return impl_->sessions_gone.wait_until(lock, deadline, [this] { return impl_->active.load() == 0; });
}

std::uint64_t http_server::responses_with_status(unsigned status) const
{
    return status < impl_->status_counts.size()
               ? impl_->status_counts[status].load(std::memory_order_relaxed)
               : 0;
}

} // namespace callgate::net
