#include "dispatch_support.hpp"

namespace callgate::testing {

std::string text_of(const engine::json_object& doc, const std::string& key)
{
    const auto* f = doc.find(key);
    if (f == nullptr)
        return "<absent>";
    if (f->type == engine::json_type::null)
        return "<null>";
    return f->text;
}

void dispatch_test::SetUp()
{
    dir_ = std::make_unique<temp_dir>();
    pki_ = make_test_pki(dir_->path());
    hook_ = std::make_unique<webhook_server>(pki_.server_cert, pki_.server_key, nullptr);
    std::vector<std::string> args{"--ca-file", pki_.ca_cert};
    for (const auto& a : extra_args())
        args.push_back(a);
    server_ = std::make_unique<server_process>(dir_->path() + "/data", args,
                                               std::map<std::string, std::string>{{"CALLGATE_ADMIN_KEY", admin}});
    ASSERT_TRUE(server_->start()) << server_->log();
    api_connection_ = std::make_unique<http_connection>(server_->api_address());
    edge_connection_ = std::make_unique<http_connection>(server_->edge_address());
}

void dispatch_test::TearDown()
{
    api_connection_.reset();
    edge_connection_.reset();
    if (server_ && server_->running())
        EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
    hook_.reset();
}

http_reply dispatch_test::api(const std::string& method, const std::string& target, const std::string& body)
{
    header_list h{{"X-API-Key", admin}};
    if (!body.empty())
        h.emplace_back("Content-Type", "application/json");
    return api_connection_->request(method, target, h, body);
}

http_reply dispatch_test::edge(const std::string& method, const std::string& target, const std::string& body,
                               const std::string& token)
{
    header_list h{{"Content-Type", "application/json"}};
    if (!token.empty())
        h.emplace_back("X-Edge-Token", token);
    return edge_connection_->request(method, target, h, body, std::chrono::seconds(20));
}

engine::json_object dispatch_test::decide(const std::string& body)
{
    auto r = edge("POST", "/v1/calls/decide", body, server_->edge_token());
    EXPECT_EQ(r.status, 200) << r.body;
    engine::json_object doc;
    EXPECT_EQ(doc.parse(r.body), engine::json_parse_error::ok) << r.body;
    return doc;
}

engine::json_object dispatch_test::decide_number(const std::string& dialed, const std::string& caller)
{
    return decide("{\"local_phone_number\":\"" + dialed + "\",\"remote_phone_number\":\"" + caller + "\"}");
}

std::string dispatch_test::create_identity(const std::string& handle, const std::string& phone)
{
    auto r = api("POST", "/identities",
                 "{\"agent_handle\":\"" + handle + "\",\"display_name\":\"Agent " + handle +
                     "\",\"phone_number\":\"" + phone + "\"}");
    EXPECT_EQ(r.status, 201) << r.body;
    engine::json_object doc;
    doc.parse(r.body);
    return text_of(doc, "id");
}

void dispatch_test::set_action(const std::string& id, const std::string& action, const std::string& ws_url,
                               const std::string& hook_url)
{
    std::string body = "{\"agent_identity_id\":\"" + id + "\",\"incoming_call_action\":\"" + action + "\"";
    if (!ws_url.empty())
        body += ",\"client_websocket_url\":\"" + ws_url + "\"";
    if (!hook_url.empty())
        body += ",\"incoming_call_webhook_url\":\"" + hook_url + "\"";
    body += "}";
    auto r = api("PUT", "/incoming-call-action", body);
    ASSERT_EQ(r.status, 200) << r.body;
}

std::string dispatch_test::rotate_signing_key(const std::string& handle)
{
    auto r = api("POST", "/identities/" + handle + "/signing-key");
    EXPECT_EQ(r.status, 201) << r.body;
    engine::json_object doc;
    doc.parse(r.body);
    return text_of(doc, "signing_key");
}

std::string dispatch_test::metrics() { return api_connection_->request("GET", "/metrics").body; }

} // namespace callgate::testing
