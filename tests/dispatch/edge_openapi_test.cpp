// The edge listener's /openapi.json (dispatch/openapi.json) documents exactly
// the routes the edge router serves, who may call them, and the errors they answer.
#include "callgate/dispatch/edge_router.hpp"

#include "dispatch_support.hpp"

#include "callgate/testing/api_documents.hpp"

#include <simdjson.h>

#include <algorithm>
#include <set>

namespace callgate::testing {
namespace {

namespace dom = simdjson::dom;
using element = simdjson::simdjson_result<dom::element>;
using dispatch::edge_router;

std::string lower(std::string_view text)
{
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), ::tolower);
    return out;
}

// A documented operation; an error when the document lacks it.
element operation(dom::element doc, std::string_view method, std::string_view path)
{
    return doc["paths"][path][lower(method)];
}

// Whether a security requirement list names the edge token.
bool requires_edge_token(dom::array requirements)
{
    for (dom::element requirement : requirements) {
        dom::object names;
        if (requirement.get(names) == simdjson::SUCCESS && names["EdgeToken"].error() == simdjson::SUCCESS)
            return true;
    }
    return false;
}

// The `detail`s a documented response lists in its examples (following a $ref
// to components/responses).
std::set<std::string> documented_details(dom::element doc, element response)
{
    std::string_view ref;
    if (response["$ref"].get(ref) == simdjson::SUCCESS)
        response = doc.at_pointer(ref.substr(1)); // "#/components/..." → "/components/..."
    std::set<std::string> out;
    dom::object examples;
    if (response["content"]["application/json"]["examples"].get(examples) != simdjson::SUCCESS)
        return out;
    for (auto [name, example] : examples) {
        std::string_view detail;
        if (example["value"]["detail"].get(detail) == simdjson::SUCCESS)
            out.emplace(detail);
    }
    return out;
}

TEST(edge_openapi, document_matches_the_routes)
{
    std::set<std::pair<std::string, std::string>> served;
    for (const auto& r : edge_router::routes())
        served.emplace(r.method, r.path);
    EXPECT_EQ(served.size(), edge_router::routes().size()) << "a route declared twice";
    EXPECT_EQ(openapi_operations(edge_router::openapi_document()), served);
}

// Token routes require the EdgeToken scheme and document 401; open routes
// require nothing and document no 401.
TEST(edge_openapi, documents_each_routes_access)
{
    dom::parser parser;
    dom::element doc;
    ASSERT_EQ(parser.parse(simdjson::padded_string(edge_router::openapi_document())).get(doc), simdjson::SUCCESS);
    std::string_view text;
    ASSERT_EQ(doc["components"]["securitySchemes"]["EdgeToken"]["name"].get(text), simdjson::SUCCESS);
    EXPECT_EQ(text, "X-Edge-Token");
    ASSERT_EQ(doc["components"]["securitySchemes"]["EdgeToken"]["in"].get(text), simdjson::SUCCESS);
    EXPECT_EQ(text, "header");
    dom::array global;
    ASSERT_EQ(doc["security"].get(global), simdjson::SUCCESS);
    for (const auto& r : edge_router::routes()) {
        SCOPED_TRACE(std::string(r.method) + " " + std::string(r.path));
        auto op = operation(doc, r.method, r.path);
        ASSERT_EQ(op.error(), simdjson::SUCCESS);
        dom::array own;
        bool token = requires_edge_token(op["security"].get(own) == simdjson::SUCCESS ? own : global);
        EXPECT_EQ(token, r.access == dispatch::edge_access::edge_token);
        EXPECT_EQ(op["responses"]["401"].error() == simdjson::SUCCESS, token);
    }
}

class edge_openapi_served : public dispatch_test {};

TEST_F(edge_openapi_served, is_served_without_a_token)
{
    auto r = edge("GET", "/openapi.json", "", "");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.body, edge_router::openapi_document());
    dom::parser parser;
    std::string_view version;
    ASSERT_EQ(parser.parse(simdjson::padded_string(r.body))["openapi"].get(version), simdjson::SUCCESS);
    EXPECT_EQ(version, "3.1.0");

    // Every documented route is there: with a token, nothing answers 404 Not Found or 405.
    auto token = server_->edge_token();
    for (const auto& [method, path] : openapi_operations(r.body)) {
        auto target = sample_target(path);
        auto reply = edge(method, target, method == "POST" ? "{}" : "", token);
        EXPECT_NE(reply.status, 405) << method << " " << target;
        EXPECT_NE(reply.status, 404) << method << " " << target;
    }
    auto other = edge("DELETE", "/openapi.json", "", "");
    EXPECT_EQ(other.status, 405);
    EXPECT_EQ(other.header("Allow"), "GET");
}

