// Phone contact rules and phone_filter_mode (inkbox-compat.md): the config
// routes with every error row, and the screening step of the decision.
#include "dispatch_support.hpp"

#include "callgate/engine/json_writer.hpp"

#include <regex>

namespace callgate::testing {
namespace {

std::string detail_json(const std::string& detail)
{
    return engine::json_writer().begin_object().field("detail", detail).end_object().take();
}

class contact_rules : public dispatch_test {
protected:
    void SetUp() override
    {
        dispatch_test::SetUp();
        id_ = create_identity("bot", "+15550100");
        set_action(id_, "auto_accept", "wss://agent.example.com/ws", "");
    }
    http_reply rule(const std::string& action, const std::string& target, const std::string& match = {},
                    const std::string& handle = "bot")
    {
        std::string body = "{\"action\":\"" + action + "\",\"match_target\":\"" + target + "\"";
        if (!match.empty())
            body += ",\"match_type\":\"" + match + "\"";
        return api("POST", "/identities/" + handle + "/phone-contact-rules", body + "}");
    }
    std::string rule_id(const std::string& action, const std::string& target, const std::string& match = {})
    {
        auto r = rule(action, target, match);
        EXPECT_EQ(r.status, 201) << r.body;
        engine::json_object doc;
        doc.parse(r.body);
        return text_of(doc, "id");
    }
    http_reply as(const std::string& key, const std::string& method, const std::string& target,
                  const std::string& body = {})
    {
        http_connection c(server_->api_address());
        header_list h{{"X-API-Key", key}};
        if (!body.empty())
            h.emplace_back("Content-Type", "application/json");
        return c.request(method, target, h, body);
    }
    std::string scoped_key_for(const std::string& identity)
    {
        auto r = api("POST", "/api-keys", "{\"label\":\"k\",\"scoped_identity_id\":\"" + identity + "\"}");
        EXPECT_EQ(r.status, 201) << r.body;
        engine::json_object doc;
        doc.parse(r.body);
        return text_of(doc, "api_key");
    }
    // "blocked" or "passed" for a caller of the bot's number.
    std::string screen(const std::string& caller)
    {
        auto d = decide_number("+15550100", caller);
        if (text_of(d, "reason") == "contact_blocked") {
            EXPECT_EQ(text_of(d, "action"), "reject");
            EXPECT_EQ(text_of(d, "source"), "config");
            return "blocked";
        }
        EXPECT_EQ(text_of(d, "action"), "answer") << caller;
        return "passed";
    }
    void filter_mode(const std::string& mode)
    {
        auto r = api("PATCH", "/identities/bot", "{\"phone_filter_mode\":\"" + mode + "\"}");
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_NE(r.body.find("\"phone_filter_mode\":\"" + mode + "\""), std::string::npos) << r.body;
    }
    std::string id_;
};

TEST_F(contact_rules, a_rule_is_created_read_listed_changed_and_deleted)
{
    auto created = rule("block", "+15550199");
    ASSERT_EQ(created.status, 201) << created.body;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(created.body, m,
                                 std::regex(R"re(\{"id":"([0-9a-f-]{36})","agent_identity_id":"([0-9a-f-]{36})","action":"block",)re"
                                            R"re("match_type":"exact_number","match_target":"\+15550199","status":"active",)re"
                                            R"re("created_at":"[0-9T:.Z-]+","updated_at":"[0-9T:.Z-]+"\})re")))
        << created.body;
    std::string id = m[1];
    EXPECT_EQ(std::string(m[2]), id_);
    auto second = rule_id("allow", "+1555", "prefix");

    auto list = api("GET", "/identities/bot/phone-contact-rules");
    ASSERT_EQ(list.status, 200);
    EXPECT_LT(list.body.find(second), list.body.find(id)) << "newest first: " << list.body;
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules?action=block").body.find(second), std::string::npos);
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules?match_type=exact_number").body.find(second),
              std::string::npos);
    EXPECT_NE(api("GET", "/identities/bot/phone-contact-rules?limit=1&offset=1").body.find(id), std::string::npos);
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules/" + id).body, created.body);

    auto patched = api("PATCH", "/identities/bot/phone-contact-rules/" + id, R"({"action":"allow"})");
    EXPECT_EQ(patched.status, 200) << patched.body;
    EXPECT_NE(patched.body.find("\"action\":\"allow\""), std::string::npos);
    EXPECT_EQ(api("DELETE", "/identities/bot/phone-contact-rules/" + id).status, 204);
    auto gone = api("GET", "/identities/bot/phone-contact-rules/" + id);
    EXPECT_EQ(gone.status, 404);
    EXPECT_EQ(gone.body, detail_json("Contact rule not found"));
    // The org-wide list, natively and as Inkbox's SDKs address it (exact numbers only there).
    auto org = api("GET", "/phone/contact-rules?agent_identity_id=" + id_);
    EXPECT_NE(org.body.find(second), std::string::npos) << org.body;
    auto inkbox = api("GET", "/api/v1/phone/contact-rules");
    EXPECT_EQ(inkbox.status, 200) << inkbox.body;
    EXPECT_EQ(inkbox.body, "{\"items\":[]}") << "prefix rules are hidden from Inkbox's SDKs";
    EXPECT_EQ(api("GET", "/api/v1/identities/bot/phone-contact-rules").body, "{\"items\":[]}");
}

