// POST /v1/calls/decide and the config-only reject reasons; edge tokens; status updates.
#include "dispatch_support.hpp"

#include <chrono>

namespace callgate::testing {
namespace {

class decide_endpoint : public dispatch_test {};

TEST_F(decide_endpoint, auto_accept_answers_with_the_configured_url_and_context)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "answer");
    EXPECT_EQ(text_of(d, "source"), "config");
    EXPECT_EQ(text_of(d, "agent_identity_id"), id);
    EXPECT_EQ(text_of(d, "client_websocket_url"), "wss://agent.example.com/ws");
    EXPECT_TRUE(engine::uuid::parse(text_of(d, "call_id")));
    EXPECT_EQ(d.find("reason"), nullptr);
    const auto* headers = d.find("client_websocket_headers");
    ASSERT_NE(headers, nullptr);
    auto context = headers->find("X-Call-Context");
    ASSERT_NE(context, nullptr);
    EXPECT_EQ(context->text, "{\"call_id\":\"" + text_of(d, "call_id") +
                                 "\",\"phone_number\":\"+15550100\",\"direction\":\"inbound\"}");
    EXPECT_EQ(headers->find("X-Inkbox-Signature"), nullptr) << "no signing key, no signature";
    EXPECT_GE(d.find("decided_in_us")->integer, 0);
}

TEST_F(decide_endpoint, by_identity_id_with_a_given_call_id)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    auto d = decide("{\"call_id\":\"11111111-2222-4333-8444-555555555555\",\"agent_identity_id\":\"" + id +
                    "\",\"remote_phone_number\":\"+15550199\"}");
    EXPECT_EQ(text_of(d, "call_id"), "11111111-2222-4333-8444-555555555555");
    EXPECT_EQ(text_of(d, "action"), "answer");
}

TEST_F(decide_endpoint, the_call_context_carries_the_dialed_number_as_the_edge_sent_it)
{
    // By identity id, the edge's local_phone_number is any string: the call
    // context (JSON inside the JSON body) escapes it at both levels.
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    auto d = decide(R"({"agent_identity_id":")" + id +
                    R"(","local_phone_number":"trunk \"7\"\\a\tb","remote_phone_number":"+15550199"})");
    ASSERT_EQ(text_of(d, "action"), "answer");
    auto context = d.find("client_websocket_headers")->find("X-Call-Context");
    ASSERT_NE(context, nullptr);
    EXPECT_EQ(context->text, "{\"call_id\":\"" + text_of(d, "call_id") +
                                 R"(","phone_number":"trunk \"7\"\\a\tb","direction":"inbound"})");
}

TEST_F(decide_endpoint, config_reject_reasons)
{
    auto rejecting = create_identity("rejecter", "+15550101");
    set_action(rejecting, "auto_reject", "", "");
    auto unconfigured = create_identity("quiet", "+15550102");

    auto d = decide_number("+15550101");
    EXPECT_EQ(text_of(d, "action"), "reject");
    EXPECT_EQ(text_of(d, "source"), "config");
    EXPECT_EQ(text_of(d, "reason"), "auto_reject");

    d = decide_number("+15550102");
    EXPECT_EQ(text_of(d, "reason"), "no_config");
    EXPECT_EQ(text_of(d, "source"), "engine");
    EXPECT_EQ(text_of(d, "agent_identity_id"), unconfigured);

    d = decide_number("+15559999");
    EXPECT_EQ(text_of(d, "reason"), "unknown_number");
    EXPECT_EQ(text_of(d, "agent_identity_id"), "<null>");

    d = decide("{\"agent_identity_id\":\"00000000-0000-4000-8000-000000000077\",\"remote_phone_number\":\"+1555\"}");
    EXPECT_EQ(text_of(d, "reason"), "unknown_identity");
    EXPECT_EQ(text_of(d, "source"), "engine");
}

TEST_F(decide_endpoint, reads_its_writes_immediately)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_reject", "", "");
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "auto_reject");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    EXPECT_EQ(text_of(decide_number("+15550100"), "action"), "answer");
    ASSERT_EQ(api("DELETE", "/incoming-call-action?agent_identity_id=" + id).status, 204);
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "no_config");
    ASSERT_EQ(api("PATCH", "/identities/bot", R"({"phone_number":"+15550111"})").status, 200);
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "unknown_number");
    EXPECT_EQ(text_of(decide_number("+15550111"), "reason"), "no_config");
    ASSERT_EQ(api("DELETE", "/identities/bot").status, 204);
    EXPECT_EQ(text_of(decide_number("+15550111"), "reason"), "unknown_number");
}

TEST_F(decide_endpoint, signed_handshake_headers_when_the_identity_has_a_key)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    rotate_signing_key("bot");
    auto d = decide_number("+15550100");
    const auto* headers = d.find("client_websocket_headers");
    ASSERT_NE(headers, nullptr);
    EXPECT_NE(headers->find("X-Inkbox-Request-ID"), nullptr);
    EXPECT_NE(headers->find("X-Inkbox-Timestamp"), nullptr);
    ASSERT_NE(headers->find("X-Inkbox-Signature"), nullptr);
    EXPECT_EQ(headers->find("X-Inkbox-Signature")->text.rfind("sha256=", 0), 0u);
}

