#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace callgate::net {

enum class body_status {
    ok,
    too_large, // over the body limit: the connection will be closed after the response
    failed,    // timed out, reset, or malformed: the connection is closed
};

// What a handler sees of one request. Valid only during the handler's call.
class http_request {
public:
    virtual ~http_request() = default;
    virtual std::string_view method() const = 0; // e.g. "GET"
    virtual std::string_view target() const = 0; // path and query, as sent
    // The value of the first header with this name (case-insensitive), or "".
    virtual std::string_view header(std::string_view name) const = 0;
    // Whether the request says it carries a body (Content-Length > 0, or chunked).
    virtual bool has_body() const = 0;
    // The declared Content-Length, if any.
    virtual std::optional<std::uint64_t> content_length() const = 0;
    // Whether this is a WebSocket upgrade request.
    virtual bool is_websocket_upgrade() const = 0;
    // The request's id: the client's X-Request-ID when sane, else a generated
    // one. The response carries it back as X-Request-ID; log lines about the
    // request should carry it too.
    virtual std::string_view request_id() const = 0;
    // Whether http_server_options::answer_now saw this request first and
    // declined it (it may have looked things up: counted cache lookups, say).
    virtual bool answer_now_declined() const { return false; }
    // Reads the whole body into `out`, within the body limit and the request's
    // deadline. Call it once: the body is moved out.
    virtual boost::asio::awaitable<body_status> read_body(std::string& out) = 0;
};

class ws_connection;

struct http_response {
    unsigned status = 200;
    std::string body;
    // A string with static storage (a literal or a constant): every response
    // names one, and most the same.
    std::string_view content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    bool close = false; // close the connection after this response
    // The route pattern the handler matched, e.g. "/identities/{agent_handle}",
    // for the access log and metrics: never the raw path. It must outlive the
    // server (a string literal or a route table's row). Empty: no route
    // matched ("unmatched").
    std::string_view route;
    // When set (on a WebSocket upgrade request), the server accepts the
    // upgrade instead of sending this response and runs `websocket` on the
    // connection until it returns.
    std::function<boost::asio::awaitable<void>(ws_connection&)> websocket;
};

using http_handler = std::function<boost::asio::awaitable<http_response>(http_request&)>;

// A whole request the server already holds (header and body), offered to
// http_server_options::answer_now. Valid only during that call.
class ready_request {
public:
    virtual ~ready_request() = default;
    virtual std::string_view method() const = 0;
    virtual std::string_view target() const = 0;
    // The value of the first header with this name (case-insensitive), or "".
    virtual std::string_view header(std::string_view name) const = 0;
    virtual std::string_view body() const = 0;
    virtual std::string_view request_id() const = 0;
};

// What http_server_options::answer_now did with a request.
enum class ready_result {
    answered, // the response is filled; it is sent keep-alive (its `close` and
              // `websocket` are not honoured) and must name its route
    declined, // nothing done: the http_handler answers this request, and the
              // connection comes back to answer_now when it waits again
    elsewhere // nothing done: the http_handler answers this request and every
              // later one on the connection (its traffic is not answer_now's:
              // moving it back and forth would cost more than it saves)
};

// Answers a request at once, on the I/O thread, without waiting for anything.
using ready_handler = std::function<ready_result(const ready_request&, http_response&)>;

// The Content-Type of a Prometheus text exposition (/metrics).
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// The credentials of an "Authorization: Bearer <token>" header value ("Bearer"
// in any case, spaces after it skipped); "" for another scheme.
std::string_view bearer_token(std::string_view authorization);

// Whether a Content-Type value names application/json (in any case; its
// parameters, such as "; charset=utf-8", are not looked at).
bool is_json_media_type(std::string_view content_type);

// A JSON response with this status and body.
http_response json_response(unsigned status, std::string body);
// An error response: {"detail": "<detail>"} with this status.
http_response json_error(unsigned status, std::string_view detail);

// What /readyz answers: 200 when `ready` (a degraded node that still decides
// calls is ready), else 503, with `body` (JSON) either way.
struct readiness_report {
    bool ready = true;
    std::string body = "{\"status\":\"ready\"}";
};
http_response readiness_response(const readiness_report& report);

