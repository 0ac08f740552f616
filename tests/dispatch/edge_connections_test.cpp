// The edge listener's connections: decisions the caches hold are answered
// straight from the server's own epoll sets, everything else by the coroutine
// session a connection moves to (and back from). These tests hold the two
// paths to one behaviour: pipelined requests of both kinds answered in order,
// requests in pieces, webhooks between cached decisions on one connection,
// half-closed clients, Connection: close, limits and timeouts.
#include "dispatch_support.hpp"

#include <thread>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

class edge_connections : public dispatch_test {
protected:
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "1500", "--read-timeout-ms", "500",
                "--idle-timeout-ms", "2000"};
    }
    void SetUp() override
    {
        dispatch_test::SetUp();
        id_ = create_identity("lane", "+15550100");
        set_action(id_, "auto_accept", "wss://agent.example.com/ws", "");
    }

    // A raw POST /v1/calls/decide for the cached identity.
    std::string decide_request(const std::string& request_id, const std::string& token,
                               const std::string& extra_headers = {}) const
    {
        std::string body = R"({"local_phone_number":"+15550100","remote_phone_number":"+15550199"})";
        return "POST /v1/calls/decide HTTP/1.1\r\nHost: edge\r\nX-Edge-Token: " + token +
               "\r\nX-Request-ID: " + request_id + "\r\nContent-Type: application/json\r\n" + extra_headers +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }

    std::string id_;
};

struct parsed_reply {
    int status = 0;
    std::string request_id;
    std::string connection;
    std::string body;
};

// Consecutive HTTP/1.1 responses, each framed by its Content-Length.
std::vector<parsed_reply> split_replies(const std::string& bytes)
{
    std::vector<parsed_reply> out;
    std::size_t at = 0;
    while (at < bytes.size()) {
        auto head_end = bytes.find("\r\n\r\n", at);
        if (head_end == std::string::npos || head_end - at < 12)
            break;
        std::string_view head(bytes.data() + at, head_end + 2 - at); // through the last header's CRLF
        parsed_reply r;
        r.status = std::stoi(std::string(head.substr(9, 3)));
        auto field = [&](std::string_view name) -> std::string {
            std::string needle = "\r\n" + std::string(name) + ": ";
            auto found = head.find(needle);
            if (found == std::string_view::npos)
                return {};
            found += needle.size();
            return std::string(head.substr(found, head.find("\r\n", found) - found));
        };
        r.request_id = field("X-Request-ID");
        r.connection = field("Connection");
        auto length = field("Content-Length");
        std::size_t n = length.empty() ? 0 : std::stoul(length);
        std::size_t body_at = head_end + 4;
        if (bytes.size() - body_at < n)
            break;
        r.body = bytes.substr(body_at, n);
        out.push_back(std::move(r));
        at = body_at + n;
    }
    return out;
}

TEST_F(edge_connections, pipelined_requests_of_both_kinds_are_answered_in_order)
{
    raw_connection raw(server_->edge_address());
    std::string token = server_->edge_token();
    // Cached decisions around a wrong token, an unknown path and a probe:
    // the errors are answered by the coroutine session, the rest in place.
    ASSERT_TRUE(raw.send(decide_request("p1", token) + decide_request("p2", "et_wrong") + decide_request("p3", token) +
                         "GET /nope HTTP/1.1\r\nHost: edge\r\nX-Request-ID: p4\r\n\r\n" + decide_request("p5", token) +
                         "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Request-ID: p6\r\nConnection: close\r\n\r\n"));
    auto replies = split_replies(raw.read_until_close(10s));
    ASSERT_EQ(replies.size(), 6u);
    std::vector<std::pair<std::string, int>> expected{{"p1", 200}, {"p2", 401}, {"p3", 200},
                                                      {"p4", 404}, {"p5", 200}, {"p6", 200}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(replies[i].request_id, expected[i].first) << i;
        EXPECT_EQ(replies[i].status, expected[i].second) << replies[i].body;
    }
    EXPECT_EQ(replies[5].connection, "close");
    engine::json_object first, third;
    ASSERT_EQ(first.parse(replies[0].body), engine::json_parse_error::ok);
    ASSERT_EQ(third.parse(replies[2].body), engine::json_parse_error::ok);
    EXPECT_EQ(text_of(first, "action"), "answer");
    EXPECT_NE(text_of(first, "call_id"), text_of(third, "call_id"));
}

