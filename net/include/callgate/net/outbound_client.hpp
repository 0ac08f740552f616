#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::net {

class ws_connection;

enum class outbound_error {
    none,
    blocked,      // every resolved address is refused by the destination policy
    dns,          // the host name did not resolve
    connect,      // TCP connect failed or timed out (after the one retry)
    tls,          // TLS handshake or certificate verification failed
    timeout,      // the deadline passed after the request was sent (or while connecting)
    too_large,    // the reply body is over the limit
    protocol,     // the reply is not HTTP, or the connection broke mid-reply
    overloaded,   // the per-origin concurrency cap is reached
    circuit_open, // the origin's circuit breaker is open
    bad_url,      // the URL cannot be dialled
};

std::string_view to_string(outbound_error e);

// Whether an error means the origin could not be reached (a circuit-breaker failure).
bool is_transport_failure(outbound_error e);

struct outbound_response {
    outbound_error error = outbound_error::none;
    unsigned status = 0; // when error == none
    std::string body;
    std::string detail;      // for logs: what failed, in words
    bool request_sent = false;
};

struct outbound_options {
    std::chrono::milliseconds connect_timeout{1000};
    std::size_t max_reply_body = 64 * 1024;
    bool allow_private_destinations = false;
    bool allow_insecure = false; // http:// URLs (labs and tests)
    std::string ca_file;         // extra trust anchors
    std::size_t max_in_flight_per_origin = 256;
    int breaker_failures = 5;
    std::chrono::milliseconds breaker_open_for{30'000};
    std::size_t max_idle_per_origin = 64;
    std::string user_agent = "callgate";
};

// An HTTPS/1.1 client for webhooks: TLS 1.2+ with certificate and host name
// checks and SNI; the destination policy (resolve once, check every address,
// dial only checked addresses); keep-alive connections pooled per origin and
// per I/O thread; one jittered retry only when no connection could be made; a
// per-origin cap on requests in flight and a circuit breaker.
//
// post() may be called from any I/O thread's coroutine; it never blocks the
// thread and completes by `deadline`. No redirect is ever followed.
class outbound_client {
public:
    // Throws std::runtime_error if the CA file cannot be loaded (a start-up error).
    explicit outbound_client(outbound_options options);
    ~outbound_client();

    struct websocket_result {
        outbound_error error = outbound_error::none;
        std::string detail;
        std::unique_ptr<ws_connection> connection;
        std::vector<std::pair<std::string, std::string>> response_headers;
    };

    // Opens a WebSocket (wss://, or ws:// when insecure URLs are allowed) with
    // the same TLS checks and destination policy as post(); no breaker or
    // bulkhead. The handshake must complete by `deadline`. Messages over
    // `message_limit` fail the connection with 1009.
    boost::asio::awaitable<websocket_result> open_websocket(std::string url,
                                                             std::vector<std::pair<std::string, std::string>> headers,
                                                             std::chrono::steady_clock::time_point deadline,
                                                             std::size_t message_limit, int send_buffer);

    boost::asio::awaitable<outbound_response> post(std::string url,
                                                   std::vector<std::pair<std::string, std::string>> headers,
                                                   std::string body,
                                                   std::chrono::steady_clock::time_point deadline);
    // A GET with the same checks, pooling, cap and breaker as post().
    boost::asio::awaitable<outbound_response> get(std::string url,
                                                  std::vector<std::pair<std::string, std::string>> headers,
                                                  std::chrono::steady_clock::time_point deadline);

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

// A URL split for dialling (codec::parse_url's rules): scheme in lower case,
// host (no brackets), port (443 or 80 by the scheme when the URL names none),
// target.
struct url_target {
    std::string scheme;
    std::string host;
    std::uint16_t port = 0;
    std::string target; // path and query, "/" at least
};
bool parse_url(std::string_view url, url_target& out);

} // namespace callgate::net
