#include "callgate/engine/json_object.hpp"

#include "callgate/engine/json_writer.hpp"

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

} // namespace
} // namespace callgate::engine