TEST_F(decide_endpoint, edge_token_is_required)
{
    auto missing = edge("POST", "/v1/calls/decide", R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})", "");
    EXPECT_EQ(missing.status, 401);
    EXPECT_EQ(missing.body, R"({"detail":"Missing edge token"})");
    auto wrong = edge("POST", "/v1/calls/decide", R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})",
                      "et_wrong");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.body, R"({"detail":"Invalid edge token"})");
    // The config API's admin key is not an edge token.
    EXPECT_EQ(edge("POST", "/v1/calls/decide", "{}", admin).status, 401);
    EXPECT_EQ(edge("GET", "/healthz", "", "").status, 200);
}

TEST_F(decide_endpoint, malformed_requests_are_422)
{
    auto token = server_->edge_token();
    struct row {
        std::string body;
        std::string detail;
    };
    const row table[] = {
        {"not json", "Invalid JSON body"},
        {"[]", "Invalid JSON body"},
        {R"({"remote_phone_number":"+15550199"})", "local_phone_number or agent_identity_id is required"},
        {R"({"local_phone_number":"+15550100"})", "remote_phone_number is required"},
        {R"({"local_phone_number":"+15550100","remote_phone_number":""})", "remote_phone_number is required"},
        {R"({"local_phone_number":15550100,"remote_phone_number":"+1"})", "local_phone_number must be a string"},
        {R"({"agent_identity_id":"nope","remote_phone_number":"+1"})", "agent_identity_id must be a UUID"},
        {R"({"call_id":"nope","local_phone_number":"+15550100","remote_phone_number":"+1"})", "call_id must be a UUID"},
    };
    for (const auto& r : table) {
        SCOPED_TRACE(r.body);
        auto reply = edge("POST", "/v1/calls/decide", r.body, token);
        EXPECT_EQ(reply.status, 422);
        EXPECT_EQ(reply.body, "{\"detail\":\"" + r.detail + "\"}");
    }
    EXPECT_EQ(edge("GET", "/v1/calls/decide", "", token).status, 405);
    EXPECT_EQ(edge("POST", "/v1/nothing", "{}", token).status, 404);
}

TEST_F(decide_endpoint, status_updates_complete_the_record)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_accept", "wss://agent.example.com/ws", "");
    auto call_id = text_of(decide_number("+15550100"), "call_id");
    auto token = server_->edge_token();
    auto record = [&] {
        engine::json_object doc;
        doc.parse(api("GET", "/calls/" + call_id).body);
        return doc;
    };
    EXPECT_EQ(text_of(record(), "status"), "ringing");
    EXPECT_EQ(edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"answered"})", token).status, 204);
    auto answered = record();
    EXPECT_EQ(text_of(answered, "status"), "answered");
    EXPECT_NE(text_of(answered, "started_at"), "<null>");
    EXPECT_EQ(edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"completed","hangup_reason":"remote"})",
                   token)
                  .status,
              204);
    auto done = record();
    EXPECT_EQ(text_of(done, "status"), "completed");
    EXPECT_EQ(text_of(done, "hangup_reason"), "remote");
    EXPECT_NE(text_of(done, "ended_at"), "<null>");

    EXPECT_EQ(edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"ringing"})", token).status, 422);
    EXPECT_EQ(edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"completed","hangup_reason":"x"})", token)
                  .status,
              422);
    EXPECT_EQ(edge("POST", "/v1/calls/00000000-0000-4000-8000-000000000001/status", R"({"status":"failed"})", token)
                  .status,
              404);
    EXPECT_EQ(edge("POST", "/v1/calls/" + call_id + "/status", R"({"status":"failed"})", "").status, 401);
}

TEST_F(decide_endpoint, decisions_are_counted_in_metrics)
{
    auto id = create_identity("bot", "+15550100");
    set_action(id, "auto_reject", "", "");
    decide_number("+15550100");
    decide_number("+15550100");
    decide_number("+15550999");
    auto m = metrics();
    EXPECT_NE(m.find("callgate_decisions_total{action=\"reject\",source=\"config\",reason=\"auto_reject\"} 2"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("callgate_decisions_total{action=\"reject\",source=\"engine\",reason=\"unknown_number\"} 1"),
              std::string::npos);
    EXPECT_NE(m.find("callgate_decision_duration_seconds_count{source=\"config\"} 2"), std::string::npos);
    EXPECT_NE(m.find("callgate_decision_duration_seconds_count{source=\"engine\"} 1"), std::string::npos);
    EXPECT_NE(m.find("callgate_http_requests_total{listener=\"edge\",code=\"200\"} 3"), std::string::npos);
}

} // namespace
} // namespace callgate::testing
