// Request smuggling (RFC 9112 §6.1, §6.3): each case sends a request whose
// framing two parsers could disagree on, with a second request right behind
// it ("smuggled"). The server must answer the first as the table says, never
// run the smuggled one, and close the connection where the table says so.
#include "api_support.hpp"

#include "callgate/testing/time_scale.hpp"

#include <chrono>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

class http_framing : public api_test {};

struct framing_case {
    const char* name;
    std::string head;  // request line and headers, without the blank line
    std::string body;  // what follows the blank line before the smuggled request
    int status;        // expected status of the first response
    bool closes;       // the server closes after it
};

// The smuggled request: /smuggled answers 404 if it ever runs.
const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

int count_responses(const std::string& bytes)
{
    int n = 0;
    for (auto at = bytes.find("HTTP/1.1 "); at != std::string::npos; at = bytes.find("HTTP/1.1 ", at + 1))
        ++n;
    return n;
}

void run_cases(const std::string& address, const std::vector<framing_case>& cases)
{
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        raw_connection raw(address);
        ASSERT_TRUE(raw.send(c.head + "\r\n\r\n" + c.body + smuggled));
        std::string bytes;
        bool closed = false;
        if (c.closes) {
            auto started = std::chrono::steady_clock::now();
            bytes = raw.read_until_close(scaled(5s));
            closed = std::chrono::steady_clock::now() - started < scaled(5s);
        } else {
            // Both answers (however slow a loaded machine is), then the
            // connection must still be open a moment later.
            bytes = raw.read_until("HTTP/1.1 404", scaled(5s));
            closed = raw.closed_by_peer_within(300ms);
        }
        ASSERT_GE(bytes.size(), 12u) << "no response";
        EXPECT_EQ(bytes.substr(9, 3), std::to_string(c.status)) << bytes;
        EXPECT_EQ(closed, c.closes) << bytes;
        EXPECT_EQ(bytes.find("/smuggled"), std::string::npos);
        if (c.closes) {
            EXPECT_EQ(count_responses(bytes), 1) << "the smuggled request ran:\n" << bytes;
        } else {
            // A well-framed request keeps the connection: the next one is answered (404).
            EXPECT_EQ(count_responses(bytes), 2) << bytes;
            EXPECT_NE(bytes.find("HTTP/1.1 404"), std::string::npos) << bytes;
        }
    }
}

std::vector<framing_case> smuggling_table(const std::string& method, const std::string& target)
{
    std::string line = method + " " + target + " HTTP/1.1\r\nHost: x";
    std::string chunked_empty = "0\r\n\r\n";
    return {
        {"TE gzip, no Content-Length", line + "\r\nTransfer-Encoding: gzip", "", 400, true},
        {"TE gzip with Content-Length", line + "\r\nTransfer-Encoding: gzip\r\nContent-Length: 0", "", 400, true},
        {"TE identity", line + "\r\nTransfer-Encoding: identity", "", 400, true},
        {"TE chunked, identity", line + "\r\nTransfer-Encoding: chunked, identity", "", 400, true},
        {"TE chunked then identity in two fields",
         line + "\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity", "", 400, true},
        {"TE chunked twice", line + "\r\nTransfer-Encoding: chunked, chunked", chunked_empty, 400, true},
        {"TE gzip, chunked (not implemented)", line + "\r\nTransfer-Encoding: gzip, chunked", chunked_empty, 501,
         true},
        {"TE chunked in HTTP/1.0", method + " " + target + " HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked",
         chunked_empty, 400, true},
        {"TE chunked with Content-Length", line + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
         chunked_empty, 400, true},
        {"Content-Length twice, same value", line + "\r\nContent-Length: 0\r\nContent-Length: 0", "", 400, true},
        {"Content-Length twice, different values", line + "\r\nContent-Length: 0\r\nContent-Length: 5", "", 400,
         true},
        {"Content-Length as a list", line + "\r\nContent-Length: 0, 0", "", 400, true},
        {"Content-Length with a sign", line + "\r\nContent-Length: +0", "", 400, true},
        {"Content-Length negative", line + "\r\nContent-Length: -1", "", 400, true},
        {"Content-Length hex", line + "\r\nContent-Length: 0x0", "", 400, true},
        {"Content-Length huge", line + "\r\nContent-Length: 99999999999999999999", "", 400, true},
        {"space before the colon", line + "\r\nTransfer-Encoding : chunked", chunked_empty, 400, true},
        // Well framed. A chunked body the route does not read is not parsed: the connection closes.
        {"chunked, well framed, unread", line + "\r\nTransfer-Encoding: chunked", chunked_empty, 200, true},
        // The connection stays and the next request is served.
        {"Content-Length 0, well framed", line + "\r\nContent-Length: 0", "", 200, false},
    };
}

TEST_F(http_framing, api_listener_rejects_every_smuggling_shape_and_closes)
{
    run_cases(server_->api_address(), smuggling_table("GET", "/healthz"));
}

TEST_F(http_framing, edge_listener_rejects_every_smuggling_shape_and_closes)
{
    run_cases(server_->edge_address(), smuggling_table("GET", "/healthz"));
}

TEST_F(http_framing, a_chunked_body_with_the_right_framing_still_writes)
{
    auto id = create_identity("framing-bot");
    std::string body = "{\"agent_identity_id\":\"" + id + "\",\"incoming_call_action\":\"auto_reject\"}";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    raw_connection raw(server_->api_address());
    ASSERT_TRUE(raw.send(std::string("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API-Key: ") + admin +
                         "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + size +
                         "\r\n" + body + "\r\n0\r\n\r\n" + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto bytes = raw.read_until_close(5s);
    EXPECT_EQ(bytes.substr(0, 12), "HTTP/1.1 200") << bytes;
    EXPECT_EQ(count_responses(bytes), 2) << "the connection stays after a well-framed chunked body:\n" << bytes;
    // A bare LF where a chunk's CRLF belongs is malformed: 400 and close, nothing behind it runs.
    raw_connection bad(server_->api_address());
    ASSERT_TRUE(bad.send(std::string("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API-Key: ") + admin +
                         "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\n" +
                         body + "\r\n0\r\n\r\n" + smuggled));
    bytes = bad.read_until_close(5s);
    EXPECT_EQ(count_responses(bytes), 1) << bytes;
    EXPECT_EQ(bytes.find("/smuggled"), std::string::npos);
    EXPECT_NE(bytes.substr(9, 3), "200") << bytes;
}

} // namespace
} // namespace callgate::testing
