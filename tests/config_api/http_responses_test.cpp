// The bytes of responses on the wire. The server formats its status line and
// headers itself (net/src/http_server.cpp, format_head) rather than through
// Beast's serializer, so these hold it to what the serializer did and to RFC
// 9112: Content-Length on every response that may carry a body and never on
// 204, the Connection header where the version's default does not hold, HEAD
// without a body, pipelined requests answered in order on one connection.
#include "api_support.hpp"

#include "callgate/testing/time_scale.hpp"

#include <chrono>
#include <string>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

class http_responses : public api_test {};

TEST_F(http_responses, a_keep_alive_response_has_its_length_and_no_connection_header)
{
    raw_connection raw(server_->api_address());
    ASSERT_TRUE(raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: wire-1\r\n\r\n"));
    auto r = split_raw_reply(raw.read_until("}", scaled(5s)));
    EXPECT_EQ(r.head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.head;
    EXPECT_TRUE(r.has_line("Server: callgate")) << r.head;
    EXPECT_TRUE(r.has_line("X-Request-ID: wire-1")) << r.head;
    EXPECT_TRUE(r.has_line("Content-Type: application/json")) << r.head;
    EXPECT_TRUE(r.has_line("Content-Length: " + std::to_string(r.rest.size()))) << r.head << r.rest;
    EXPECT_FALSE(r.has_field("Connection")) << r.head;
    EXPECT_FALSE(raw.closed_by_peer_within(200ms));
}

TEST_F(http_responses, pipelined_requests_are_answered_in_order_on_one_connection)
{
    raw_connection raw(server_->api_address());
    ASSERT_TRUE(raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: first\r\n\r\n"
                         "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-ID: second\r\n\r\n"
                         "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: third\r\nConnection: close\r\n\r\n"));
    auto bytes = raw.read_until_close(scaled(5s));
    auto first = bytes.find("X-Request-ID: first");
    auto second = bytes.find("X-Request-ID: second");
    auto third = bytes.find("X-Request-ID: third");
    ASSERT_NE(first, std::string::npos) << bytes;
    ASSERT_NE(second, std::string::npos) << bytes;
    ASSERT_NE(third, std::string::npos) << bytes;
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
    EXPECT_NE(bytes.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << bytes;
    // The last asked to close: its response says so, and the connection ends.
    EXPECT_NE(bytes.find("Connection: close\r\n", third), std::string::npos) << bytes;
}

TEST_F(http_responses, http_1_0_closes_unless_asked_to_keep_alive)
{
    {
        raw_connection raw(server_->api_address());
        ASSERT_TRUE(raw.send("GET /healthz HTTP/1.0\r\n\r\n"));
        auto r = split_raw_reply(raw.read_until_close(scaled(5s)));
        EXPECT_EQ(r.head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.head;
        EXPECT_FALSE(r.has_field("Connection")) << r.head; // closing is 1.0's default
        EXPECT_TRUE(r.has_line("Content-Length: " + std::to_string(r.rest.size()))) << r.head;
    }
    {
        raw_connection raw(server_->api_address());
        ASSERT_TRUE(raw.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = split_raw_reply(raw.read_until("}", scaled(5s)));
        EXPECT_EQ(r.head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.head;
        EXPECT_TRUE(r.has_line("Connection: keep-alive")) << r.head;
        EXPECT_FALSE(raw.closed_by_peer_within(200ms));
    }
}

TEST_F(http_responses, no_content_has_neither_length_nor_type_nor_body)
{
    auto id = create_identity("wire-bot");
    ASSERT_EQ(put_action(id, "auto_reject").status, 200);
    raw_connection raw(server_->api_address());
    ASSERT_TRUE(raw.send("DELETE /incoming-call-action?agent_identity_id=" + id + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " +
                         admin + "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto bytes = raw.read_until_close(scaled(5s));
    auto r = split_raw_reply(bytes);
    EXPECT_EQ(r.head.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << bytes;
    EXPECT_FALSE(r.has_field("Content-Length")) << r.head;
    EXPECT_FALSE(r.has_field("Content-Type")) << r.head;
    // No body: the next response starts right after the blank line.
    EXPECT_EQ(r.rest.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << bytes;
}

TEST_F(http_responses, head_gets_the_length_of_the_body_it_does_not_get)
{
    raw_connection raw(server_->api_address());
    ASSERT_TRUE(raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto get = split_raw_reply(raw.read_until("}", scaled(5s)));
    ASSERT_TRUE(raw.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto bytes = raw.read_until_close(scaled(5s));
    auto head = split_raw_reply(bytes);
    EXPECT_EQ(head.head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << bytes;
    EXPECT_TRUE(head.has_line("Content-Length: " + std::to_string(get.rest.size()))) << bytes;
    EXPECT_EQ(head.rest.rfind("HTTP/1.1 404", 0), 0u) << "HEAD carried a body:\n" << bytes;
}

TEST_F(http_responses, extra_headers_and_the_edge_listener_use_the_same_format)
{
    raw_connection raw(server_->edge_address());
    ASSERT_TRUE(raw.send("PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    auto r = split_raw_reply(raw.read_until_close(scaled(5s)));
    EXPECT_EQ(r.head.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << r.head;
    EXPECT_TRUE(r.has_line("Allow: GET, HEAD") || r.has_line("Allow: GET")) << r.head;
    EXPECT_TRUE(r.has_line("Connection: close")) << r.head;
    EXPECT_TRUE(r.has_line("Content-Length: " + std::to_string(r.rest.size()))) << r.head;
    EXPECT_EQ(r.rest, "{\"detail\":\"Method Not Allowed\"}");
}

} // namespace
} // namespace callgate::testing
