// Call records: written with the decision, newest first, scoped, with retention.
#include "dispatch_support.hpp"

#include <thread>

namespace callgate::testing {
namespace {

class call_records : public dispatch_test {};

TEST_F(call_records, list_newest_first_with_decision_and_reason)
{
    auto a = create_identity("a", "+15550100");
    auto b = create_identity("b", "+15550200");
    set_action(a, "auto_accept", "wss://agent.example.com/ws", "");
    set_action(b, "auto_reject", "", "");
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(text_of(decide_number("+15550100"), "call_id"));
        ids.push_back(text_of(decide_number("+15550200"), "call_id"));
    }
    auto r = api("GET", "/calls");
    ASSERT_EQ(r.status, 200) << r.body;
    // Newest first: the ids appear in reverse order of the decisions.
    std::size_t last = 0;
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
        auto at = r.body.find(*it);
        ASSERT_NE(at, std::string::npos);
        EXPECT_GE(at, last);
        last = at;
    }
    auto one = api("GET", "/calls/" + ids.back());
    ASSERT_EQ(one.status, 200);
    engine::json_object doc;
    ASSERT_EQ(doc.parse(one.body), engine::json_parse_error::ok);
    EXPECT_EQ(text_of(doc, "status"), "canceled");
    EXPECT_EQ(text_of(doc, "hangup_reason"), "rejected");
    EXPECT_EQ(text_of(doc, "direction"), "inbound");
    EXPECT_EQ(text_of(doc, "remote_phone_number"), "+15550199");
    const auto* decision = doc.find("decision");
    ASSERT_NE(decision, nullptr);
    EXPECT_EQ(decision->find("action")->text, "reject");
    EXPECT_EQ(decision->find("source")->text, "config");
    EXPECT_EQ(decision->find("reason")->text, "auto_reject");
    EXPECT_EQ(doc.find("media")->type, engine::json_type::null);

    auto answered = api("GET", "/calls/" + ids[0]);
    doc.parse(answered.body);
    EXPECT_EQ(text_of(doc, "status"), "ringing");
    EXPECT_EQ(doc.find("decision")->find("reason")->type, engine::json_type::null);
    EXPECT_EQ(text_of(doc, "client_websocket_url"), "wss://agent.example.com/ws");

    auto only_a = api("GET", "/calls?agent_identity_id=" + a + "&limit=2");
    ASSERT_EQ(only_a.status, 200);
    EXPECT_NE(only_a.body.find(ids[4]), std::string::npos);
    EXPECT_NE(only_a.body.find(ids[2]), std::string::npos);
    EXPECT_EQ(only_a.body.find(ids[0]), std::string::npos) << "limit=2";
    EXPECT_EQ(only_a.body.find(ids[1]), std::string::npos) << "b's call";
    auto page2 = api("GET", "/calls?agent_identity_id=" + a + "&limit=2&offset=2");
    EXPECT_NE(page2.body.find(ids[0]), std::string::npos);
}

TEST_F(call_records, scoped_keys_see_only_their_own_calls)
{
    auto a = create_identity("a", "+15550100");
    auto b = create_identity("b", "+15550200");
    set_action(a, "auto_reject", "", "");
    set_action(b, "auto_reject", "", "");
    auto call_a = text_of(decide_number("+15550100"), "call_id");
    auto call_b = text_of(decide_number("+15550200"), "call_id");
    auto key = api("POST", "/api-keys", "{\"scoped_identity_id\":\"" + a + "\"}");
    engine::json_object doc;
    doc.parse(key.body);
    auto scoped = text_of(doc, "api_key");
    http_connection c(server_->api_address());
    auto mine = c.request("GET", "/calls", {{"X-API-Key", scoped}});
    ASSERT_EQ(mine.status, 200);
    EXPECT_NE(mine.body.find(call_a), std::string::npos);
    EXPECT_EQ(mine.body.find(call_b), std::string::npos);
    EXPECT_EQ(c.request("GET", "/calls/" + call_a, {{"X-API-Key", scoped}}).status, 200);
    auto other = c.request("GET", "/calls/" + call_b, {{"X-API-Key", scoped}});
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(other.body, R"({"detail":"Call not found"})");
    EXPECT_EQ(c.request("GET", "/calls?agent_identity_id=" + b, {{"X-API-Key", scoped}}).status, 403);
    EXPECT_EQ(api("GET", "/calls/00000000-0000-4000-8000-000000000001").status, 404);
    EXPECT_EQ(api("GET", "/calls/not-a-uuid").status, 404);
    EXPECT_EQ(api("GET", "/calls?limit=0").status, 422);
    EXPECT_EQ(c.request("GET", "/calls").status, 401);
}

class call_retention : public dispatch_test {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--call-retention", "1s"};
    }
};

TEST_F(call_retention, old_records_are_removed)
{
    auto a = create_identity("a", "+15550100");
    set_action(a, "auto_reject", "", "");
    auto call = text_of(decide_number("+15550100"), "call_id");
    EXPECT_EQ(api("GET", "/calls/" + call).status, 200);
    // Retention is 1 s and the purge runs every second or so.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 200;
    while (status == 200 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        status = api("GET", "/calls/" + call).status;
    }
    EXPECT_EQ(status, 404);
    EXPECT_EQ(api("GET", "/calls").body, R"({"items":[]})");
}

} // namespace
} // namespace callgate::testing
