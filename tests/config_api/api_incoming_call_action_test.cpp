// The seed's incoming-call-action endpoints: every status and message of its
// error tables and of config-api.md, the check order, PUT-replaces and scope.
#include "api_support.hpp"

namespace callgate::testing {
namespace {

constexpr const char* ws = "wss://agent.example.com/ws";
constexpr const char* hook = "https://hooks.example.com/incoming";
constexpr const char* unknown_id = "00000000-0000-4000-8000-000000000001";

class incoming_call_action : public api_test {};

TEST_F(incoming_call_action, put_then_get_returns_the_object)
{
    auto id = create_identity("sales-bot");
    auto r = put_action(id, "auto_accept", ws);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    std::string expected = "{\"agent_identity_id\":\"" + id +
                           "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" + ws +
                           "\",\"incoming_call_webhook_url\":null,\"incoming_call_fallback_action\":null}";
    EXPECT_EQ(r.body, expected);
    auto g = call("GET", "/incoming-call-action?agent_identity_id=" + id, admin);
    EXPECT_EQ(g.status, 200);
    EXPECT_EQ(g.body, expected);
}

TEST_F(incoming_call_action, put_replaces_the_whole_config)
{
    auto id = create_identity("bot");
    ASSERT_EQ(put_action(id, "webhook", ws, hook).status, 200);
    auto r = put_action(id, "auto_reject");
    ASSERT_EQ(r.status, 200);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("incoming_call_action")->text, "auto_reject");
    EXPECT_EQ(doc.find("client_websocket_url")->type, engine::json_type::null);
    EXPECT_EQ(doc.find("incoming_call_webhook_url")->type, engine::json_type::null);
    auto g = call("GET", "/incoming-call-action?agent_identity_id=" + id, admin);
    EXPECT_EQ(g.body, r.body);
}

TEST_F(incoming_call_action, webhook_with_a_default_client_url)
{
    auto id = create_identity("bot");
    auto r = put_action(id, "webhook", ws, hook);
    ASSERT_EQ(r.status, 200) << r.body;
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("client_websocket_url")->text, ws);
    EXPECT_EQ(doc.find("incoming_call_webhook_url")->text, hook);
}

TEST_F(incoming_call_action, unknown_identity_is_404)
{
    EXPECT_ERROR(put_action(unknown_id, "auto_reject"), 404, "Agent identity not found");
    EXPECT_ERROR(call("GET", std::string("/incoming-call-action?agent_identity_id=") + unknown_id, admin), 404,
                 "Agent identity not found");
    EXPECT_ERROR(call("DELETE", std::string("/incoming-call-action?agent_identity_id=") + unknown_id, admin),
                 404, "Agent identity not found");
}

TEST_F(incoming_call_action, no_config_is_404)
{
    auto id = create_identity("bot");
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + id, admin), 404,
                 "No inbound-call config set for this identity");
    EXPECT_ERROR(call("DELETE", "/incoming-call-action?agent_identity_id=" + id, admin), 404,
                 "No inbound-call config set for this identity");
}

TEST_F(incoming_call_action, admin_must_name_the_identity)
{
    EXPECT_ERROR(call("PUT", "/incoming-call-action", admin, R"({"incoming_call_action":"auto_reject"})"), 422,
                 "agent_identity_id is required");
    EXPECT_ERROR(call("PUT", "/incoming-call-action", admin,
                      R"({"incoming_call_action":"auto_reject","agent_identity_id":null})"),
                 422, "agent_identity_id is required");
    EXPECT_ERROR(call("GET", "/incoming-call-action", admin), 422, "agent_identity_id is required");
    EXPECT_ERROR(call("DELETE", "/incoming-call-action", admin), 422, "agent_identity_id is required");
}

