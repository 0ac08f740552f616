// The authentication matrix: no key, bad key, revoked key, admin, scoped key on
// its own identity, naming another, and on admin-only routes; and the check
// order (401 before everything else).
#include "api_support.hpp"

namespace callgate::testing {
namespace {

class auth : public api_test {};

struct route {
    const char* method;
    std::string target;
    std::string body;
};

std::vector<route> protected_routes(const std::string& id)
{
    return {
        {"PUT", "/incoming-call-action", R"({"incoming_call_action":"auto_reject"})"},
        {"GET", "/incoming-call-action?agent_identity_id=" + id, ""},
        {"DELETE", "/incoming-call-action?agent_identity_id=" + id, ""},
        {"POST", "/identities", R"({"agent_handle":"x"})"},
        {"GET", "/identities", ""},
        {"GET", "/identities/bot", ""},
        {"PATCH", "/identities/bot", R"({"display_name":"x"})"},
        {"DELETE", "/identities/bot", ""},
        {"POST", "/identities/bot/signing-key", ""},
        {"POST", "/api-keys", "{\"scoped_identity_id\":\"" + id + "\"}"},
        {"GET", "/api-keys", ""},
        {"GET", "/api-keys/self", ""},
        {"DELETE", "/api-keys/00000000-0000-4000-8000-000000000009", ""},
    };
}

TEST_F(auth, missing_key_is_401_on_every_protected_route)
{
    auto id = create_identity("bot");
    for (const auto& r : protected_routes(id)) {
        SCOPED_TRACE(std::string(r.method) + " " + r.target);
        EXPECT_ERROR(call(r.method, r.target, {}, r.body), 401, "Missing API key");
    }
}

TEST_F(auth, unknown_key_is_401_on_every_protected_route)
{
    auto id = create_identity("bot");
    for (const auto& r : protected_routes(id)) {
        SCOPED_TRACE(std::string(r.method) + " " + r.target);
        EXPECT_ERROR(call(r.method, r.target, "cg_not_a_key_at_all", r.body), 401, "Invalid API key");
    }
    // Nothing changed.
    EXPECT_EQ(call("GET", "/identities/bot", admin).status, 200);
}

TEST_F(auth, bearer_header_is_accepted)
{
    auto r = connection_->request("GET", "/api-keys/self", {{"Authorization", "Bearer " + std::string(admin)}});
    EXPECT_EQ(r.status, 200) << r.body;
    auto bad = connection_->request("GET", "/api-keys/self", {{"Authorization", "Bearer cg_wrong"}});
    EXPECT_ERROR(bad, 401, "Invalid API key");
    auto basic = connection_->request("GET", "/api-keys/self", {{"Authorization", "Basic abc"}});
    EXPECT_ERROR(basic, 401, "Missing API key");
}

TEST_F(auth, scoped_key_on_admin_only_routes_is_403)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    const route admin_only[] = {
        {"POST", "/identities", R"({"agent_handle":"x"})"},
        {"GET", "/identities", ""},
        {"PATCH", "/identities/bot", R"({"display_name":"x"})"},
        {"DELETE", "/identities/bot", ""},
        {"POST", "/api-keys", "{\"scoped_identity_id\":\"" + id + "\"}"},
        {"GET", "/api-keys", ""},
        {"DELETE", "/api-keys/00000000-0000-4000-8000-000000000009", ""},
    };
    for (const auto& r : admin_only) {
        SCOPED_TRACE(std::string(r.method) + " " + r.target);
        EXPECT_ERROR(call(r.method, r.target, key, r.body), 403, "Admin API key required");
    }
    EXPECT_EQ(call("GET", "/identities/bot", admin).status, 200);
}

TEST_F(auth, admin_only_403_comes_before_request_shape)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    EXPECT_ERROR(call("POST", "/identities", key, "not json"), 403, "Admin API key required");
    EXPECT_ERROR(call("POST", "/identities", key, "{}", "text/plain"), 403, "Admin API key required");
}

TEST_F(auth, authentication_comes_before_request_shape)
{
    EXPECT_ERROR(call("PUT", "/incoming-call-action", {}, "not json"), 401, "Missing API key");
    EXPECT_ERROR(call("PUT", "/incoming-call-action", "cg_bad", "{}", "text/plain"), 401, "Invalid API key");
    EXPECT_ERROR(call("PUT", "/incoming-call-action", {}, std::string(70 * 1024, 'x')), 401, "Missing API key");
}

TEST_F(auth, operations_endpoints_need_no_key)
{
    EXPECT_EQ(call("GET", "/healthz", {}).status, 200);
    EXPECT_EQ(call("GET", "/readyz", {}).status, 200);
    EXPECT_EQ(call("GET", "/metrics", {}).status, 200);
    EXPECT_EQ(call("GET", "/openapi.json", {}).status, 200);
}

TEST_F(auth, keys_never_appear_in_logs)
{
    auto id = create_identity("bot");
    auto key = scoped_key(id);
    call("GET", "/api-keys/self", key);
    call("GET", "/api-keys/self", "cg_wrong_key_value");
    EXPECT_EQ(server_->log().find(key), std::string::npos);
    EXPECT_EQ(server_->log().find(admin), std::string::npos);
    EXPECT_EQ(server_->log().find("cg_wrong_key_value"), std::string::npos);
}

} // namespace
} // namespace callgate::testing