struct tls_files {
    std::string cert_file; // PEM chain
    std::string key_file;  // PEM private key
};

// One request the server answered, as the access log and on_request see it.
// Views valid only during the on_request call.
struct request_summary {
    std::string_view listener;   // http_server_options::name
    std::string_view method;     // "GET"; "-" when the request line did not parse
    std::string_view route;      // http_response::route, or "unmatched"
    unsigned status = 0;         // 101 for an accepted WebSocket upgrade
    std::uint64_t bytes_sent = 0; // status line, headers and body (0 for an upgrade)
    // From the request's first byte to its response written (an upgrade: to its handshake done).
    std::chrono::nanoseconds duration{0};
    std::string_view request_id;
    std::string_view remote;     // the client's "host:port"
};

struct http_server_options {
    std::string name = "api";   // for logs and metrics
    std::string listen = "127.0.0.1:0";
    std::optional<tls_files> tls;
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 64 * 1024;
    // A request's header and body must arrive within this time of its first byte.
    std::chrono::milliseconds read_timeout{10'000};
    // A keep-alive connection with no request for this long is closed.
    std::chrono::milliseconds idle_timeout{60'000};
    // WebSocket connections accepted on this listener.
    std::size_t websocket_message_limit = 64 * 1024; // larger messages fail the connection with 1009
    std::chrono::milliseconds websocket_idle_timeout{30'000}; // no frame for this long ends it
    int websocket_send_buffer = 32 * 1024;                  // SO_SNDBUF: backpressure within ~1 s of audio
    // Paths where HEAD is handed to the handler as GET (health probes). The
    // reply to any HEAD carries the status and headers only, never a body.
    std::vector<std::string> head_paths;
    // One info line per request (event "http_request"): listener, method,
    // route, status, bytes, duration, request id and client address.
    bool access_log = true;
    // Called on the I/O thread after every response (for metrics): must be
    // quick and must not block.
    std::function<void(const request_summary&)> on_request;
    // Optional, plain TCP only (ignored with `tls`): tried first on every
    // request that arrived whole, with a body of known length, keep-alive,
    // no Expect and no upgrade. With it, connections between requests wait in
    // a per-thread epoll set of the server's own instead of in Asio
    // operations, and a request answer_now answers costs one recv and one
    // send. Anything else -- a request in pieces, an error, a decline -- moves
    // the connection, with the bytes already read, to its coroutine session,
    // which hands it back once it waits for a request again.
    ready_handler answer_now;
};

// An HTTP/1.1 server: one acceptor, connections spread over the given
// io_contexts (one per thread), one coroutine per connection. Every read has
// a size cap and a deadline: headers over the limit get 431, bodies over the
// limit 413 (by the handler), and a client that stalls is dropped.
//
// listen() and start() are called once from the starting thread; drain() and
// the counters from any thread.
class http_server {
public:
    http_server(std::vector<boost::asio::io_context*> contexts, http_server_options options,
                http_handler handler);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds and listens; on failure returns false with one line in `error`.
    bool listen(std::string& error);
    // "host:port" actually bound (port 0 resolved).
    std::string local_address() const;
    // Starts accepting on the first context.
    void start();
    // From now on every response says `Connection: close` and its connection
    // closes after it; the listener keeps accepting and serving. The first step
    // of a drain: keep-alive clients (load balancers) reconnect, and so move
    // away from a node whose /readyz says it is draining.
    void stop_keep_alive();
    // Stops accepting; connections close after their response in flight, idle
    // ones at once. Implies stop_keep_alive(). WebSocket sessions are not cut:
    // their owner ends them.
    void drain();
    std::size_t active_connections() const;
    // Blocks until no connection is left or `deadline` passes; returns whether
    // none is left. Any thread but the I/O threads.
    bool wait_idle(std::chrono::steady_clock::time_point deadline) const;

    // Responses sent, by status code (index 100-599).
    std::uint64_t responses_with_status(unsigned status) const;
    const http_server_options& options() const { return options_; }

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    http_server_options options_;
};

// Splits "host:port" ("[v6]:port" too). Returns false on a malformed address.
bool split_host_port(std::string_view address, std::string& host, std::uint16_t& port);

} // namespace callgate::net