TEST_F(incoming_call_action, required_when_rules)
{
    auto id = create_identity("bot");
    EXPECT_ERROR(put_action(id, "auto_accept"), 422,
                 "client_websocket_url is required when incoming_call_action is \"auto_accept\"");
    EXPECT_ERROR(put_action(id, "webhook", ws), 422,
                 "incoming_call_webhook_url is required when incoming_call_action is \"webhook\"");
    // Nothing was stored by the failed PUTs.
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + id, admin), 404,
                 "No inbound-call config set for this identity");
}

TEST_F(incoming_call_action, existence_is_checked_before_required_when_rules)
{
    EXPECT_ERROR(put_action(unknown_id, "auto_accept"), 404, "Agent identity not found");
}

TEST_F(incoming_call_action, request_shape_errors_name_the_field)
{
    auto id = create_identity("bot");
    auto put = [&](const std::string& body) { return call("PUT", "/incoming-call-action", admin, body); };
    auto with_id = [&](const std::string& rest) {
        return put("{\"agent_identity_id\":\"" + id + "\"" + rest + "}");
    };
    EXPECT_ERROR(with_id(""), 422, "incoming_call_action is required");
    EXPECT_ERROR(with_id(",\"incoming_call_action\":null"), 422, "incoming_call_action is required");
    EXPECT_ERROR(with_id(",\"incoming_call_action\":5"), 422, "incoming_call_action must be a string");
    EXPECT_ERROR(with_id(",\"incoming_call_action\":\"auto_answer\""), 422,
                 "incoming_call_action must be one of \"auto_accept\", \"auto_reject\", \"webhook\"");
    EXPECT_ERROR(put(R"({"incoming_call_action":"auto_reject","agent_identity_id":"not-a-uuid"})"), 422,
                 "agent_identity_id must be a valid UUID");
    EXPECT_ERROR(put(R"({"incoming_call_action":"auto_reject","agent_identity_id":42})"), 422,
                 "agent_identity_id must be a UUID string or null");
    EXPECT_ERROR(with_id(R"(,"incoming_call_action":"auto_accept","client_websocket_url":7)"), 422,
                 "client_websocket_url must be a string or null");
    EXPECT_ERROR(with_id(R"(,"incoming_call_action":"webhook","incoming_call_webhook_url":["x"])"), 422,
                 "incoming_call_webhook_url must be a string or null");
}

TEST_F(incoming_call_action, url_rules)
{
    auto id = create_identity("bot");
    auto ws_put = [&](const std::string& url) { return put_action(id, "auto_accept", url); };
    EXPECT_ERROR(ws_put("ws://agent.example.com/ws"), 422, "client_websocket_url must be a wss:// URL");
    EXPECT_ERROR(ws_put("https://agent.example.com/ws"), 422, "client_websocket_url must be a wss:// URL");
    EXPECT_ERROR(ws_put("wss://user:pw@agent.example.com/ws"), 422,
                 "client_websocket_url must not contain userinfo");
    EXPECT_ERROR(ws_put("wss://agent.example.com/ws#x"), 422, "client_websocket_url must not contain a fragment");
    EXPECT_ERROR(ws_put("wss:///ws"), 422, "client_websocket_url must be an absolute URL with a host");
    EXPECT_ERROR(ws_put("wss://a.example.com/" + std::string(2100, 'x')), 422,
                 "client_websocket_url must be at most 2048 bytes");
    EXPECT_ERROR(put_action(id, "webhook", {}, "http://hooks.example.com/in"), 422,
                 "incoming_call_webhook_url must be an https:// URL");
    EXPECT_ERROR(put_action(id, "webhook", {}, "https://hooks.example.com/in#frag"), 422,
                 "incoming_call_webhook_url must not contain a fragment");
    // The form is checked here; private addresses are refused only at dispatch.
    EXPECT_EQ(put_action(id, "webhook", {}, "https://10.1.2.3/in").status, 200);
}

