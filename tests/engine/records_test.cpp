#include "callgate/engine/records.hpp"

#include "callgate/engine/call_records.hpp"
#include "callgate/engine/json_writer.hpp"

#include <gtest/gtest.h>

namespace callgate::engine {
namespace {

identity_record sample_identity()
{
    return {*uuid::parse("123e4567-e89b-12d3-a456-426614174000"), "sales-bot", "Sales \"bot\"", "+15550100",
            1'700'000'000'000'001, 1'700'000'000'000'002};
}

TEST(records, identity_round_trips)
{
    auto in = sample_identity();
    identity_record out;
    ASSERT_TRUE(decode(encode(in), out));
    EXPECT_EQ(out.id, in.id);
    EXPECT_EQ(out.agent_handle, in.agent_handle);
    EXPECT_EQ(out.display_name, in.display_name);
    EXPECT_EQ(out.phone_number, in.phone_number);
    EXPECT_EQ(out.created_at_us, in.created_at_us);
    EXPECT_EQ(out.updated_at_us, in.updated_at_us);
    in.display_name.reset();
    in.phone_number.reset();
    ASSERT_TRUE(decode(encode(in), out));
    EXPECT_FALSE(out.display_name);
    EXPECT_FALSE(out.phone_number);
}

TEST(records, action_signing_key_and_api_key_round_trip)
{
    incoming_call_action a{call_action::webhook, "wss://a.example.com/ws", "https://h.example.com/x"};
    incoming_call_action a2;
    ASSERT_TRUE(decode(encode(a), a2));
    EXPECT_EQ(a2, a);
    signing_key_record k{"whsec_abc", 42}, k2;
    ASSERT_TRUE(decode(encode(k), k2));
    EXPECT_EQ(k2.key, k.key);
    EXPECT_EQ(k2.created_at_us, 42);
    api_key_record key{sample_identity().id, "ci", sample_identity().id, api_key_status::revoked, "abcd",
                       std::string(32, '\x07'), 5};
    api_key_record key2;
    ASSERT_TRUE(decode(encode(key), key2));
    EXPECT_EQ(key2.scoped_identity_id, key.scoped_identity_id);
    EXPECT_EQ(key2.status, api_key_status::revoked);
    EXPECT_EQ(key2.hash, key.hash);
}

TEST(records, filter_mode_fallback_and_contact_rules_round_trip)
{
    auto identity = sample_identity();
    identity.filter_mode = phone_filter_mode::whitelist;
    identity_record out;
    ASSERT_TRUE(decode(encode(identity), out));
    EXPECT_EQ(out.filter_mode, phone_filter_mode::whitelist);
    // Records written before the field existed read as the default.
    identity.filter_mode = phone_filter_mode::blacklist;
    auto old = encode(identity);
    out.filter_mode = phone_filter_mode::whitelist;
    ASSERT_TRUE(decode(old, out));
    EXPECT_EQ(out.filter_mode, phone_filter_mode::blacklist);

    // description and the number's start date come after the filter mode;
    // records without them read as none and 0.
    identity.description = "Answers \"sales\" calls";
    identity.phone_number_since_us = 1'700'000'000'000'003;
    ASSERT_TRUE(decode(encode(identity), out));
    EXPECT_EQ(out.description, identity.description);
    EXPECT_EQ(out.phone_number_since_us, identity.phone_number_since_us);
    EXPECT_EQ(out.filter_mode, phone_filter_mode::blacklist);
    ASSERT_TRUE(decode(old, out));
    EXPECT_FALSE(out.description);
    EXPECT_EQ(out.phone_number_since_us, 0);
    EXPECT_FALSE(decode(encode(identity) + "x", out)) << "trailing bytes are corrupt";
    // The number's id is stable for the identity and number, and changes with either.
    auto number_id = phone_number_id(identity);
    EXPECT_EQ(phone_number_id(identity), number_id);
    auto moved = identity;
    moved.phone_number = "+15550199";
    EXPECT_NE(phone_number_id(moved), number_id);
    EXPECT_EQ(number_id.to_string()[14], '8') << "a version 8 UUID";

    incoming_call_action a{call_action::webhook, "wss://a.example.com/ws", "https://h.example.com/x", call_action::auto_accept};
    incoming_call_action a2;
    ASSERT_TRUE(decode(encode(a), a2));
    EXPECT_EQ(a2, a);
    a.incoming_call_fallback_action.reset();
    ASSERT_TRUE(decode(encode(a), a2));
    EXPECT_FALSE(a2.incoming_call_fallback_action);
    EXPECT_FALSE(decode(encode(a) + std::string(1, static_cast<char>(call_action::webhook)), a2))
        << "only auto_accept is a fallback";

    contact_rule rule{sample_identity().id, sample_identity().id, rule_action::allow, match_type::prefix, "+1555", 7, 8};
    contact_rule rule2;
    ASSERT_TRUE(decode(encode(rule), rule2));
    EXPECT_EQ(rule2.action, rule_action::allow);
    EXPECT_EQ(rule2.match, match_type::prefix);
    EXPECT_EQ(rule2.target, "+1555");
    EXPECT_EQ(rule2.updated_at_us, 8);
    auto bytes = encode(rule);
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode(bytes.substr(0, n), rule2)) << n;
}

std::string hex_of(const std::string& bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 0x0F];
    }
    return out;
}

