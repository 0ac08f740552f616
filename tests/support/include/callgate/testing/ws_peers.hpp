#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace callgate::testing {

struct ws_frame {
    enum class kind { data, closed, timeout } what = kind::timeout;
    std::string data;
    bool binary = false;
    std::uint16_t close_code = 0; // for closed: the peer's close code (0 if none)
    std::string close_reason;     // for closed: the reason text of the peer's close frame
};

// A blocking WebSocket peer for tests (one side of a connection), with
// deadlines on every read. Not thread-safe: one reader and one writer thread
// at most.
class ws_peer {
public:
    virtual ~ws_peer() = default;
    virtual bool send(const std::string& data, bool binary = false) = 0;
    virtual ws_frame read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) = 0;
    virtual void close(std::uint16_t code = 1000) = 0;
    // The handshake request's headers (server side) or response's (client side).
    virtual std::string header(const std::string& name) const = 0;
};

// The edge side: connects to callgate's /v1/calls/stream over plain TCP.
struct edge_dial_result {
    std::unique_ptr<ws_peer> peer; // null when the upgrade was refused
    int http_status = 0;           // the refusal's status
};
// `socket_buffer` > 0 sets the peer socket's SO_RCVBUF and SO_SNDBUF (before connecting), so
// that little of what a peer sends or does not read waits in kernel buffers; 0 keeps the
// system's autotuning.
edge_dial_result dial_edge(const std::string& address, const std::string& target, const std::string& token,
                           int socket_buffer = 0);

// The client side: a TLS WebSocket server on 127.0.0.1:0 that accepts
// connections and hands them to the test.
class ws_test_server {
public:
    // `response_headers` are added to every upgrade response; `socket_buffer` > 0 is the
    // SO_RCVBUF and SO_SNDBUF of accepted connections (set on the listening socket, so it
    // holds from the SYN).
    ws_test_server(std::string cert_file, std::string key_file,
                   std::vector<std::pair<std::string, std::string>> response_headers = {}, int socket_buffer = 0);
    ~ws_test_server();
    unsigned short port() const;
    std::string url(const std::string& path = "/agent", const std::string& host = "localhost") const;
    // The next accepted connection, or null after `timeout`.
    std::unique_ptr<ws_peer> accept(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace callgate::testing
