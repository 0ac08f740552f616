// The Inkbox-compatible prefixes: identities and calls in Inkbox's shapes under
// /api/v1 and /api/v1/phone, the native shapes unchanged; PATCH rename,
// description and phone_filter_mode with their errors on both paths.
#include "api_support.hpp"

#include "callgate/engine/uuid.hpp"

#include <simdjson.h>

namespace callgate::testing {
namespace {

class inkbox_shapes : public api_test {
protected:
    // The elements of a reply that must be a bare JSON array, each minified.
    std::vector<std::string> array_of(const http_reply& r)
    {
        std::vector<std::string> out;
        simdjson::dom::parser parser;
        simdjson::dom::array items;
        auto error = parser.parse(r.body).get_array().get(items);
        EXPECT_EQ(error, simdjson::SUCCESS) << "not a bare array: " << r.body;
        if (error == simdjson::SUCCESS)
            for (auto item : items)
                out.push_back(simdjson::minify(item));
        return out;
    }
};

constexpr const char* inkbox_prefixes[] = {"/api/v1", "/api/v1/phone"};

TEST_F(inkbox_shapes, identity_detail_has_inkbox_fields_and_a_phone_number_object)
{
    auto id = create_identity("sales-bot", "+15550100");
    ASSERT_EQ(put_action(id, "auto_accept", "wss://agent.example.com/ws").status, 200);
    std::string organization;
    for (std::string prefix : inkbox_prefixes) {
        SCOPED_TRACE(prefix);
        auto r = call("GET", prefix + "/identities/sales-bot", admin);
        ASSERT_EQ(r.status, 200) << r.body;
        auto doc = parse_json(r.body);
        EXPECT_EQ(doc.find("id")->text, id);
        ASSERT_TRUE(engine::uuid::parse(doc.find("organization_id")->text));
        if (organization.empty())
            organization = doc.find("organization_id")->text;
        EXPECT_EQ(doc.find("organization_id")->text, organization) << "one id per deployment";
        EXPECT_EQ(doc.find("phone_filter_mode")->text, "blacklist");
        EXPECT_FALSE(doc.find("signing_key_configured")->boolean);
        for (auto key : {"email_address", "mailbox", "imessage_number", "tunnel", "description"})
            EXPECT_EQ(doc.find(key)->type, engine::json_type::null) << key;
        EXPECT_FALSE(doc.find("imessage_enabled")->boolean);
        const auto* phone = doc.find("phone_number");
        ASSERT_EQ(phone->type, engine::json_type::object) << r.body;
        EXPECT_TRUE(engine::uuid::parse(phone->find("id")->text));
        EXPECT_EQ(phone->find("number")->text, "+15550100");
        EXPECT_EQ(phone->find("type")->text, "local");
        EXPECT_EQ(phone->find("status")->text, "active");
        EXPECT_EQ(phone->find("agent_identity_id")->text, id);
        EXPECT_EQ(phone->find("incoming_call_action")->text, "auto_accept");
        EXPECT_EQ(phone->find("client_websocket_url")->text, "wss://agent.example.com/ws");
        EXPECT_EQ(phone->find("incoming_call_webhook_url")->type, engine::json_type::null);
        EXPECT_EQ(phone->find("filter_mode")->text, "blacklist");
    }
    // The native object stays callgate's: the number a string, plus the new fields.
    auto native = parse_json(call("GET", "/identities/sales-bot", admin).body);
    EXPECT_EQ(native.find("phone_number")->text, "+15550100");
    EXPECT_EQ(native.find("organization_id"), nullptr);
    EXPECT_EQ(native.find("description")->type, engine::json_type::null);
    EXPECT_EQ(native.find("phone_filter_mode")->text, "blacklist");
    EXPECT_EQ(native.find("signing_key_configured")->type, engine::json_type::boolean);

    // The organization id survives a restart.
    ASSERT_EQ(server_->stop(SIGTERM), 0);
    ASSERT_TRUE(server_->start()) << server_->log();
    connection_ = std::make_unique<http_connection>(server_->api_address());
    EXPECT_EQ(parse_json(call("GET", "/api/v1/identities/sales-bot", admin).body).find("organization_id")->text,
              organization);
}

TEST_F(inkbox_shapes, the_phone_number_id_is_stable_while_the_identity_keeps_the_number)
{
    create_identity("bot", "+15550100");
    auto number_id = [&] {
        auto doc = parse_json(call("GET", "/api/v1/identities/bot", admin).body);
        return doc.find("phone_number")->find("id")->text;
    };
    auto first = number_id();
    ASSERT_EQ(call("PATCH", "/identities/bot", admin, R"({"display_name":"Bot","agent_handle":"bot2"})").status, 200);
    ASSERT_EQ(call("PATCH", "/identities/bot2", admin, R"({"agent_handle":"bot"})").status, 200);
    EXPECT_EQ(number_id(), first);
    ASSERT_EQ(call("PATCH", "/identities/bot", admin, R"({"phone_number":"+15550111"})").status, 200);
    EXPECT_NE(number_id(), first);
    ASSERT_EQ(call("PATCH", "/identities/bot", admin, R"({"phone_number":null})").status, 200);
    EXPECT_EQ(parse_json(call("GET", "/api/v1/identities/bot", admin).body).find("phone_number")->type,
              engine::json_type::null);
}

TEST_F(inkbox_shapes, identity_lists_are_bare_arrays_under_the_prefixes)
{
    create_identity("bravo", "+15550100");
    create_identity("alpha");
    for (std::string prefix : inkbox_prefixes) {
        auto items = array_of(call("GET", prefix + "/identities", admin));
        ASSERT_EQ(items.size(), 2u) << prefix;
        EXPECT_NE(items[0].find("\"agent_handle\":\"alpha\""), std::string::npos);
        EXPECT_NE(items[1].find("\"number\":\"+15550100\""), std::string::npos);
        EXPECT_NE(items[0].find("\"organization_id\":"), std::string::npos);
        EXPECT_EQ(array_of(call("GET", prefix + "/identities?limit=1&offset=1", admin)).size(), 1u);
    }
    auto native = parse_json(call("GET", "/identities", admin).body);
    EXPECT_EQ(native.find("total")->integer, 2);
}

TEST_F(inkbox_shapes, create_and_patch_answer_in_the_view_of_their_path)
{
    auto r = call("POST", "/api/v1/identities", admin,
                  R"({"agent_handle":"bot","phone_number":"+15550100","description":"Front desk"})");
    ASSERT_EQ(r.status, 201) << r.body;
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.find("phone_number")->find("number")->text, "+15550100");
    EXPECT_EQ(doc.find("description")->text, "Front desk");
    r = call("PATCH", "/api/v1/identities/bot", admin, R"({"phone_filter_mode":"whitelist"})");
    ASSERT_EQ(r.status, 200) << r.body;
    doc = parse_json(r.body);
    EXPECT_EQ(doc.find("phone_filter_mode")->text, "whitelist");
    EXPECT_EQ(doc.find("phone_number")->find("filter_mode")->text, "whitelist");
    r = call("PATCH", "/identities/bot", admin, R"({"description":null})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse_json(r.body).find("description")->type, engine::json_type::null);
    EXPECT_EQ(parse_json(r.body).find("phone_number")->text, "+15550100");
}

TEST_F(inkbox_shapes, patch_errors_are_the_same_on_both_paths)
{
    create_identity("bot", "+15550100");
    create_identity("taken");
    create_identity("bare");
    for (std::string prefix : {"", "/api/v1"}) {
        SCOPED_TRACE(prefix);
        auto patch = [&](const std::string& handle, const std::string& body) {
            return call("PATCH", prefix + "/identities/" + handle, admin, body);
        };
        EXPECT_ERROR(patch("bot", R"({"agent_handle":"taken"})"), 409, "agent_handle already exists");
        EXPECT_ERROR(patch("bot", R"({"agent_handle":"Bad Handle"})"), 422,
                     "agent_handle must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'");
        EXPECT_ERROR(patch("bot", R"({"agent_handle":null})"), 422, "agent_handle must be a string");
        EXPECT_ERROR(patch("bare", R"({"phone_filter_mode":"whitelist"})"), 422,
                     "phone_filter_mode requires a phone number");
        EXPECT_ERROR(patch("bot", R"({"phone_filter_mode":"greylist"})"), 422,
                     "phone_filter_mode must be \"blacklist\" or \"whitelist\"");
        EXPECT_ERROR(patch("bot", R"({"description":5})"), 422, "description must be a string or null");
        EXPECT_ERROR(patch("bot", "{\"description\":\"" + std::string(4097, 'x') + "\"}"), 422,
                     "description must be at most 4096 bytes");
        EXPECT_ERROR(patch("nobody", R"({"agent_handle":"free"})"), 404, "Agent identity not found");
        auto scoped = scoped_key(parse_json(call("GET", "/identities/bot", admin).body).find("id")->text);
        EXPECT_ERROR(call("PATCH", prefix + "/identities/bot", scoped, R"({"agent_handle":"mine"})"), 403,
                     "Admin API key required");
        // A handle renamed to itself is no conflict.
        EXPECT_EQ(patch("bot", R"({"agent_handle":"bot"})").status, 200);
    }
    // Nothing above renamed anything.
    EXPECT_EQ(call("GET", "/identities/bot", admin).status, 200);
    EXPECT_EQ(call("GET", "/identities/mine", admin).status, 404);
}

TEST_F(inkbox_shapes, a_provisioning_object_for_phone_number_is_refused)
{
    for (std::string prefix : {"", "/api/v1"}) {
        EXPECT_ERROR(call("POST", prefix + "/identities", admin,
                          R"({"agent_handle":"bot","phone_number":{"type":"local","state":"NY"}})"),
                     422, "phone_number must be an E.164 number string; callgate does not provision numbers");
    }
    EXPECT_EQ(parse_json(call("GET", "/identities", admin).body).find("total")->integer, 0);
}

TEST_F(inkbox_shapes, renamed_identities_keep_their_keys_rules_and_calls)
{
    auto id = create_identity("bot", "+15550100");
    auto key = scoped_key(id);
    ASSERT_EQ(call("POST", "/identities/bot/phone-contact-rules", admin,
                   R"({"action":"block","match_target":"+15550199"})")
                  .status,
              201);
    ASSERT_EQ(call("PATCH", "/identities/bot", admin, R"({"agent_handle":"desk"})").status, 200);
    EXPECT_EQ(call("GET", "/identities/desk", key).status, 200);
    // The old handle names nothing the key may see (a scoped key learns no other handle).
    EXPECT_ERROR(call("GET", "/identities/bot", key), 403, "API key is not scoped to this agent identity");
    EXPECT_ERROR(call("GET", "/identities/bot", admin), 404, "Agent identity not found");
    EXPECT_NE(call("GET", "/identities/desk/phone-contact-rules", admin).body.find("+15550199"), std::string::npos);
    // The old handle is free for a new identity.
    create_identity("bot");
}

TEST_F(inkbox_shapes, calls_are_bare_arrays_of_inkbox_call_objects)
{
    auto id = create_identity("bot", "+15550100");
    ASSERT_EQ(put_action(id, "auto_reject").status, 200);
    http_connection edge(server_->edge_address());
    header_list headers{{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}};
    auto decided = edge.request("POST", "/v1/calls/decide", headers,
                                R"({"local_phone_number":"+15550100","remote_phone_number":"+15550111"})");
    ASSERT_EQ(decided.status, 200) << decided.body;
    auto call_id = parse_json(decided.body).find("call_id")->text;

    auto items = array_of(call("GET", "/api/v1/phone/calls", admin));
    ASSERT_EQ(items.size(), 1u);
    auto one = parse_json(items[0]);
    EXPECT_EQ(one.find("id")->text, call_id);
    EXPECT_EQ(one.find("local_phone_number")->text, "+15550100");
    EXPECT_EQ(one.find("remote_phone_number")->text, "+15550111");
    EXPECT_EQ(one.find("direction")->text, "inbound");
    EXPECT_EQ(one.find("status")->text, "canceled");
    EXPECT_EQ(one.find("hangup_reason")->text, "rejected");
    EXPECT_EQ(one.find("origin")->text, "dedicated_number");
    EXPECT_EQ(one.find("mode")->text, "client_websocket");
    EXPECT_FALSE(one.find("is_blocked")->boolean);
    for (auto key : {"use_inkbox_tts", "use_inkbox_stt", "reason", "client_websocket_url", "started_at"})
        EXPECT_EQ(one.find(key)->type, engine::json_type::null) << key;
    EXPECT_EQ(one.find("decision"), nullptr) << "the decision stays in the native record";

    auto detail = call("GET", "/api/v1/phone/calls/" + call_id, admin);
    ASSERT_EQ(detail.status, 200);
    EXPECT_EQ(detail.body, items[0]);
    // The native list keeps its envelope and the decision.
    auto native = call("GET", "/calls", admin);
    EXPECT_EQ(native.body.rfind("{\"items\":[", 0), 0u) << native.body;
    EXPECT_NE(native.body.find("\"decision\":{"), std::string::npos);
    EXPECT_ERROR(call("GET", "/api/v1/phone/calls?is_blocked=maybe", admin), 422, "is_blocked must be true or false");
    EXPECT_ERROR(call("GET", "/api/v1/phone/calls/" + std::string(engine::uuid{}.to_string()), admin), 404,
                 "Call not found");
}

} // namespace
} // namespace callgate::testing
