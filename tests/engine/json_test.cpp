#include "callgate/engine/json_object.hpp"

#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/uuid.hpp"

#include <gtest/gtest.h>

namespace callgate::engine {
namespace {

TEST(json_writer, escapes_quotes_backslashes_and_controls)
{
    std::string out;
    append_json_string(out, std::string("a\"b\\c\n\t\x01\x1f", 10));
    EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001\u001f\u0000")");
}

TEST(json_writer, keeps_utf8_as_is)
{
    std::string out;
    append_json_string(out, "caf\xc3\xa9");
    EXPECT_EQ(out, "\"caf\xc3\xa9\"");
}

// The escaper skips eight bytes at a time while none needs escaping: every
// byte value, at every position of strings around that width, must come out
// as the plain one-byte-at-a-time rule says.
TEST(json_writer, escapes_every_byte_at_every_position_of_a_word)
{
    auto expected = [](std::string_view text) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string out = "\"";
        for (char ch : text) {
            auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += ch;
            } else if (c == '\n') {
                out += "\\n";
            } else if (c == '\r') {
                out += "\\r";
            } else if (c == '\t') {
                out += "\\t";
            } else if (c == '\b') {
                out += "\\b";
            } else if (c == '\f') {
                out += "\\f";
            } else if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0x0F];
            } else {
                out += ch;
            }
        }
        return out + "\"";
    };
    for (std::size_t length : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 24u}) {
        for (std::size_t at = 0; at < length; ++at) {
            for (int byte = 0; byte < 256; ++byte) {
                std::string text(length, 'a');
                text[at] = static_cast<char>(byte);
                std::string out = "x"; // appends after what is there
                append_json_string(out, text);
                ASSERT_EQ(out, "x" + expected(text)) << "length " << length << ", byte " << byte << " at " << at;
            }
        }
    }
    std::string out;
    append_json_string(out, R"({"call_id":"0190","phone_number":"+15550100","direction":"inbound"})");
    EXPECT_EQ(out, R"("{\"call_id\":\"0190\",\"phone_number\":\"+15550100\",\"direction\":\"inbound\"}")");
}

TEST(json_writer, writes_a_uuid_in_its_canonical_form)
{
    auto id = *uuid::parse("0190A3B4-C5D6-7E8F-9A0B-1C2D3E4F5A6B");
    json_writer w;
    w.begin_object().field("id", id).key("ids").begin_array().value(id).value(id).end_array().end_object();
    EXPECT_EQ(w.str(), R"({"id":"0190a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b","ids":["0190a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b","0190a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"]})");
    EXPECT_EQ(id.to_string(), "0190a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b");
}

TEST(json_writer, writes_nested_compact_json)
{
    json_writer w;
    w.begin_object()
        .field("a", "x")
        .field("n", std::int64_t{-3})
        .field("b", true)
        .key("none")
        .null()
        .key("list")
        .begin_array()
        .value("1")
        .value("2")
        .end_array()
        .key("o")
        .begin_object()
        .end_object()
        .end_object();
    EXPECT_EQ(w.str(), R"({"a":"x","n":-3,"b":true,"none":null,"list":["1","2"],"o":{}})");
}

TEST(json_object, parses_fields_and_types)
{
    json_object doc;
    ASSERT_EQ(doc.parse(R"({"s":"x","n":null,"i":5,"d":1.5,"b":false,"a":[1],"o":{"k":"v"},"u":"\u00e9"})"),
              json_parse_error::ok);
    EXPECT_EQ(doc.find("s")->type, json_type::string);
    EXPECT_EQ(doc.find("s")->text, "x");
    EXPECT_EQ(doc.find("n")->type, json_type::null);
    EXPECT_EQ(doc.find("i")->integer, 5);
    EXPECT_EQ(doc.find("d")->type, json_type::number);
    EXPECT_EQ(doc.find("b")->type, json_type::boolean);
    EXPECT_EQ(doc.find("a")->type, json_type::array);
    ASSERT_EQ(doc.find("o")->type, json_type::object);
    EXPECT_EQ(doc.find("o")->find("k")->text, "v");
    EXPECT_EQ(doc.find("u")->text, "\xc3\xa9");
    EXPECT_EQ(doc.find("missing"), nullptr);
}

TEST(json_object, rejects_bad_input_without_throwing)
{
    json_object doc;
    EXPECT_EQ(doc.parse(""), json_parse_error::invalid);
    EXPECT_EQ(doc.parse("{"), json_parse_error::invalid);
    EXPECT_EQ(doc.parse("{\"a\":}"), json_parse_error::invalid);
    EXPECT_EQ(doc.parse("{'a':1}"), json_parse_error::invalid);
    EXPECT_EQ(doc.parse("{\"a\":1} trailing"), json_parse_error::invalid);
    EXPECT_EQ(doc.parse("[1,2]"), json_parse_error::not_an_object);
    EXPECT_EQ(doc.parse("\"text\""), json_parse_error::not_an_object);
    EXPECT_EQ(doc.parse("{\"a\":\"\xff\"}"), json_parse_error::invalid_utf8);
    EXPECT_EQ(doc.parse(std::string(100000, '[')), json_parse_error::invalid);
}

TEST(json_object, first_duplicate_key_wins)
{
    json_object doc;
    ASSERT_EQ(doc.parse(R"({"a":"first","a":"second"})"), json_parse_error::ok);
    EXPECT_EQ(doc.find("a")->text, "first");
}

// Bodies are copied into a padded buffer the thread keeps; one past its
// kept size is parsed whole and let go, and later small bodies parse alone.
TEST(json_object, parses_bodies_of_every_size_one_after_another)
{
    for (std::size_t size : {10u, 200'000u, 30u, 70'000u, 5u}) {
        std::string text(size, 'x');
        json_object doc;
        ASSERT_EQ(doc.parse(R"({"a":")" + text + R"(","b":1})"), json_parse_error::ok) << size;
        EXPECT_EQ(doc.find("a")->text, text);
        EXPECT_EQ(doc.find("b")->integer, 1);
        // A shorter body after a longer one: nothing of the longer one is read.
        EXPECT_EQ(doc.parse(R"({"a":"y"})"), json_parse_error::ok);
        EXPECT_EQ(doc.find("a")->text, "y");
        EXPECT_EQ(doc.parse(R"({"a":"y")"), json_parse_error::invalid);
    }
}

} // namespace
} // namespace callgate::engine
