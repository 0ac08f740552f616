// Graceful drain of the real binary: on SIGTERM /readyz turns 503 at once
// while both listeners keep serving for --shutdown-delay, every reply closes
// its keep-alive connection, requests in flight finish, and the process exits
// 0. HEAD probes on both listeners. systemd's notify protocol (READY=1,
// STOPPING=1) through $NOTIFY_SOCKET, read by the test as systemd would.
#include "callgate/testing/server_process.hpp"

#include "callgate/testing/eventually.hpp"
#include "callgate/testing/http_client.hpp"
#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string admin_key = "cg_drain_test_admin_key_0001";

// A server whose drain holds the listeners open for `delay` after SIGTERM.
server_process start_server(const temp_dir& dir, const std::string& delay)
{
    return server_process(dir.path() + "/data", {"--shutdown-delay", delay},
                          {{"CALLGATE_ADMIN_KEY", admin_key}});
}

bool is_draining(const http_reply& r) { return r.status == 503 && r.body == R"({"status":"draining"})"; }

TEST(drain, readyz_turns_503_at_once_and_the_listeners_serve_until_the_delay_is_over)
{
    temp_dir dir;
    auto server = start_server(dir, "3s");
    ASSERT_TRUE(server.start()) << server.log();
    EXPECT_EQ(http_request(server.api_address(), "GET", "/readyz").status, 200);

    auto signalled = std::chrono::steady_clock::now();
    server.send_signal(SIGTERM);
    // A load balancer polling /readyz sees 503 while the listener still answers…
    http_reply seen;
    ASSERT_TRUE(eventually([&] { return is_draining(seen = http_request(server.api_address(), "GET", "/readyz")); }))
        << seen.status << " " << seen.body;
    EXPECT_EQ(seen.header("Connection"), "close");
    EXPECT_TRUE(is_draining(http_request(server.edge_address(), "GET", "/readyz")));
    // … and new connections are still served on both listeners during the delay.
    EXPECT_EQ(http_request(server.edge_address(), "GET", "/healthz").status, 200);
    EXPECT_EQ(http_request(server.api_address(), "GET", "/identities", {{"X-API-Key", admin_key}}).status, 200);

    // After the delay the listeners close, and the process exits 0.
    ASSERT_TRUE(eventually([&] { return http_request(server.api_address(), "GET", "/readyz").status == 0; }, 15s));
    EXPECT_GE(std::chrono::steady_clock::now() - signalled, 3s) << "the listener closed before --shutdown-delay";
    EXPECT_EQ(server.wait_exit(), 0) << server.log();
    EXPECT_NE(server.log().find("signal=SIGTERM shutdown_delay_ms=3000"), std::string::npos) << server.log();
}

TEST(drain, keep_alive_connections_are_told_to_close_and_idle_ones_closed_after_the_delay)
{
    temp_dir dir;
    auto server = start_server(dir, "2s");
    ASSERT_TRUE(server.start()) << server.log();
    http_connection busy(server.api_address());
    auto before = busy.request("GET", "/healthz");
    ASSERT_EQ(before.status, 200);
    EXPECT_EQ(before.header("Connection"), "");
    ASSERT_TRUE(busy.connected());
    raw_connection idle(server.edge_address());
    ASSERT_TRUE(idle.is_open());

    server.send_signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return is_draining(http_request(server.api_address(), "GET", "/readyz")); }));
    // The next reply on a kept-alive connection closes it.
    auto during = busy.request("GET", "/healthz");
    EXPECT_EQ(during.status, 200);
    EXPECT_EQ(during.header("Connection"), "close");
    EXPECT_FALSE(busy.connected());
    // A connection that sends nothing is closed once the delay is over.
    EXPECT_TRUE(idle.closed_by_peer_within(10s));
    EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

