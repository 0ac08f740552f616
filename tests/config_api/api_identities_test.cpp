// Agent identities: create, list, get, patch, delete — statuses, messages, scope.
#include "api_support.hpp"

#include "callgate/engine/uuid.hpp"

namespace callgate::testing {
namespace {

class identities : public api_test {};

TEST_F(identities, create_returns_the_object)
{
    auto r = call("POST", "/identities", admin,
                  R"({"agent_handle":"sales-bot","display_name":"Sales \"bot\"","phone_number":"+15550100"})");
    ASSERT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    EXPECT_TRUE(engine::uuid::parse(doc.find("id")->text));
    EXPECT_EQ(doc.find("agent_handle")->text, "sales-bot");
    EXPECT_EQ(doc.find("display_name")->text, "Sales \"bot\"");
    EXPECT_EQ(doc.find("phone_number")->text, "+15550100");
    EXPECT_EQ(doc.find("created_at")->text.back(), 'Z');
    EXPECT_EQ(doc.find("created_at")->text, doc.find("updated_at")->text);
}

TEST_F(identities, optional_fields_default_to_null)
{
    auto r = call("POST", "/identities", admin, R"({"agent_handle":"bot"})");
    ASSERT_EQ(r.status, 201);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("display_name")->type, engine::json_type::null);
    EXPECT_EQ(doc.find("phone_number")->type, engine::json_type::null);
}

TEST_F(identities, conflicts_are_409)
{
    create_identity("bot", "+15550100");
    EXPECT_ERROR(call("POST", "/identities", admin, R"({"agent_handle":"bot"})"), 409, "agent_handle already exists");
    EXPECT_ERROR(call("POST", "/identities", admin, R"({"agent_handle":"bot2","phone_number":"+15550100"})"), 409,
                 "phone_number already assigned");
}

TEST_F(identities, field_rules_are_422)
{
    auto post = [&](const std::string& body) { return call("POST", "/identities", admin, body); };
    const char* handle_rule = "agent_handle must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'";
    const char* phone_rule = "phone_number must be E.164: '+' followed by 8 to 15 digits";
    EXPECT_ERROR(post("{}"), 422, "agent_handle is required");
    EXPECT_ERROR(post(R"({"agent_handle":7})"), 422, "agent_handle must be a string");
    EXPECT_ERROR(post(R"({"agent_handle":""})"), 422, handle_rule);
    EXPECT_ERROR(post(R"({"agent_handle":"Sales"})"), 422, handle_rule);
    EXPECT_ERROR(post(R"({"agent_handle":"a b"})"), 422, handle_rule);
    EXPECT_ERROR(post("{\"agent_handle\":\"" + std::string(65, 'a') + "\"}"), 422, handle_rule);
    EXPECT_ERROR(post(R"({"agent_handle":"ok","phone_number":"5550100"})"), 422, phone_rule);
    EXPECT_ERROR(post(R"({"agent_handle":"ok","phone_number":"+1555010"})"), 422, phone_rule);
    EXPECT_ERROR(post(R"({"agent_handle":"ok","phone_number":15550100})"), 422,
                 "phone_number must be a string or null");
    EXPECT_ERROR(post(R"({"agent_handle":"ok","display_name":false})"), 422, "display_name must be a string or null");
    EXPECT_ERROR(post("{\"agent_handle\":\"ok\",\"display_name\":\"" + std::string(257, 'x') + "\"}"), 422,
                 "display_name must be at most 256 bytes");
    // None of those created anything.
    EXPECT_EQ(parse_json(call("GET", "/identities", admin).body).find("total")->integer, 0);
}

TEST_F(identities, list_pages_by_handle_with_total)
{
    for (auto h : {"delta", "alpha", "charlie", "bravo"})
        create_identity(h);
    auto r = call("GET", "/identities?limit=2&offset=1", admin);
    ASSERT_EQ(r.status, 200) << r.body;
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("total")->integer, 4);
    EXPECT_NE(r.body.find("\"bravo\""), std::string::npos);
    EXPECT_NE(r.body.find("\"charlie\""), std::string::npos);
    EXPECT_EQ(r.body.find("\"alpha\""), std::string::npos);
    EXPECT_LT(r.body.find("\"bravo\""), r.body.find("\"charlie\""));
    auto all = call("GET", "/identities", admin);
    EXPECT_NE(all.body.find("\"delta\""), std::string::npos);
}

