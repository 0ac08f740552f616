// incoming_call_fallback_action (callgate's extension): a webhook that cannot
// decide (timeout, error, overloaded) answers with the configured client URL;
// one that decides (rejected, or a blocked destination) does not.
#include "dispatch_support.hpp"

#include "callgate/engine/json_writer.hpp"
#include "callgate/testing/eventually.hpp"

#include <thread>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

class fallback : public dispatch_test {
protected:
    void SetUp() override
    {
        dispatch_test::SetUp();
        id_ = create_identity("bot", "+15550100");
        put_with_fallback(hook_->url());
    }
    void put_with_fallback(const std::string& hook_url)
    {
        auto r = api("PUT", "/incoming-call-action",
                     "{\"agent_identity_id\":\"" + id_ +
                         "\",\"incoming_call_action\":\"webhook\",\"client_websocket_url\":\"wss://agent.example.com/"
                         "fallback\",\"incoming_call_webhook_url\":\"" +
                         hook_url + "\",\"incoming_call_fallback_action\":\"auto_accept\"}");
        ASSERT_EQ(r.status, 200) << r.body;
    }
    void reply_with(canned_reply reply)
    {
        hook_->set_reply([reply](const received_request&) { return reply; });
    }
    // The call record of decision `d`, as GET /calls/{id} shows it.
    std::string record_of(const engine::json_object& d) { return api("GET", "/calls/" + text_of(d, "call_id")).body; }
    void expect_fallback(const engine::json_object& d, const std::string& reason)
    {
        EXPECT_EQ(text_of(d, "action"), "answer");
        EXPECT_EQ(text_of(d, "source"), "fallback");
        EXPECT_EQ(text_of(d, "reason"), reason);
        EXPECT_EQ(text_of(d, "client_websocket_url"), "wss://agent.example.com/fallback");
        auto record = record_of(d);
        EXPECT_NE(record.find("\"decision\":{\"action\":\"answer\",\"source\":\"fallback\",\"reason\":\"" + reason + "\""),
                  std::string::npos)
            << record;
    }
    std::string id_;
};

TEST_F(fallback, is_validated_on_put_and_returned_on_get)
{
    auto get = api("GET", "/incoming-call-action?agent_identity_id=" + id_);
    EXPECT_NE(get.body.find("\"incoming_call_fallback_action\":\"auto_accept\""), std::string::npos) << get.body;
    auto base = "{\"agent_identity_id\":\"" + id_ + "\",";
    struct row {
        std::string body;
        std::string detail;
    } rows[] = {
        {base + R"("incoming_call_action":"auto_accept","client_websocket_url":"wss://a.example.com/","incoming_call_fallback_action":"auto_accept"})",
         "incoming_call_fallback_action is only valid when incoming_call_action is \"webhook\""},
        {base + R"("incoming_call_action":"auto_reject","incoming_call_fallback_action":"auto_accept"})",
         "incoming_call_fallback_action is only valid when incoming_call_action is \"webhook\""},
        {base + R"("incoming_call_action":"webhook","incoming_call_webhook_url":"https://h.example.com/","incoming_call_fallback_action":"auto_accept"})",
         "client_websocket_url is required when incoming_call_fallback_action is \"auto_accept\""},
        {base + R"("incoming_call_action":"webhook","incoming_call_webhook_url":"https://h.example.com/","incoming_call_fallback_action":"auto_reject"})",
         "incoming_call_fallback_action must be \"auto_accept\" or null"},
        {base + R"("incoming_call_action":"webhook","incoming_call_webhook_url":"https://h.example.com/","incoming_call_fallback_action":1})",
         "incoming_call_fallback_action must be \"auto_accept\" or null"},
    };
    for (const auto& r : rows) {
        auto reply = api("PUT", "/incoming-call-action", r.body);
        EXPECT_EQ(reply.status, 422) << r.body;
        EXPECT_NE(reply.body.find(engine::json_writer().begin_object().field("detail", r.detail).end_object().take()),
                  std::string::npos)
            << reply.body;
    }
    // Unchanged by the refused PUTs; a PUT that omits it sets it back to null (also under Inkbox's path).
    EXPECT_NE(api("GET", "/incoming-call-action?agent_identity_id=" + id_).body.find("\"incoming_call_fallback_action\":\"auto_accept\""),
              std::string::npos);
    set_action(id_, "webhook", "wss://agent.example.com/fallback", hook_->url());
    EXPECT_NE(api("GET", "/api/v1/phone/incoming-call-action?agent_identity_id=" + id_).body.find("\"incoming_call_fallback_action\":null"),
              std::string::npos);
}

TEST_F(fallback, answers_when_the_webhook_times_out)
{
    reply_with({.hang = true});
    expect_fallback(decide_number("+15550100"), "webhook_timeout");
}

TEST_F(fallback, answers_when_the_webhook_fails)
{
    reply_with({500, "oops"});
    expect_fallback(decide_number("+15550100"), "webhook_error");
    reply_with({200, R"({"action":"maybe"})"});
    expect_fallback(decide_number("+15550100"), "webhook_error");
}

TEST_F(fallback, does_not_answer_a_call_the_webhook_rejected)
{
    reply_with({200, R"({"action":"reject"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "reject");
    EXPECT_EQ(text_of(d, "source"), "webhook");
    EXPECT_EQ(text_of(d, "reason"), "webhook_rejected");
}

TEST_F(fallback, a_webhook_answer_is_not_a_fallback)
{
    reply_with({200, R"({"action":"answer","client_websocket_url":"wss://agent.example.com/hook"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "source"), "webhook");
    EXPECT_EQ(text_of(d, "client_websocket_url"), "wss://agent.example.com/hook");
    EXPECT_EQ(text_of(d, "reason"), "<absent>");
}

class fallback_bulkhead : public fallback {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "2000", "--webhook-max-in-flight", "1"};
    }
};

TEST_F(fallback_bulkhead, answers_when_the_origin_is_overloaded)
{
    reply_with({200, R"({"action":"reject"})", {}, 1000ms});
    std::thread first([this] {
        http_connection c(server_->edge_address());
        c.request("POST", "/v1/calls/decide", {{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}},
                  R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})", 10s);
    });
    EXPECT_TRUE(eventually([&] { return !hook_->requests().empty(); }, 5s));
    expect_fallback(decide_number("+15550100"), "overloaded");
    first.join();
}

class fallback_policy : public fallback {
    // No --allow-private-destinations: the webhook on 127.0.0.1 is refused.
    std::vector<std::string> extra_args() const override { return {"--webhook-timeout-ms", "1500"}; }
};

TEST_F(fallback_policy, does_not_answer_when_the_destination_is_blocked)
{
    reply_with({200, R"({"action":"answer"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "reject");
    EXPECT_EQ(text_of(d, "reason"), "webhook_blocked");
    EXPECT_TRUE(hook_->requests().empty());
}

} // namespace
} // namespace callgate::testing
