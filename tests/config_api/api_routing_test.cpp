// How a request finds its route: percent-decoded segments, literal segments
// over parameters, trailing slashes, the /api/v1 prefixes, and the order of
// 400/404/405 before authentication and of 403 before the body.
#include "callgate/config_api/api_router.hpp"

#include "api_support.hpp"

#include <map>

namespace callgate::testing {
namespace {

class routing : public api_test {};

TEST_F(routing, path_segments_are_matched_percent_decoded)
{
    create_identity("bot");
    EXPECT_EQ(call("GET", "/identit%69es", admin).status, 200);
    auto r = call("GET", "/identities/b%6Ft", admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse_json(r.body).find("agent_handle")->text, "bot");
    EXPECT_EQ(call("GET", "/api-keys/%73elf", admin).status, 200);
    // An encoded slash stays inside its segment.
    EXPECT_ERROR(call("GET", "/identities/b%2Fot", admin), 404, "Agent identity not found");
    EXPECT_ERROR(call("GET", "/identities%2Fbot", admin), 404, "Not Found");
}

TEST_F(routing, malformed_percent_encoding_in_the_path_is_400_before_404_and_auth)
{
    for (std::string target : {"/identities/%zz", "/nope/%4", "/api/v1/calls/%", "/healthz%g0"}) {
        SCOPED_TRACE(target);
        EXPECT_ERROR(call("GET", target, {}), 400, "Malformed percent-encoding in path");
    }
}

TEST_F(routing, query_is_checked_after_auth_and_not_on_open_routes)
{
    EXPECT_ERROR(call("GET", "/calls?limit=%zz", {}), 401, "Missing API key");
    EXPECT_ERROR(call("GET", "/calls?limit=%zz", admin), 400, "Malformed percent-encoding in query string");
    EXPECT_EQ(call("GET", "/healthz?%zz", {}).status, 200);
}

TEST_F(routing, literal_segment_wins_over_a_parameter)
{
    auto r = call("DELETE", "/api-keys/self", admin);
    EXPECT_ERROR(r, 405, "Method Not Allowed");
    EXPECT_EQ(r.header("Allow"), "GET");
    auto k = call("GET", "/api-keys/00000000-0000-4000-8000-000000000000", admin);
    EXPECT_ERROR(k, 405, "Method Not Allowed");
    EXPECT_EQ(k.header("Allow"), "DELETE");
}

TEST_F(routing, one_trailing_slash_is_ignored_and_empty_segments_match_nothing)
{
    EXPECT_EQ(call("GET", "/identities/", admin).status, 200);
    EXPECT_ERROR(call("GET", "/identities//", admin), 404, "Not Found");
    EXPECT_ERROR(call("GET", "/calls//", admin), 404, "Not Found");
    EXPECT_ERROR(call("GET", "/", admin), 404, "Not Found");
    EXPECT_ERROR(call("GET", "/api/v1", admin), 404, "Not Found");
    EXPECT_ERROR(call("GET", "/api/v1/", admin), 404, "Not Found");
}

TEST_F(routing, both_prefixes_reach_every_resource)
{
    create_identity("bot");
    for (std::string prefix : {"/api/v1/phone", "/api/v1"}) {
        EXPECT_EQ(call("GET", prefix + "/identities/bot", admin).status, 200) << prefix;
        EXPECT_EQ(call("GET", prefix + "/calls", admin).status, 200) << prefix;
        EXPECT_EQ(call("GET", prefix + "/api-keys/self", admin).status, 200) << prefix;
        EXPECT_EQ(call("GET", prefix + "/metrics", {}).status, 200) << prefix;
    }
    EXPECT_ERROR(call("GET", "/api/v1phone/calls", admin), 404, "Not Found");
}

TEST_F(routing, wrong_method_is_405_before_auth_and_unknown_path_404_before_auth)
{
    auto r = call("PATCH", "/calls", {}, "{}");
    EXPECT_ERROR(r, 405, "Method Not Allowed");
    EXPECT_EQ(r.header("Allow"), "GET");
    EXPECT_ERROR(call("GET", "/nope", {}), 404, "Not Found");
}

TEST_F(routing, every_path_answers_an_undeclared_method_with_405_and_its_methods)
{
    std::map<std::string, std::string> allow; // path -> "GET, POST" in declaration order
    for (const auto& r : config_api::api_router::routes()) {
        auto& methods = allow[std::string(r.path)];
        methods += (methods.empty() ? "" : ", ") + std::string(r.method);
    }
    for (const auto& [path, methods] : allow) {
        std::string target = path;
        auto brace = target.find('{');
        if (brace != std::string::npos)
            target = target.substr(0, brace) + "x" + target.substr(target.find('}') + 1);
        SCOPED_TRACE(target);
        auto r = call("OPTIONS", target, {});
        EXPECT_ERROR(r, 405, "Method Not Allowed");
        EXPECT_EQ(r.header("Allow"), methods);
    }
}

TEST_F(routing, admin_only_is_403_before_the_body_is_read)
{
    auto key = scoped_key(create_identity("bot"));
    EXPECT_ERROR(call("POST", "/identities", key, "not json"), 403, "Admin API key required");
    EXPECT_ERROR(call("PATCH", "/identities/bot", key, "not json"), 403, "Admin API key required");
    EXPECT_ERROR(call("DELETE", "/api-keys/nope", key), 403, "Admin API key required");
    EXPECT_ERROR(call("GET", "/identities?limit=0", key), 403, "Admin API key required");
    // Routes open to a scoped key apply its scope in the handler.
    EXPECT_EQ(call("GET", "/identities/bot", key).status, 200);
    EXPECT_ERROR(call("GET", "/identities/other", key), 403, "API key is not scoped to this agent identity");
}

} // namespace
} // namespace callgate::testing