// The bytes on disk of one record of each kind, as written before: a change
// to the writer that changed them would leave stored records unreadable.
TEST(records, the_storage_encoding_is_unchanged)
{
    auto identity = sample_identity();
    identity.filter_mode = phone_filter_mode::whitelist;
    incoming_call_action action{call_action::webhook, "wss://a.example.com/ws", std::string(200, 'h')};
    signing_key_record key{"whsec_abc", 42};
    api_key_record api{sample_identity().id, "ci", std::nullopt, api_key_status::active, "abcd",
                       std::string(32, '\x07'), 5};
    contact_rule rule;
    rule.id = sample_identity().id;
    rule.action = rule_action::block;
    rule.match = match_type::exact_number;
    rule.identity_id = *uuid::parse("0190f1e2-3b4c-7d5e-8f60-718293a4b5c6");
    rule.target = "+15550199";
    rule.created_at_us = 7;
    rule.updated_at_us = 8;
    call_record call;
    call.id = *uuid::parse("0190f1e2-3b4c-7d5e-8f60-718293a4b5c6");
    call.agent_identity_id = sample_identity().id;
    call.local_phone_number = "+15550100";
    call.remote_phone_number = "+15550199";
    call.status = call_status::completed;
    call.hangup = hangup_reason::remote;
    call.client_websocket_url = "wss://agent.example.com/" + std::string(150, 'p'); // a two-byte length
    call.answered_decision = true;
    call.decision_source = "webhook";
    call.decision_reason = "webhook_timeout";
    call.decided_in_us = 1234;
    call.has_media = true;
    call.edge_to_client = {10, 1600, 1};
    call.client_to_edge = {9, 1440, 0};
    call.started_at_us = 1'700'000'000'000'100;
    call.ended_at_us = 1'700'000'000'900'000;
    call.created_at_us = 1'700'000'000'000'000;
    call.updated_at_us = 1'700'000'000'900'000;
    const std::pair<std::string, std::string> expected[] = {
        {hex_of(encode(call)),
         "010190f1e23b4c7d5e8f60718293a4b5c601123e4567e89b12d3a45642661417400001092b3135353530313030092b31"
         "35353530313939030201ae017773733a2f2f6167656e742e6578616d706c652e636f6d2f707070707070707070707070"
         "707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070"
         "707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070"
         "707070707070707070707070707070707070707070707070707070707070707070707070707070707070010777656268"
         "6f6f6b010f776562686f6f6b5f74696d656f7574d204000000000000010a000000000000004006000000000000010000"
         "00000000000900000000000000a005000000000000000000000000000064401e18240a0600a0fb2b18240a060000401e"
         "18240a0600a0fb2b18240a0600"},
        {hex_of(encode(identity)),
         "01123e4567e89b12d3a4564266141740000973616c65732d626f74010b53616c65732022626f742201092b3135353530"
         "31303001401e18240a060002401e18240a060001"},
        {hex_of(encode(action)),
         "010201167773733a2f2f612e6578616d706c652e636f6d2f777301c80168686868686868686868686868686868686868"
         "686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868"
         "686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868"
         "686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868686868"
         "68686868686868686868686868686868686868686868686868686868686868686868686868"},
        {hex_of(encode(key)),
         "010977687365635f6162632a00000000000000"},
        {hex_of(encode(api)),
         "01123e4567e89b12d3a45642661417400002636900000461626364200707070707070707070707070707070707070707"
         "0707070707070707070707070500000000000000"},
        {hex_of(encode(rule)),
         "01123e4567e89b12d3a4564266141740000190f1e23b4c7d5e8f60718293a4b5c60100092b3135353530313939070000"
         "00000000000800000000000000"},
    };
    for (const auto& [actual, golden] : expected)
        EXPECT_EQ(actual, golden);
}

TEST(records, every_truncation_and_extension_is_rejected)
{
    auto bytes = encode(sample_identity());
    identity_record out;
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode(bytes.substr(0, n), out)) << n;
    EXPECT_FALSE(decode(bytes + "x", out));
    auto bad_version = bytes;
    bad_version[0] = 9;
    EXPECT_FALSE(decode(bad_version, out));
    incoming_call_action a;
    EXPECT_FALSE(decode(std::string("\x01\x07\x00\x00", 4), a)); // action 7 does not exist
}

TEST(records, api_representations)
{
    json_writer w;
    write_identity(w, sample_identity());
    EXPECT_EQ(w.str(), R"({"id":"123e4567-e89b-12d3-a456-426614174000","agent_handle":"sales-bot",)"
                       R"("display_name":"Sales \"bot\"","description":null,"phone_number":"+15550100",)"
                       R"("phone_filter_mode":"blacklist",)"
                       R"("created_at":"2023-11-14T22:13:20.000001Z","updated_at":"2023-11-14T22:13:20.000002Z"})");
    // From a snapshot, with what only it knows.
    json_writer with_key;
    write_identity(with_key, identity_snapshot{sample_identity(), std::nullopt, signing_key_record{"whsec_x", 1}});
    EXPECT_NE(with_key.str().find(R"(,"signing_key_configured":true})"), std::string::npos) << with_key.str();
}

} // namespace
} // namespace callgate::engine