// Each error the edge routes answer, with its exact detail, is documented for
// that operation and status.
TEST_F(edge_openapi_served, documents_the_errors_the_routes_answer)
{
    dom::parser parser;
    dom::element doc;
    ASSERT_EQ(parser.parse(simdjson::padded_string(edge_router::openapi_document())).get(doc), simdjson::SUCCESS);
    auto token = server_->edge_token();
    auto decide = [&](const std::string& body, const std::string& with = "") {
        return edge("POST", "/v1/calls/decide", body, with.empty() ? token : with);
    };
    auto status_of = [&](const std::string& id, const std::string& body) {
        return edge("POST", "/v1/calls/" + id + "/status", body, token);
    };
    const std::string unknown_call = "00000000-0000-4000-8000-000000000001";
    struct row {
        std::string_view method, path;
        http_reply reply;
    };
    // On connections of their own: these close the connection.
    auto fresh = [&](const std::string& content_type, const std::string& body) {
        return http_request(server_->edge_address(), "POST", "/v1/calls/decide",
                            {{"X-Edge-Token", token}, {"Content-Type", content_type}}, body);
    };
    std::vector<row> rows{
        {"POST", "/v1/calls/decide", edge("POST", "/v1/calls/decide", "{}", "")},
        {"POST", "/v1/calls/decide", decide("{}", "et_wrong")},
        {"POST", "/v1/calls/decide", fresh("text/plain", "{}")},
        {"POST", "/v1/calls/decide", fresh("application/json", std::string(64 * 1024 + 1, ' '))},
        {"POST", "/v1/calls/decide", decide("not json")},
        {"POST", "/v1/calls/decide", decide(R"({"call_id":"nope","local_phone_number":"+1","remote_phone_number":"+1"})")},
        {"POST", "/v1/calls/decide", decide(R"({"local_phone_number":1,"remote_phone_number":"+1"})")},
        {"POST", "/v1/calls/decide", decide(R"({"agent_identity_id":"nope","remote_phone_number":"+1"})")},
        {"POST", "/v1/calls/decide", decide(R"({"local_phone_number":"+1","remote_phone_number":1})")},
        {"POST", "/v1/calls/decide", decide(R"({"remote_phone_number":"+1"})")},
        {"POST", "/v1/calls/decide", decide(R"({"local_phone_number":"+1"})")},
        {"POST", "/v1/calls/{call_id}/status", edge("POST", "/v1/calls/" + unknown_call + "/status", "{}", "")},
        {"POST", "/v1/calls/{call_id}/status", status_of(unknown_call, "[]")},
        {"POST", "/v1/calls/{call_id}/status", status_of(unknown_call, R"({"status":"ringing"})")},
        {"POST", "/v1/calls/{call_id}/status", status_of(unknown_call, R"({"status":"failed","hangup_reason":"x"})")},
        {"POST", "/v1/calls/{call_id}/status", status_of(unknown_call, R"({"status":"failed"})")},
        {"POST", "/v1/calls/{call_id}/status", status_of("not-a-uuid", R"({"status":"failed"})")},
        {"POST", "/v1/calls/{call_id}/status", status_of("%zz", R"({"status":"failed"})")},
        {"GET", "/v1/calls/stream", edge("GET", "/v1/calls/stream", "", "")},
        {"GET", "/v1/calls/stream", edge("GET", "/v1/calls/stream", "", "et_wrong")},
        {"GET", "/v1/calls/stream", edge("GET", "/v1/calls/stream", "", token)},
    };
    std::set<int> statuses;
    for (const auto& [method, path, reply] : rows) {
        SCOPED_TRACE(std::string(method) + " " + std::string(path) + ": " + std::to_string(reply.status) + " " +
                     reply.body);
        ASSERT_GE(reply.status, 400);
        statuses.insert(reply.status);
        engine::json_object body;
        ASSERT_EQ(body.parse(reply.body), engine::json_parse_error::ok);
        auto response = operation(doc, method, path)["responses"][std::to_string(reply.status)];
        ASSERT_EQ(response.error(), simdjson::SUCCESS) << "status not documented";
        auto details = documented_details(doc, response);
        EXPECT_TRUE(details.count(text_of(body, "detail"))) << "detail not among the documented examples";
    }
    EXPECT_EQ(statuses, (std::set<int>{400, 401, 404, 413, 415, 422, 426}));
}

} // namespace
} // namespace callgate::testing
