#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace callgate::testing {

// A request the test server received.
struct received_request {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(const std::string& name) const; // case-insensitive, "" if absent
};

// What the test server answers.
struct canned_reply {
    int status = 200;
    std::string body = R"({"action":"reject"})";
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds delay{0}; // before answering
    bool hang = false;                  // never answer (until the server stops)
};

// A real HTTPS (or plain HTTP) server for tests, on 127.0.0.1 port 0 in its
// own thread: it records every request and answers with what `reply` says.
class webhook_server {
public:
    using reply_fn = std::function<canned_reply(const received_request&)>;

    // TLS with this certificate chain and key; plain HTTP when both are empty.
    webhook_server(std::string cert_file, std::string key_file, reply_fn reply);
    ~webhook_server();

    unsigned short port() const;
    std::string url(const std::string& path = "/hook", const std::string& host = "localhost") const;
    std::vector<received_request> requests() const;
    std::size_t connections_accepted() const;
    void set_reply(reply_fn reply);

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace callgate::testing
