// API keys and signing keys.
#include "api_support.hpp"

#include "callgate/codec/base64.hpp"

#include "callgate/engine/secrets.hpp"

namespace callgate::testing {
namespace {

class api_keys : public api_test {};

TEST_F(api_keys, create_shows_the_key_once_with_its_record)
{
    auto id = create_identity("bot");
    auto r = call("POST", "/api-keys", admin, "{\"label\":\"ci\",\"scoped_identity_id\":\"" + id + "\"}");
    ASSERT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    auto key = doc.find("api_key")->text;
    EXPECT_EQ(key.rfind("cg_", 0), 0u);
    EXPECT_GE(key.size(), 3u + 43u);
    const auto* record = doc.find("record");
    ASSERT_NE(record, nullptr);
    EXPECT_EQ(record->find("label")->text, "ci");
    EXPECT_EQ(record->find("scoped_identity_id")->text, id);
    EXPECT_EQ(record->find("status")->text, "active");
    EXPECT_EQ(record->find("last4")->text, key.substr(key.size() - 4));
    // The list never shows the key itself.
    auto list = call("GET", "/api-keys", admin);
    ASSERT_EQ(list.status, 200);
    EXPECT_NE(list.body.find(record->find("id")->text), std::string::npos);
    EXPECT_EQ(list.body.find(key), std::string::npos);
}

TEST_F(api_keys, create_validates_its_fields)
{
    EXPECT_ERROR(call("POST", "/api-keys", admin, R"({"label":"x"})"), 422, "scoped_identity_id is required");
    EXPECT_ERROR(call("POST", "/api-keys", admin, R"({"scoped_identity_id":"zzz"})"), 422,
                 "scoped_identity_id must be a valid UUID");
    EXPECT_ERROR(call("POST", "/api-keys", admin, R"({"label":3,"scoped_identity_id":null})"), 422,
                 "label must be a string or null");
    EXPECT_ERROR(call("POST", "/api-keys", admin, R"({"scoped_identity_id":"00000000-0000-4000-8000-000000000009"})"),
                 404, "Agent identity not found");
}

TEST_F(api_keys, self_describes_the_caller)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    auto r = call("GET", "/api-keys/self", key);
    ASSERT_EQ(r.status, 200);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("scoped_identity_id")->text, id);
    EXPECT_EQ(doc.find("last4")->text, key.substr(key.size() - 4));
    auto a = call("GET", "/api-keys/self", admin);
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(parse_json(a.body).find("scoped_identity_id")->type, engine::json_type::null);
}

TEST_F(api_keys, revoked_key_is_rejected_from_the_next_request)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    auto self = parse_json(call("GET", "/api-keys/self", key).body);
    auto key_id = self.find("id")->text;
    EXPECT_EQ(call("DELETE", "/api-keys/" + key_id, admin).status, 204);
    EXPECT_ERROR(call("GET", "/api-keys/self", key), 401, "Invalid API key");
    EXPECT_ERROR(call("GET", "/incoming-call-action", key), 401, "Invalid API key");
    auto list = call("GET", "/api-keys", admin);
    EXPECT_NE(list.body.find("\"revoked\""), std::string::npos);
    EXPECT_ERROR(call("DELETE", "/api-keys/00000000-0000-4000-8000-000000000009", admin), 404, "API key not found");
    EXPECT_ERROR(call("DELETE", "/api-keys/not-a-uuid", admin), 404, "API key not found");
}

TEST_F(api_keys, scoped_keys_cannot_manage_keys)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    EXPECT_ERROR(call("GET", "/api-keys", key), 403, "Admin API key required");
    EXPECT_ERROR(call("POST", "/api-keys", key, "{\"scoped_identity_id\":\"" + id + "\"}"), 403,
                 "Admin API key required");
    EXPECT_ERROR(call("DELETE", "/api-keys/00000000-0000-4000-8000-000000000009", key), 403,
                 "Admin API key required");
}

class signing_keys : public api_test {};

TEST_F(signing_keys, create_and_rotate)
{
    create_identity("bot");
    auto r = call("POST", "/identities/bot/signing-key", admin);
    ASSERT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    auto first = doc.find("signing_key")->text;
    ASSERT_EQ(first.rfind("whsec_", 0), 0u);
    std::string raw;
    ASSERT_TRUE(codec::base64_decode(first.substr(6), raw));
    EXPECT_EQ(raw.size(), 32u);
    EXPECT_EQ(doc.find("created_at")->text.back(), 'Z');
    auto second = parse_json(call("POST", "/identities/bot/signing-key", admin).body).find("signing_key")->text;
    EXPECT_NE(first, second);
}

TEST_F(signing_keys, scope_and_existence)
{
    auto id = create_identity("bot");
    create_identity("other");
    auto key = scoped_key(id);
    EXPECT_EQ(call("POST", "/identities/bot/signing-key", key).status, 201);
    EXPECT_ERROR(call("POST", "/identities/other/signing-key", key), 403,
                 "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("POST", "/identities/ghost/signing-key", admin), 404, "Agent identity not found");
    EXPECT_EQ(call("GET", "/identities/bot/signing-key", admin).status, 200); // the status, never the key
    auto not_allowed = call("DELETE", "/identities/bot/signing-key", admin);
    EXPECT_EQ(not_allowed.status, 405);
    EXPECT_EQ(not_allowed.header("Allow"), "GET, POST");
}

} // namespace
} // namespace callgate::testing