TEST_F(edge_connections, a_flood_of_pipelined_requests_is_answered_in_order)
{
    // Far more than one read's worth: the server takes turns with other
    // connections and writes back while the client is still sending.
    decide_number("+15550100"); // the caches hold the identity from here on
    constexpr int count = 3000;
    std::string requests;
    for (int i = 0; i < count; ++i)
        requests += decide_request("f" + std::to_string(i), server_->edge_token());
    requests += "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Request-ID: last\r\nConnection: close\r\n\r\n";
    raw_connection raw(server_->edge_address());
    std::thread sender([&] { raw.send(requests); });
    auto replies = split_replies(raw.read_until_close(60s));
    sender.join();
    ASSERT_EQ(replies.size(), static_cast<std::size_t>(count + 1));
    for (int i = 0; i < count; ++i) {
        ASSERT_EQ(replies[i].request_id, "f" + std::to_string(i));
        ASSERT_EQ(replies[i].status, 200) << replies[i].body;
    }
    EXPECT_EQ(replies[count].request_id, "last");
    // Others were served meanwhile and are served after.
    EXPECT_EQ(http_request(server_->edge_address(), "GET", "/healthz").status, 200);
}

TEST_F(edge_connections, hundreds_of_busy_connections_and_a_status_update_are_all_served)
{
    // More ready connections than one epoll batch (64) per thread, while a
    // request that needs the store goes through its coroutine session.
    auto call = decide_number("+15550100");
    std::string call_id = text_of(call, "call_id");
    constexpr int connections = 200, each = 5;
    std::vector<std::unique_ptr<raw_connection>> raws;
    for (int i = 0; i < connections; ++i) {
        raws.push_back(std::make_unique<raw_connection>(server_->edge_address()));
        std::string burst;
        for (int j = 0; j < each; ++j)
            burst += decide_request("c" + std::to_string(i) + "-" + std::to_string(j), server_->edge_token());
        ASSERT_TRUE(raws.back()->send(burst)) << i;
    }
    auto status = edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"answered"})", server_->edge_token());
    EXPECT_EQ(status.status, 204) << status.body;
    for (int i = 0; i < connections; ++i) {
        std::string bytes;
        std::vector<parsed_reply> replies;
        while (replies.size() < static_cast<std::size_t>(each)) {
            auto more = raws[i]->read_until("}", 30s);
            if (more.empty())
                break;
            bytes += more;
            replies = split_replies(bytes);
        }
        ASSERT_EQ(replies.size(), static_cast<std::size_t>(each)) << i;
        for (int j = 0; j < each; ++j) {
            EXPECT_EQ(replies[j].request_id, "c" + std::to_string(i) + "-" + std::to_string(j));
            EXPECT_EQ(replies[j].status, 200);
        }
    }
}

TEST_F(edge_connections, a_request_in_pieces_is_answered_and_the_connection_kept)
{
    raw_connection raw(server_->edge_address());
    std::string request = decide_request("pieces", server_->edge_token());
    auto cut = request.find("Content-Type");
    ASSERT_TRUE(raw.send(request.substr(0, cut)));
    // A round trip on another connection gives the server time to read the first piece alone.
    ASSERT_EQ(http_request(server_->edge_address(), "GET", "/healthz").status, 200);
    ASSERT_TRUE(raw.send(request.substr(cut, request.size() - cut - 10)));
    ASSERT_EQ(http_request(server_->edge_address(), "GET", "/healthz").status, 200);
    ASSERT_TRUE(raw.send(request.substr(request.size() - 10)));
    auto first = split_replies(raw.read_until("}", 10s));
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].status, 200) << first[0].body;
    EXPECT_EQ(first[0].request_id, "pieces");
    // The same connection then serves a whole request.
    ASSERT_TRUE(raw.send(decide_request("whole", server_->edge_token(), "Connection: close\r\n")));
    auto second = split_replies(raw.read_until_close(10s));
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].status, 200);
    EXPECT_EQ(second[0].request_id, "whole");
}

