#include "api_support.hpp"

namespace callgate::testing {

engine::json_object parse_json(const std::string& body)
{
    engine::json_object doc;
    EXPECT_EQ(doc.parse(body), engine::json_parse_error::ok) << body;
    return doc;
}

std::string detail_of(const http_reply& reply)
{
    engine::json_object doc;
    if (doc.parse(reply.body) != engine::json_parse_error::ok)
        return "<not JSON: " + reply.body + ">";
    const auto* d = doc.find("detail");
    return d != nullptr && d->type == engine::json_type::string ? d->text : "<no detail>";
}

void api_test::SetUp()
{
    dir_ = std::make_unique<temp_dir>();
    server_ = std::make_unique<server_process>(dir_->path() + "/data", extra_args(),
                                               std::map<std::string, std::string>{{"CALLGATE_ADMIN_KEY", admin}});
    ASSERT_TRUE(server_->start()) << server_->log();
    connection_ = std::make_unique<http_connection>(server_->api_address());
}

void api_test::TearDown()
{
    connection_.reset();
    if (server_ && server_->running())
        EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
}

http_reply api_test::call(const std::string& method, const std::string& target, const std::string& key,
                          const std::string& body, const std::string& content_type)
{
    header_list headers;
    if (!key.empty())
        headers.emplace_back("X-API-Key", key);
    if (!body.empty() && !content_type.empty())
        headers.emplace_back("Content-Type", content_type);
    return connection_->request(method, target, headers, body);
}

std::string api_test::create_identity(const std::string& handle, const std::string& phone)
{
    std::string body = "{\"agent_handle\":\"" + handle + "\"";
    if (!phone.empty())
        body += ",\"phone_number\":\"" + phone + "\"";
    body += "}";
    auto r = call("POST", "/identities", admin, body);
    EXPECT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    return doc.find("id") != nullptr ? doc.find("id")->text : std::string{};
}

std::string api_test::scoped_key(const std::string& identity_id)
{
    auto r = call("POST", "/api-keys", admin,
                  "{\"label\":\"test\",\"scoped_identity_id\":\"" + identity_id + "\"}");
    EXPECT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    return doc.find("api_key") != nullptr ? doc.find("api_key")->text : std::string{};
}

http_reply api_test::put_action(const std::string& identity_id, const std::string& action,
                                const std::string& ws_url, const std::string& hook_url)
{
    std::string body = "{\"agent_identity_id\":\"" + identity_id + "\",\"incoming_call_action\":\"" + action + "\"";
    if (!ws_url.empty())
        body += ",\"client_websocket_url\":\"" + ws_url + "\"";
    if (!hook_url.empty())
        body += ",\"incoming_call_webhook_url\":\"" + hook_url + "\"";
    body += "}";
    return call("PUT", "/incoming-call-action", admin, body);
}

} // namespace callgate::testing
