// /openapi.json documents exactly the routes the router serves.
#include "callgate/config_api/api_router.hpp"

#include "api_support.hpp"

#include "callgate/testing/api_documents.hpp"

#include <algorithm>
#include <set>

namespace callgate::testing {
namespace {

TEST(openapi, document_matches_the_routes)
{
    std::set<std::pair<std::string, std::string>> served;
    for (const auto& r : config_api::api_router::routes())
        served.emplace(r.method, r.path);
    EXPECT_EQ(openapi_operations(config_api::api_router::openapi_document()), served);
}

// Keyed routes document 401 and admin-only ones 403; open routes neither.
TEST(openapi, documents_each_routes_access)
{
    engine::json_object doc;
    ASSERT_EQ(doc.parse(config_api::api_router::openapi_document()), engine::json_parse_error::ok);
    for (const auto& r : config_api::api_router::routes()) {
        std::string method(r.method);
        std::transform(method.begin(), method.end(), method.begin(), ::tolower);
        SCOPED_TRACE(method + " " + std::string(r.path));
        const auto* path = doc.find("paths")->find(r.path);
        const auto* op = path != nullptr ? path->find(method) : nullptr;
        const auto* responses = op != nullptr ? op->find("responses") : nullptr;
        ASSERT_NE(responses, nullptr);
        bool keyed = r.access != config_api::route_access::open;
        EXPECT_EQ(responses->find("401") != nullptr, keyed);
        if (r.access == config_api::route_access::admin_only)
            EXPECT_NE(responses->find("403"), nullptr);
        if (!keyed)
            EXPECT_EQ(responses->find("403"), nullptr);
    }
}

class openapi_served : public api_test {};

TEST_F(openapi_served, is_served_as_openapi_3_1)
{
    auto r = call("GET", "/openapi.json", {});
    ASSERT_EQ(r.status, 200);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("openapi")->text, "3.1.0");
    EXPECT_EQ(r.body, config_api::api_router::openapi_document());
    // Every documented route answers something other than 404 Not Found / 405.
    for (const auto& [method, path] : openapi_operations(r.body)) {
        auto target = sample_target(path);
        auto reply = call(method, target, admin, method == "GET" || method == "DELETE" ? "" : "{}");
        EXPECT_NE(reply.status, 405) << method << " " << target;
        if (reply.status == 404)
            EXPECT_NE(detail_of(reply), "Not Found") << method << " " << target;
    }
}

} // namespace
} // namespace callgate::testing