TEST_F(edge_connections, webhook_decisions_and_cached_ones_share_a_connection)
{
    auto hooked = create_identity("hooked", "+15550101");
    set_action(hooked, "webhook", "", hook_->url());
    hook_->set_reply([](const received_request&) {
        return canned_reply{200, R"({"action":"answer","client_websocket_url":"wss://hook.example.com/ws"})"};
    });
    for (int round = 0; round < 3; ++round) {
        auto cached = decide_number("+15550100");
        EXPECT_EQ(text_of(cached, "client_websocket_url"), "wss://agent.example.com/ws");
        auto asked = decide_number("+15550101");
        EXPECT_EQ(text_of(asked, "client_websocket_url"), "wss://hook.example.com/ws");
    }
    EXPECT_EQ(hook_->requests().size(), 3u);
    EXPECT_TRUE(edge_connection_->connected());
}

TEST_F(edge_connections, a_client_that_shuts_its_side_after_a_request_gets_the_answer)
{
    raw_connection raw(server_->edge_address());
    ASSERT_TRUE(raw.send(decide_request("half-1", server_->edge_token()) +
                         decide_request("half-2", server_->edge_token())));
    ASSERT_TRUE(raw.shutdown_send());
    auto replies = split_replies(raw.read_until_close(10s));
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0].status, 200);
    EXPECT_EQ(replies[1].request_id, "half-2");
    EXPECT_EQ(replies[1].status, 200);
}

TEST_F(edge_connections, connection_close_and_http_1_0_are_honoured)
{
    raw_connection closing(server_->edge_address());
    ASSERT_TRUE(closing.send(decide_request("c1", server_->edge_token(), "Connection: close\r\n")));
    auto replies = split_replies(closing.read_until_close(10s));
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 200);
    EXPECT_EQ(replies[0].connection, "close");

    raw_connection old(server_->edge_address());
    auto request = decide_request("c2", server_->edge_token());
    request.replace(request.find("HTTP/1.1"), 8, "HTTP/1.0");
    ASSERT_TRUE(old.send(request));
    auto reply = old.read_until_close(10s);
    EXPECT_EQ(reply.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << reply;
}

TEST_F(edge_connections, limits_hold_on_the_edge)
{
    std::string token = server_->edge_token();
    // A body over 64 KiB: 413, and the connection closes.
    raw_connection big(server_->edge_address());
    std::string body(70 * 1024, ' ');
    ASSERT_TRUE(big.send("POST /v1/calls/decide HTTP/1.1\r\nHost: edge\r\nX-Edge-Token: " + token +
                         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\n\r\n" + body));
    auto reply = big.read_until_close(10s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply.substr(0, 200);
    // Headers over 8 KiB: 431.
    raw_connection wide(server_->edge_address());
    ASSERT_TRUE(wide.send(decide_request("wide", token, "X-Filler: " + std::string(9000, 'a') + "\r\n")));
    reply = wide.read_until_close(10s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
    // A framing error: 400 and close.
    raw_connection framed(server_->edge_address());
    ASSERT_TRUE(framed.send(decide_request("framed", token, "Content-Length: 3\r\n")));
    reply = framed.read_until_close(10s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 200);
}

TEST_F(edge_connections, stalled_and_idle_connections_are_closed)
{
    // --read-timeout-ms 500: a request that stops halfway is cut.
    raw_connection stalled(server_->edge_address());
    auto request = decide_request("stalled", server_->edge_token());
    ASSERT_TRUE(stalled.send(request.substr(0, request.size() - 5)));
    // --idle-timeout-ms 2000: a connection that was answered and then sends nothing is closed.
    raw_connection idle(server_->edge_address());
    ASSERT_TRUE(idle.send(decide_request("idle", server_->edge_token())));
    auto replies = split_replies(idle.read_until("}", 10s));
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 200);
    EXPECT_TRUE(stalled.closed_by_peer_within(5s));
    EXPECT_TRUE(idle.closed_by_peer_within(10s));
    // Others are served meanwhile and after.
    EXPECT_EQ(decide_number("+15550100").find("action") != nullptr, true);
}

} // namespace
} // namespace callgate::testing