TEST(drain, cached_decisions_on_the_edge_close_their_connections_too)
{
    temp_dir dir;
    auto server = start_server(dir, "2s");
    ASSERT_TRUE(server.start()) << server.log();
    auto id = http_request(server.api_address(), "POST", "/identities",
                           {{"X-API-Key", admin_key}, {"Content-Type", "application/json"}},
                           R"({"agent_handle":"drain","phone_number":"+15550100"})");
    ASSERT_EQ(id.status, 201) << id.body;
    const header_list edge_headers{{"X-Edge-Token", server.edge_token()}, {"Content-Type", "application/json"}};
    const std::string body = R"({"local_phone_number":"+15550100","remote_phone_number":"+15550199"})";
    // Answered from the caches: the connections wait in the server's ready lanes between requests.
    http_connection busy(server.edge_address());
    for (int i = 0; i < 3; ++i) {
        auto r = busy.request("POST", "/v1/calls/decide", edge_headers, body);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.header("Connection"), "");
    }
    raw_connection idle(server.edge_address());
    ASSERT_TRUE(idle.send("POST /v1/calls/decide HTTP/1.1\r\nHost: t\r\nX-Edge-Token: " + server.edge_token() +
                          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    ASSERT_EQ(idle.read_until("}", 10s).rfind("HTTP/1.1 200 OK", 0), 0u);

    server.send_signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return is_draining(http_request(server.api_address(), "GET", "/readyz")); }));
    auto during = busy.request("POST", "/v1/calls/decide", edge_headers, body);
    EXPECT_EQ(during.status, 200) << during.body;
    EXPECT_EQ(during.header("Connection"), "close");
    EXPECT_FALSE(busy.connected());
    // One that sends nothing more is closed once the delay is over.
    EXPECT_TRUE(idle.closed_by_peer_within(10s));
    EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

TEST(drain, a_request_in_flight_during_sigterm_completes)
{
    temp_dir dir;
    auto server = start_server(dir, "0");
    ASSERT_TRUE(server.start()) << server.log();
    const std::string body = R"({"agent_handle":"in-flight"})";
    raw_connection c(server.api_address());
    ASSERT_TRUE(c.send("POST /identities HTTP/1.1\r\nHost: t\r\nX-API-Key: " + admin_key +
                       "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    // 100 Continue: the handler has the request and waits for its body when
    // the signal arrives; the server drains instead of dropping it.
    ASSERT_NE(c.read_until("\r\n\r\n", 10s).find("HTTP/1.1 100 Continue"), std::string::npos);
    server.send_signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return server.log().find("draining") != std::string::npos; }));
    ASSERT_TRUE(c.send(body.substr(0, 10)));
    ASSERT_TRUE(c.send(body.substr(10)));
    auto reply = split_raw_reply(c.read_until_close(10s));
    EXPECT_EQ(reply.head.rfind("HTTP/1.1 201 ", 0), 0u) << reply.head;
    EXPECT_NE(reply.head.find("Connection: close"), std::string::npos) << reply.head;
    EXPECT_NE(reply.rest.find("\"agent_handle\":\"in-flight\""), std::string::npos) << reply.rest;
    EXPECT_EQ(server.wait_exit(), 0) << server.log();

    // The write is there after a restart.
    server_process again(dir.path() + "/data", {}, {{"CALLGATE_ADMIN_KEY", admin_key}});
    ASSERT_TRUE(again.start()) << again.log();
    EXPECT_EQ(http_request(again.api_address(), "GET", "/identities/in-flight", {{"X-API-Key", admin_key}}).status, 200);
}

TEST(drain, a_second_signal_ends_the_delay)
{
    temp_dir dir;
    auto server = start_server(dir, "10m");
    ASSERT_TRUE(server.start()) << server.log();
    server.send_signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return is_draining(http_request(server.api_address(), "GET", "/readyz")); }));
    server.send_signal(SIGINT);
    EXPECT_EQ(server.wait_exit(15000), 0) << server.log();
    EXPECT_NE(server.log().find("shutdown_delay_cut"), std::string::npos) << server.log();
}

