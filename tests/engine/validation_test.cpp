#include "callgate/engine/validation.hpp"

#include "callgate/engine/uuid.hpp"

#include <gtest/gtest.h>

namespace callgate::engine {
namespace {

TEST(uuid, parses_canonical_forms_and_rejects_the_rest)
{
    struct row {
        const char* text;
        bool ok;
    };
    const row table[] = {
        {"123e4567-e89b-12d3-a456-426614174000", true},
        {"123E4567-E89B-12D3-A456-426614174000", true},
        {"00000000-0000-0000-0000-000000000000", true},
        {"123e4567e89b12d3a456426614174000", false},
        {"123e4567-e89b-12d3-a456-42661417400", false},
        {"123e4567-e89b-12d3-a456-4266141740000", false},
        {"123e4567-e89b-12d3-a456_426614174000", false},
        {"g23e4567-e89b-12d3-a456-426614174000", false},
        {"{123e4567-e89b-12d3-a456-426614174000}", false},
        {"", false},
    };
    for (const auto& r : table)
        EXPECT_EQ(uuid::parse(r.text).has_value(), r.ok) << r.text;
}

TEST(uuid, round_trips_in_lowercase)
{
    auto u = uuid::parse("123E4567-E89B-12D3-A456-426614174000");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->to_string(), "123e4567-e89b-12d3-a456-426614174000");
    auto k = uuid::from_key(u->as_key());
    ASSERT_TRUE(k);
    EXPECT_EQ(*k, *u);
}

TEST(agent_handle, follows_the_spec_pattern)
{
    struct row {
        std::string text;
        bool ok;
    };
    const row table[] = {
        {"sales-bot", true},
        {"a", true},
        {"agent.v2_eu-west", true},
        {"0123456789", true},
        {std::string(64, 'a'), true},
        {std::string(65, 'a'), false},
        {"", false},
        {"Sales", false},
        {"sales bot", false},
        {"sales/bot", false},
        {"bot@x", false},
        {"b\xc3\xa9", false},
    };
    for (const auto& r : table)
        EXPECT_EQ(is_valid_agent_handle(r.text), r.ok) << r.text;
}

TEST(e164, is_plus_and_8_to_15_digits)
{
    struct row {
        const char* text;
        bool ok;
    };
    const row table[] = {
        {"+15550100", true},         // 8 digits
        {"+155501000000000", true},  // 15 digits
        {"+1555010", false},         // 7 digits
        {"+1555010000000000", false}, // 16 digits
        {"15550100", false},
        {"+1555-0100", false},
        {"+1 5550100", false},
        {"+", false},
        {"", false},
        {"++15550100", false},
    };
    for (const auto& r : table)
        EXPECT_EQ(is_valid_e164(r.text), r.ok) << r.text;
}

TEST(utf8, accepts_well_formed_and_rejects_malformed)
{
    EXPECT_TRUE(is_valid_utf8("plain"));
    EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e"));
    EXPECT_FALSE(is_valid_utf8("\xc3"));             // truncated
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));     // surrogate
    EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(url, websocket_urls_follow_the_config_rules)
{
    struct row {
        std::string text;
        bool insecure;
        url_error expected;
    };
    const row table[] = {
        {"wss://agent.example.com/ws", false, url_error::ok},
        {"WSS://agent.example.com", false, url_error::ok},
        {"wss://agent.example.com:8443/ws?x=1", false, url_error::ok},
        {"wss://[2001:db8::1]:443/ws", false, url_error::ok},
        {"wss://10.0.0.1/ws", false, url_error::ok}, // form only; the address policy runs at dispatch
        {"ws://agent.example.com/ws", false, url_error::bad_scheme},
        {"ws://agent.example.com/ws", true, url_error::ok},
        {"https://agent.example.com/ws", false, url_error::bad_scheme},
        {"agent.example.com/ws", false, url_error::bad_scheme},
        {"wss:///ws", false, url_error::no_host},
        {"wss://", false, url_error::no_host},
        {"wss://user:pw@agent.example.com/ws", false, url_error::has_userinfo},
        {"wss://agent.example.com/ws#frag", false, url_error::has_fragment},
        {"wss://agent.example.com:0/ws", false, url_error::bad_port},
        {"wss://agent.example.com:70000/ws", false, url_error::bad_port},
        {"wss://agent.example.com:/ws", false, url_error::ok}, // an empty port is no port (RFC 3986 3.2.3)
        {"wss://h:/", false, url_error::ok},
        {"wss://agent.example.com:44x/ws", false, url_error::bad_port},
        {"wss://[2001:db8::1]:x/ws", false, url_error::bad_port},
        {"wss://agent.example.com/a%zz", false, url_error::malformed},
        {"wss://agent.example.com/a%2", false, url_error::malformed},
        {"wss://agent.example.com/ws?q=%G0", false, url_error::malformed},
        {"wss://agent.example.com/a%2Fb?q=%41", false, url_error::ok},
        {"wss://agent.example.com/a|b", false, url_error::malformed}, // '|' must be escaped
        {"wss://agent%zz.example.com/", false, url_error::no_host},
        {"wss://ag%65nt.example.com/", false, url_error::ok}, // decodes to a host name
        {"wss://agent%2Fexample.com/", false, url_error::no_host}, // decodes to '/'
        {"wss://a!b.example.com/", false, url_error::no_host},     // RFC 3986 allows it; DNS does not
        {"wss://[v1.x]/ws", false, url_error::no_host},            // IPvFuture
        {"wss://[2001:db8::zz]/ws", false, url_error::no_host},
        {"wss://@agent.example.com/ws", false, url_error::has_userinfo},
        {"wss://agent.example.com/ws#", false, url_error::has_fragment},
        {"wss://agent example.com/ws", false, url_error::bad_character},
        {"wss://agent.example.com/\xc3\xa9", false, url_error::bad_character},
        {"wss://a.example.com/" + std::string(2048, 'x'), false, url_error::too_long},
    };
    for (const auto& r : table)
        EXPECT_EQ(validate_url(r.text, url_kind::websocket, r.insecure), r.expected) << r.text;
}

TEST(url, webhook_urls_need_https)
{
    EXPECT_EQ(validate_url("https://hooks.example.com/in", url_kind::https, false), url_error::ok);
    EXPECT_EQ(validate_url("http://hooks.example.com/in", url_kind::https, false), url_error::bad_scheme);
    EXPECT_EQ(validate_url("http://hooks.example.com/in", url_kind::https, true), url_error::ok);
    EXPECT_EQ(validate_url("wss://hooks.example.com/in", url_kind::https, false), url_error::bad_scheme);
    std::string exactly_2048 = "https://h.example.com/";
    exactly_2048 += std::string(2048 - exactly_2048.size(), 'p');
    EXPECT_EQ(validate_url(exactly_2048, url_kind::https, false), url_error::ok);
}

} // namespace
} // namespace callgate::engine
