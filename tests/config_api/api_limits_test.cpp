// Limits and malformed input: 413, 415, 431, 422 for bad JSON, 404/405, and
// timeouts for stalled clients — each answered without changing state.
#include "api_support.hpp"

#include <thread>

namespace callgate::testing {
namespace {

class limits : public api_test {
protected:
    std::vector<std::string> extra_args() const override
    {
        return {"--read-timeout-ms", "500", "--idle-timeout-ms", "2000"};
    }

    // A config to check that failed requests left it alone.
    void seed_config()
    {
        id_ = create_identity("bot");
        ASSERT_EQ(put_action(id_, "auto_reject").status, 200);
        before_ = call("GET", "/incoming-call-action?agent_identity_id=" + id_, admin).body;
    }
    void expect_config_unchanged()
    {
        EXPECT_EQ(call("GET", "/incoming-call-action?agent_identity_id=" + id_, admin).body, before_);
    }
    std::string put_body(const std::string& extra = {})
    {
        return "{\"agent_identity_id\":\"" + id_ + "\",\"incoming_call_action\":\"auto_accept\"," +
               "\"client_websocket_url\":\"wss://a.example.com/ws\"" + extra + "}";
    }

    std::string id_, before_;
};

TEST_F(limits, body_over_64_kib_is_413)
{
    seed_config();
    std::string padding = ",\"pad\":\"" + std::string(65 * 1024, 'x') + "\"";
    auto r = call("PUT", "/incoming-call-action", admin, put_body(padding));
    EXPECT_ERROR(r, 413, "Request body too large (limit 64 KiB)");
    connection_ = std::make_unique<http_connection>(server_->api_address());
    expect_config_unchanged();
    // Exactly at the limit is still read.
    std::string prefix = put_body(",\"pad\":\"");
    prefix.pop_back(); // the '}' that closed put_body
    std::string body = prefix + std::string(64 * 1024 - prefix.size() - 2, 'y') + "\"}";
    ASSERT_EQ(body.size(), 64u * 1024u);
    EXPECT_EQ(call("PUT", "/incoming-call-action", admin, body).status, 200);
}

TEST_F(limits, chunked_body_over_64_kib_is_413)
{
    seed_config();
    raw_connection raw(server_->api_address());
    std::string chunk(70 * 1024, 'x');
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    raw.send(std::string("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API-Key: ") + admin +
             "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + chunk +
             "\r\n0\r\n\r\n");
    auto reply = raw.read_until_close(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply.substr(0, 200);
    expect_config_unchanged();
}

TEST_F(limits, wrong_content_type_is_415)
{
    seed_config();
    EXPECT_ERROR(call("PUT", "/incoming-call-action", admin, put_body(), "text/plain"), 415,
                 "Content-Type must be application/json");
    EXPECT_ERROR(call("PUT", "/incoming-call-action", admin, put_body(), "application/x-www-form-urlencoded"), 415,
                 "Content-Type must be application/json");
    auto no_type = connection_->request("PUT", "/incoming-call-action", {{"X-API-Key", admin}}, put_body());
    EXPECT_ERROR(no_type, 415, "Content-Type must be application/json");
    expect_config_unchanged();
    EXPECT_EQ(call("PUT", "/incoming-call-action", admin, put_body(), "application/json; charset=utf-8").status, 200);
    EXPECT_EQ(call("PUT", "/incoming-call-action", admin, put_body(), "Application/JSON").status, 200);
}

TEST_F(limits, headers_over_8_kib_are_431)
{
    seed_config();
    raw_connection raw(server_->api_address());
    raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9 * 1024, 'h') + "\r\n\r\n");
    auto reply = raw.read_until_close(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
    expect_config_unchanged();
}

TEST_F(limits, malformed_json_is_422_and_changes_nothing)
{
    seed_config();
    const std::string bodies[] = {
        "not json",
        "{\"incoming_call_action\":",
        "[1,2,3]",
        "\"auto_reject\"",
        "{\"incoming_call_action\":\"auto_reject\",}",
        "{\"agent_identity_id\":\"" + id_ + "\",\"incoming_call_action\":\"auto_reject\"} {}",
    };
    for (const auto& body : bodies) {
        SCOPED_TRACE(body);
        EXPECT_ERROR(call("PUT", "/incoming-call-action", admin, body), 422, "Invalid JSON body");
    }
    EXPECT_ERROR(connection_->request("PUT", "/incoming-call-action",
                                      {{"X-API-Key", admin}, {"Content-Type", "application/json"}}),
                 422, "Invalid JSON body");
    expect_config_unchanged();
}

TEST_F(limits, invalid_utf8_is_422)
{
    seed_config();
    std::string body = "{\"agent_handle\":\"bot2\",\"display_name\":\"caf\xc3\x28\"}";
    EXPECT_ERROR(call("POST", "/identities", admin, body), 422, "Invalid JSON body");
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=%C3%28", admin), 422,
                 "Query parameters must be UTF-8");
    EXPECT_ERROR(call("GET", "/identities/bot2", admin), 404, "Agent identity not found");
    expect_config_unchanged();
}

TEST_F(limits, unknown_path_is_404_and_wrong_method_is_405_with_allow)
{
    EXPECT_ERROR(call("GET", "/nope", admin), 404, "Not Found");
    EXPECT_ERROR(call("GET", "/identities/a/b/c", admin), 404, "Not Found");
    auto r = call("POST", "/incoming-call-action", admin, "{}");
    EXPECT_ERROR(r, 405, "Method Not Allowed");
    EXPECT_EQ(r.header("Allow"), "GET, PUT, DELETE");
    auto h = call("PUT", "/healthz", {}, "{}");
    EXPECT_EQ(h.status, 405);
    EXPECT_EQ(h.header("Allow"), "GET");
}

TEST_F(limits, garbage_request_line_is_400)
{
    raw_connection raw(server_->api_address());
    raw.send("THIS IS NOT HTTP\r\n\r\n");
    auto reply = raw.read_until_close(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
}

TEST_F(limits, a_client_that_stalls_mid_request_is_dropped)
{
    raw_connection headers_only(server_->api_address());
    headers_only.send("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API");
    raw_connection body_short(server_->api_address());
    body_short.send(std::string("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API-Key: ") + admin +
                    "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"incoming");
    // --read-timeout-ms is 500: both are cut well within a few seconds.
    EXPECT_TRUE(headers_only.closed_by_peer_within(std::chrono::seconds(5)));
    EXPECT_TRUE(body_short.closed_by_peer_within(std::chrono::seconds(5)));
}

TEST_F(limits, an_idle_keep_alive_connection_is_closed)
{
    raw_connection idle(server_->api_address());
    EXPECT_TRUE(idle.closed_by_peer_within(std::chrono::seconds(10)));
}

TEST_F(limits, a_thousand_stalled_clients_do_not_stop_others)
{
    seed_config();
    std::vector<std::unique_ptr<raw_connection>> stalled;
    for (int i = 0; i < 1000; ++i) {
        auto c = std::make_unique<raw_connection>(server_->api_address());
        ASSERT_TRUE(c->is_open()) << i;
        c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        stalled.push_back(std::move(c));
    }
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        http_connection fresh(server_->api_address());
        auto r = fresh.request("GET", "/incoming-call-action?agent_identity_id=" + id_, {{"X-API-Key", admin}});
        ASSERT_EQ(r.status, 200);
    }
    // A generous bound: served while the stalled ones wait, not after their timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    for (auto& c : stalled)
        EXPECT_TRUE(c->closed_by_peer_within(std::chrono::seconds(10)));
}

TEST_F(limits, keep_alive_serves_many_requests_on_one_connection)
{
    seed_config();
    for (int i = 0; i < 200; ++i)
        ASSERT_EQ(call("GET", "/incoming-call-action?agent_identity_id=" + id_, admin).status, 200);
    EXPECT_TRUE(connection_->connected());
}

TEST_F(limits, expect_100_continue_is_honoured)
{
    seed_config();
    raw_connection raw(server_->api_address());
    std::string body = put_body();
    raw.send(std::string("PUT /incoming-call-action HTTP/1.1\r\nHost: x\r\nX-API-Key: ") + admin +
             "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n");
    // The client waits for the interim response before sending the body.
    std::string interim;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (interim.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline)
        interim += raw.read_until_close(std::chrono::milliseconds(50));
    EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue", 0), 0u) << interim;
    raw.send(body);
    auto reply = raw.read_until_close(std::chrono::seconds(5));
    EXPECT_NE(reply.find("HTTP/1.1 200"), std::string::npos) << reply;
}

} // namespace
} // namespace callgate::testing