// HEAD on a probe: the GET's status and headers, no body, on one connection
// whose next reply must still parse (a stray body would be read as a reply).
void expect_head_probe(const std::string& address, const std::string& path, const std::string& status_line)
{
    raw_connection c(address);
    ASSERT_TRUE(c.send("HEAD " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    auto first = split_raw_reply(c.read_until_close(10s));
    EXPECT_EQ(first.head.rfind(status_line, 0), 0u) << address << path << "\n" << first.head;
    EXPECT_NE(first.head.find("Content-Length: "), std::string::npos) << first.head;
    auto second = split_raw_reply(first.rest);
    EXPECT_EQ(second.head.rfind("HTTP/1.1 200 OK", 0), 0u) << "a HEAD reply carried a body: " << first.rest;
    EXPECT_EQ(second.rest, R"({"status":"ok"})");
}

TEST(drain, head_probes_answer_without_a_body_on_both_listeners)
{
    temp_dir dir;
    auto server = start_server(dir, "5s");
    ASSERT_TRUE(server.start()) << server.log();
    for (const auto& address : {server.api_address(), server.edge_address()}) {
        expect_head_probe(address, "/healthz", "HTTP/1.1 200 OK");
        expect_head_probe(address, "/readyz", "HTTP/1.1 200 OK");
    }
    // HEAD where no GET answers it: 405, and still no body.
    expect_head_probe(server.api_address(), "/identities", "HTTP/1.1 405 ");

    server.send_signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return is_draining(http_request(server.api_address(), "GET", "/readyz")); }));
    for (const auto& address : {server.api_address(), server.edge_address()}) {
        raw_connection c(address);
        ASSERT_TRUE(c.send("HEAD /readyz HTTP/1.1\r\nHost: t\r\n\r\n"));
        auto reply = split_raw_reply(c.read_until_close(10s));
        EXPECT_EQ(reply.head.rfind("HTTP/1.1 503 ", 0), 0u) << reply.head;
        EXPECT_EQ(reply.rest, "");
    }
    server.send_signal(SIGTERM);
    EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

// The service manager's end of $NOTIFY_SOCKET: a datagram socket in a temp dir.
class notify_socket {
public:
    explicit notify_socket(std::string path) : path_(std::move(path))
    {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path_.c_str());
        bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    }
    ~notify_socket() { ::close(fd_); }
    bool bound() const { return bound_; }
    const std::string& path() const { return path_; }
    // The next datagram, or "" when none arrives within `timeout`.
    std::string receive(std::chrono::milliseconds timeout)
    {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
            return {};
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
    }

private:
    std::string path_;
    int fd_ = -1;
    bool bound_ = false;
};

TEST(systemd_notify, ready_once_listening_and_stopping_on_drain)
{
    temp_dir dir;
    notify_socket systemd(dir.path() + "/notify");
    ASSERT_TRUE(systemd.bound());
    server_process server(dir.path() + "/data", {"--shutdown-delay", "0"},
                          {{"CALLGATE_ADMIN_KEY", admin_key}, {"NOTIFY_SOCKET", systemd.path()}});
    ASSERT_TRUE(server.start()) << server.log();
    auto ready = systemd.receive(10s);
    EXPECT_EQ(ready.rfind("READY=1\nSTATUS=api http://" + server.api_address(), 0), 0u) << ready;
    EXPECT_TRUE(fs::exists(dir.path() + "/data/listen.json")) << "READY=1 before listen.json";
    EXPECT_EQ(http_request(server.api_address(), "GET", "/readyz").status, 200);

    server.send_signal(SIGTERM);
    auto stopping = systemd.receive(10s);
    EXPECT_EQ(stopping, "STOPPING=1\nSTATUS=draining");
    EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

} // namespace
} // namespace callgate::testing