TEST_F(identities, list_parameters_are_validated)
{
    const char* limit_rule = "limit must be an integer from 1 to 200";
    EXPECT_ERROR(call("GET", "/identities?limit=0", admin), 422, limit_rule);
    EXPECT_ERROR(call("GET", "/identities?limit=201", admin), 422, limit_rule);
    EXPECT_ERROR(call("GET", "/identities?limit=ten", admin), 422, limit_rule);
    EXPECT_ERROR(call("GET", "/identities?offset=-1", admin), 422, "offset must be a non-negative integer");
    EXPECT_EQ(call("GET", "/identities?limit=200", admin).status, 200);
}

TEST_F(identities, get_by_handle)
{
    auto id = create_identity("bot", "+15550100");
    auto r = call("GET", "/identities/bot", admin);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(parse_json(r.body).find("id")->text, id);
    EXPECT_ERROR(call("GET", "/identities/nobody", admin), 404, "Agent identity not found");
    EXPECT_ERROR(call("GET", "/identities/NOT%20VALID", admin), 404, "Agent identity not found");
}

TEST_F(identities, patch_updates_named_fields_only)
{
    create_identity("bot", "+15550100");
    create_identity("other", "+15550111");
    auto r = call("PATCH", "/identities/bot", admin, R"({"display_name":"Front desk"})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("display_name")->text, "Front desk");
    EXPECT_EQ(doc.find("phone_number")->text, "+15550100");
    EXPECT_GE(doc.find("updated_at")->text, doc.find("created_at")->text);

    EXPECT_ERROR(call("PATCH", "/identities/bot", admin, R"({"phone_number":"+15550111"})"), 409,
                 "phone_number already assigned");
    r = call("PATCH", "/identities/bot", admin, R"({"phone_number":null})");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(parse_json(r.body).find("phone_number")->type, engine::json_type::null);
    EXPECT_EQ(parse_json(r.body).find("display_name")->text, "Front desk");
    EXPECT_ERROR(call("PATCH", "/identities/bot", admin, R"({"phone_number":"nope"})"), 422,
                 "phone_number must be E.164: '+' followed by 8 to 15 digits");
    EXPECT_ERROR(call("PATCH", "/identities/ghost", admin, R"({"display_name":"x"})"), 404,
                 "Agent identity not found");
}

TEST_F(identities, delete_cascades_to_config_and_scoped_keys)
{
    auto id = create_identity("bot", "+15550100");
    ASSERT_EQ(put_action(id, "auto_reject").status, 200);
    auto key = scoped_key(id);
    ASSERT_EQ(call("POST", "/identities/bot/signing-key", admin).status, 201);
    EXPECT_EQ(call("DELETE", "/identities/bot", admin).status, 204);
    EXPECT_ERROR(call("GET", "/identities/bot", admin), 404, "Agent identity not found");
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + id, admin), 404,
                 "Agent identity not found");
    EXPECT_ERROR(call("GET", "/api-keys/self", key), 401, "Invalid API key");
    EXPECT_ERROR(call("DELETE", "/identities/bot", admin), 404, "Agent identity not found");
    // Handle and number are free again.
    auto again = create_identity("bot", "+15550100");
    EXPECT_NE(again, id);
    EXPECT_ERROR(call("GET", "/incoming-call-action?agent_identity_id=" + again, admin), 404,
                 "No inbound-call config set for this identity");
}

TEST_F(identities, scoped_key_may_read_only_its_own)
{
    auto id = create_identity("bot");
    create_identity("other");
    auto key = scoped_key(id);
    EXPECT_EQ(call("GET", "/identities/bot", key).status, 200);
    EXPECT_ERROR(call("GET", "/identities/other", key), 403, "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("GET", "/identities/ghost", key), 403, "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("GET", "/identities", key), 403, "Admin API key required");
    EXPECT_ERROR(call("POST", "/identities", key, R"({"agent_handle":"x"})"), 403, "Admin API key required");
    EXPECT_ERROR(call("PATCH", "/identities/bot", key, R"({"display_name":"x"})"), 403, "Admin API key required");
    EXPECT_ERROR(call("DELETE", "/identities/bot", key), 403, "Admin API key required");
}

} // namespace
} // namespace callgate::testing