TEST_F(incoming_call_action, unknown_fields_are_ignored)
{
    auto id = create_identity("bot");
    auto r = call("PUT", "/incoming-call-action", admin,
                  "{\"agent_identity_id\":\"" + id +
                      "\",\"incoming_call_action\":\"auto_reject\",\"extra\":{\"deep\":[1,2]},\"x\":1}");
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(incoming_call_action, delete_removes_the_config)
{
    auto id = create_identity("bot");
    ASSERT_EQ(put_action(id, "auto_reject").status, 200);
    auto d = call("DELETE", "/incoming-call-action?agent_identity_id=" + id, admin);
    EXPECT_EQ(d.status, 204);
    EXPECT_TRUE(d.body.empty());
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + id, admin), 404,
                 "No inbound-call config set for this identity");
}

TEST_F(incoming_call_action, scoped_key_uses_its_own_identity)
{
    auto id = create_identity("bot");
    auto other = create_identity("other");
    auto key = scoped_key(id);
    auto r = call("PUT", "/incoming-call-action", key, R"({"incoming_call_action":"auto_reject"})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse_json(r.body).find("agent_identity_id")->text, id);
    EXPECT_EQ(call("PUT", "/incoming-call-action", key,
                   "{\"incoming_call_action\":\"auto_reject\",\"agent_identity_id\":\"" + id + "\"}")
                  .status,
              200);
    EXPECT_EQ(call("GET", "/incoming-call-action", key).status, 200);
    EXPECT_EQ(call("GET", "/incoming-call-action?agent_identity_id=" + id, key).status, 200);

    EXPECT_ERROR(call("PUT", "/incoming-call-action", key,
                      "{\"incoming_call_action\":\"auto_reject\",\"agent_identity_id\":\"" + other + "\"}"),
                 403, "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + other, key), 403,
                 "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("DELETE", "/incoming-call-action?agent_identity_id=" + other, key), 403,
                 "API key is not scoped to this agent identity");
    // Scope (403) comes before existence (404)…
    EXPECT_ERROR(call("GET", std::string("/incoming-call-action?agent_identity_id=") + unknown_id, key), 403,
                 "API key is not scoped to this agent identity");
    // …and request shape (422) before scope.
    EXPECT_ERROR(call("PUT", "/incoming-call-action", key,
                      "{\"incoming_call_action\":\"sometimes\",\"agent_identity_id\":\"" + other + "\"}"),
                 422, "incoming_call_action must be one of \"auto_accept\", \"auto_reject\", \"webhook\"");
    // The other identity was never touched.
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + other, admin), 404,
                 "No inbound-call config set for this identity");
}

TEST_F(incoming_call_action, answers_under_both_prefixes)
{
    auto id = create_identity("bot");
    for (std::string prefix : {"/api/v1/phone", "/api/v1"}) {
        auto r = call("PUT", prefix + "/incoming-call-action", admin,
                      "{\"agent_identity_id\":\"" + id + "\",\"incoming_call_action\":\"auto_reject\"}");
        EXPECT_EQ(r.status, 200) << prefix;
        EXPECT_EQ(call("GET", prefix + "/incoming-call-action?agent_identity_id=" + id, admin).status, 200);
        EXPECT_EQ(call("GET", prefix + "/healthz", {}).status, 200);
    }
    EXPECT_ERROR(call("GET", "/api/v2/incoming-call-action", admin), 404, "Not Found");
}

TEST_F(incoming_call_action, malformed_uuid_in_query_is_422)
{
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=nope", admin), 422,
                 "agent_identity_id must be a valid UUID");
}

class insecure_urls : public api_test {
    std::vector<std::string> extra_args() const override { return {"--allow-insecure-urls"}; }
};

TEST_F(insecure_urls, accept_ws_and_http_when_allowed)
{
    auto id = create_identity("bot");
    EXPECT_EQ(put_action(id, "auto_accept", "ws://127.0.0.1:9000/ws").status, 200);
    EXPECT_EQ(put_action(id, "webhook", {}, "http://127.0.0.1:9000/hook").status, 200);
}

} // namespace
} // namespace callgate::testing
