#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace callgate::testing {

struct http_reply {
    int status = 0; // 0: no response (connection failed or closed)
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string header(const std::string& name) const; // case-insensitive, "" if absent
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// A blocking HTTP/1.1 client on one keep-alive connection (plain TCP, or TLS
// verified against a CA file), for tests. Every call has a deadline.
class http_connection {
public:
    // `address` is "host:port". With `ca_file`, speaks TLS and verifies the
    // server's certificate for `tls_host`, presenting the client certificate
    // `cert_file` (with `key_file`) when given.
    explicit http_connection(std::string address, std::string ca_file = {},
                             std::string tls_host = "localhost", std::string cert_file = {},
                             std::string key_file = {});
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    http_reply request(const std::string& method, const std::string& target,
                       const header_list& headers = {}, const std::string& body = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(15));
    bool connected() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// One request on a fresh connection.
http_reply http_request(const std::string& address, const std::string& method,
                        const std::string& target, const header_list& headers = {},
                        const std::string& body = {});

// One raw HTTP response as read off a raw_connection, split at its blank line.
struct raw_reply {
    std::string head; // the status line and headers, each line ending "\r\n", and the blank line
    std::string rest; // everything after the blank line: the body and any later responses
    // Whether the head has this exact line, e.g. "Connection: close".
    bool has_line(const std::string& line) const { return head.find("\r\n" + line + "\r\n") != std::string::npos; }
    // Whether the head has a field with this name (as the server spells it).
    bool has_field(const std::string& name) const { return head.find("\r\n" + name + ":") != std::string::npos; }
};
// `bytes` split after its first "\r\n\r\n" (all of it is the head when there is none).
raw_reply split_raw_reply(const std::string& bytes);

// Raw bytes over TCP, for malformed and slow requests.
class raw_connection {
public:
    explicit raw_connection(const std::string& address);
    ~raw_connection();
    bool send(const std::string& bytes);
    // Shuts the sending side (a FIN): the peer reads end of input, and can still answer.
    bool shutdown_send();
    // Reads until the peer closes or `timeout` passes; returns what arrived.
    std::string read_until_close(std::chrono::milliseconds timeout);
    // Reads until what arrived contains `marker`, the peer closes or `timeout`
    // passes; returns what arrived (which may go past the marker).
    std::string read_until(const std::string& marker, std::chrono::milliseconds timeout);
    // True if the peer closed the connection within `timeout`.
    bool closed_by_peer_within(std::chrono::milliseconds timeout);
    bool is_open() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

} // namespace callgate::testing