TEST_F(contact_rules, every_error_has_its_status_and_detail)
{
    struct row {
        std::string body;
        int status;
        std::string detail;
    } rows[] = {
        {R"({"match_target":"+15550199"})", 422, "action is required"},
        {R"({"action":"deny","match_target":"+15550199"})", 422, "action must be \"allow\" or \"block\""},
        {R"({"action":"block","match_type":"regex","match_target":"+15550199"})", 422,
         "match_type must be \"exact_number\" or \"prefix\""},
        {R"({"action":"block"})", 422, "match_target is required"},
        {R"({"action":"block","match_target":"5550199"})", 422, "match_target must be an E.164 number"},
        {R"({"action":"block","match_type":"prefix","match_target":"+1-555"})", 422,
         "match_target must be + and 1-15 digits"},
        {R"({"action":"block","match_type":"prefix","match_target":"+1234567890123456"})", 422,
         "match_target must be + and 1-15 digits"},
    };
    for (const auto& r : rows) {
        auto reply = api("POST", "/identities/bot/phone-contact-rules", r.body);
        EXPECT_EQ(reply.status, r.status) << r.body;
        EXPECT_EQ(reply.body, detail_json(r.detail)) << r.body;
    }
    // Duplicates, whatever the action: 409 with the existing rule's id.
    auto first = rule_id("block", "+15550199");
    auto dup = rule("allow", "+15550199");
    EXPECT_EQ(dup.status, 409);
    EXPECT_EQ(dup.body, "{\"detail\":{\"error\":\"duplicate_contact_rule\",\"message\":\"Contact rule already "
                        "exists\",\"existing_rule_id\":\"" +
                            first + "\"}}");
    EXPECT_EQ(rule("block", "+15550199", "prefix").status, 201) << "a prefix is another (match_type, target)";
    // No phone number, no rules.
    ASSERT_EQ(api("POST", "/identities", R"({"agent_handle":"numberless"})").status, 201);
    auto numberless = rule("block", "+15550199", "", "numberless");
    EXPECT_EQ(numberless.status, 422);
    EXPECT_EQ(numberless.body, detail_json("Identity has no phone number"));
    EXPECT_EQ(api("GET", "/identities/numberless/phone-contact-rules").body, "{\"items\":[]}");
    auto mode = api("PATCH", "/identities/numberless", R"({"phone_filter_mode":"whitelist"})");
    EXPECT_EQ(mode.status, 422);
    EXPECT_EQ(mode.body, detail_json("phone_filter_mode requires a phone number"));
    auto bad_mode = api("PATCH", "/identities/bot", R"({"phone_filter_mode":"greylist"})");
    EXPECT_EQ(bad_mode.body, detail_json("phone_filter_mode must be \"blacklist\" or \"whitelist\""));
    // Unknown identity and rule; bad filters.
    EXPECT_EQ(rule("block", "+15550199", "", "nobody").body, detail_json("Agent identity not found"));
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules/not-a-uuid").status, 404);
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules?action=maybe").body,
              detail_json("action must be \"allow\" or \"block\""));
    EXPECT_EQ(api("GET", "/phone/contact-rules?match_type=x").body,
              detail_json("match_type must be \"exact_number\" or \"prefix\""));

    // Scoped keys: their own identity's rules only; change and delete are admin-only.
    auto other = create_identity("other", "+15550101");
    auto own_key = scoped_key_for(id_);
    auto other_key = scoped_key_for(other);
    EXPECT_EQ(as(own_key, "POST", "/identities/bot/phone-contact-rules", R"({"action":"block","match_target":"+15550111"})").status,
              201);
    EXPECT_EQ(as(own_key, "GET", "/identities/bot/phone-contact-rules/" + first).status, 200);
    auto foreign = as(other_key, "GET", "/identities/bot/phone-contact-rules");
    EXPECT_EQ(foreign.status, 403);
    EXPECT_EQ(foreign.body, detail_json("API key is not scoped to this agent identity"));
    EXPECT_EQ(as(own_key, "PATCH", "/identities/bot/phone-contact-rules/" + first, R"({"action":"allow"})").body,
              detail_json("Admin API key required"));
    EXPECT_EQ(as(own_key, "DELETE", "/identities/bot/phone-contact-rules/" + first).status, 403);
    EXPECT_EQ(as(own_key, "GET", "/phone/contact-rules").status, 403);

    // Deleting the identity deletes its rules.
    ASSERT_EQ(api("DELETE", "/identities/bot").status, 204);
    create_identity("bot", "+15550100");
    EXPECT_EQ(api("GET", "/identities/bot/phone-contact-rules").body, "{\"items\":[]}");
    EXPECT_EQ(api("GET", "/phone/contact-rules?match_type=exact_number").body.find(first), std::string::npos);
}

TEST_F(contact_rules, blacklist_blocks_what_a_block_rule_matches_most_specific_first)
{
    EXPECT_EQ(screen("+15550199"), "passed"); // no rules: everyone passes
    rule_id("block", "+1555", "prefix");
    EXPECT_EQ(screen("+15550199"), "blocked"); // the rule is seen by the very next decision
    EXPECT_EQ(screen("+14150000000"), "passed");
    rule_id("allow", "+15550", "prefix"); // a longer prefix wins
    EXPECT_EQ(screen("+15550199"), "passed");
    EXPECT_EQ(screen("+15551234"), "blocked");
    rule_id("block", "+15550199"); // an exact number wins over any prefix
    EXPECT_EQ(screen("+15550199"), "blocked");
    EXPECT_EQ(screen("+15550198"), "passed");
    EXPECT_EQ(screen("anonymous"), "passed"); // a withheld caller matches nothing
}

TEST_F(contact_rules, whitelist_blocks_everyone_an_allow_rule_does_not_match)
{
    filter_mode("whitelist");
    EXPECT_EQ(screen("+15550199"), "blocked");
    EXPECT_EQ(screen("anonymous"), "blocked");
    rule_id("allow", "+1415", "prefix");
    EXPECT_EQ(screen("+14155550000"), "passed");
    EXPECT_EQ(screen("+15550199"), "blocked");
    rule_id("block", "+14155550000");
    EXPECT_EQ(screen("+14155550000"), "blocked"); // exact block over the allowing prefix
    EXPECT_EQ(screen("+14155550001"), "passed");
    filter_mode("blacklist");
    EXPECT_EQ(screen("+15550199"), "passed");
    EXPECT_EQ(screen("+14155550000"), "blocked");
}

TEST_F(contact_rules, a_blocked_caller_never_reaches_the_webhook_and_is_recorded)
{
    set_action(id_, "webhook", "wss://agent.example.com/ws", hook_->url());
    rule_id("block", "+15550199");
    auto d = decide_number("+15550100", "+15550199");
    EXPECT_EQ(text_of(d, "reason"), "contact_blocked");
    EXPECT_TRUE(hook_->requests().empty());
    auto record = api("GET", "/calls/" + text_of(d, "call_id"));
    EXPECT_NE(record.body.find("\"decision\":{\"action\":\"reject\",\"source\":\"config\",\"reason\":\"contact_blocked\""),
              std::string::npos)
        << record.body;
}


TEST_F(contact_rules, scoped_keys_never_see_blocked_calls_and_admins_can_filter_them)
{
    rule_id("block", "+15550199");
    auto blocked = text_of(decide_number("+15550100", "+15550199"), "call_id");
    auto passed = text_of(decide_number("+15550100", "+15550198"), "call_id");
    auto key = scoped_key_for(id_);
    for (std::string prefix : {"", "/api/v1/phone"}) {
        auto own = as(key, "GET", prefix + "/calls");
        EXPECT_EQ(own.status, 200) << own.body;
        EXPECT_NE(own.body.find(passed), std::string::npos) << own.body;
        EXPECT_EQ(own.body.find(blocked), std::string::npos) << own.body;
        EXPECT_EQ(as(key, "GET", prefix + "/calls/" + blocked).status, 404);
        EXPECT_EQ(as(key, "GET", prefix + "/calls/" + passed).status, 200);
    }
    auto all = api("GET", "/calls");
    EXPECT_NE(all.body.find(blocked), std::string::npos);
    auto only_blocked = api("GET", "/calls?is_blocked=true");
    EXPECT_NE(only_blocked.body.find(blocked), std::string::npos);
    EXPECT_EQ(only_blocked.body.find(passed), std::string::npos);
    auto unblocked = api("GET", "/calls?is_blocked=false&limit=1");
    EXPECT_NE(unblocked.body.find(passed), std::string::npos) << unblocked.body;
    EXPECT_EQ(api("GET", "/calls?is_blocked=maybe").body, detail_json("is_blocked must be true or false"));
}

TEST_F(contact_rules, signing_key_status_says_whether_a_key_exists_never_the_key)
{
    for (std::string prefix : {"", "/api/v1"}) {
        create_identity("signer" + std::to_string(prefix.size()), "+1555030" + std::to_string(prefix.size() % 10));
        auto handle = "signer" + std::to_string(prefix.size());
        EXPECT_EQ(api("GET", prefix + "/identities/" + handle + "/signing-key").body,
                  "{\"configured\":false,\"created_at\":null}");
        auto key = rotate_signing_key(handle);
        auto status = api("GET", prefix + "/identities/" + handle + "/signing-key");
        EXPECT_EQ(status.status, 200);
        EXPECT_NE(status.body.find("{\"configured\":true,\"created_at\":\"20"), std::string::npos) << status.body;
        EXPECT_EQ(status.body.find(key), std::string::npos);
    }
    auto other_key = scoped_key_for(id_);
    EXPECT_EQ(as(other_key, "GET", "/identities/signer0/signing-key").status, 403);
    EXPECT_EQ(as(other_key, "GET", "/identities/bot/signing-key").status, 200);
    EXPECT_EQ(api("GET", "/identities/nobody/signing-key").body, detail_json("Agent identity not found"));
}

} // namespace
} // namespace callgate::testing
