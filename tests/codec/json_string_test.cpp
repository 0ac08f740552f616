// The JSON string escaper against a byte-by-byte reference, on every byte
// value at every position of a word and on random text.
#include "callgate/codec/json_string.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

namespace callgate::codec {
namespace {

std::string reference(std::string_view text)
{
    std::string out;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                char u[7];
                std::snprintf(u, sizeof u, "\\u%04x", c);
                out += u;
            } else {
                out += ch;
            }
        }
    }
    return out;
}

// write_json_escaped from a heap copy of `text` of its exact size into a heap
// buffer of exactly the escaped size: under AddressSanitizer a read or write
// past either end fails the test.
std::string escaped_exactly(std::string_view text)
{
    auto input = std::make_unique<char[]>(text.size());
    std::memcpy(input.get(), text.data(), text.size());
    std::string_view in(input.get(), text.size());
    std::size_t size = text.size() + json_escaped_extra(in);
    auto output = std::make_unique<char[]>(size);
    char* end = write_json_escaped(output.get(), in);
    EXPECT_EQ(end, output.get() + size);
    return std::string(output.get(), size);
}

std::string escaped(std::string_view text)
{
    std::string out = "prefix:";
    append_json_escaped(out, text);
    EXPECT_EQ(out.substr(0, 7), "prefix:");
    return out.substr(7);
}

TEST(json_escape, every_byte_at_every_offset_of_a_word)
{
    for (int b = 0; b < 256; ++b) {
        for (std::size_t at = 0; at < 19; ++at) {
            std::string text(19, 'a');
            text[at] = static_cast<char>(b);
            EXPECT_EQ(escaped(text), reference(text)) << "byte " << b << " at " << at;
            EXPECT_EQ(json_escaped_extra(text), reference(text).size() - text.size());
        }
    }
}

TEST(json_escape, any_two_marks_at_any_two_offsets_of_a_longer_text)
{
    // Long enough for the blocks with a block after them, where a block's
    // quotes and backslashes are escaped in one pass.
    const char marks[] = {'"', '\\', '\n', '\x01', 'x'};
    for (std::size_t size : {32, 33, 47, 48}) {
        for (std::size_t a = 0; a < size; ++a)
            for (std::size_t b = a; b < size; ++b)
                for (char ma : marks)
                    for (char mb : marks) {
                        std::string text(size, 'a');
                        text[a] = ma;
                        text[b] = mb;
                        ASSERT_EQ(escaped(text), reference(text)) << size << " " << a << " " << b;
                        ASSERT_EQ(escaped_exactly(text), reference(text)) << size << " " << a << " " << b;
                    }
    }
}

TEST(json_escape, clean_text_is_appended_as_it_is)
{
    std::string url = "wss://agent.example.com/ws?x=1&caf\xc3\xa9";
    EXPECT_EQ(escaped(url), url);
    EXPECT_EQ(json_escaped_extra(url), 0u);
    EXPECT_EQ(escaped(""), "");
}

TEST(json_escape, random_text_matches_the_reference)
{
    std::mt19937 rng(7);
    for (int n = 0; n < 2000; ++n) {
        std::string text(rng() % 70, '\0');
        for (auto& c : text) // mostly printable, some of everything
            c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 0x20 + rng() % 95);
        ASSERT_EQ(escaped(text), reference(text)) << n;
    }
}

TEST(json_escape, text_dense_with_quotes_and_backslashes_matches_the_reference)
{
    // JSON inside JSON: many blocks hold several marks, some a control byte too.
    std::mt19937 rng(11);
    const std::string alphabet = "\"\\\"{}:,ab\"\\";
    for (int n = 0; n < 2000; ++n) {
        std::string text(rng() % 120, '\0');
        for (auto& c : text)
            c = rng() % 50 == 0 ? static_cast<char>(rng() % 0x20) : alphabet[rng() % alphabet.size()];
        ASSERT_EQ(escaped(text), reference(text)) << n;
        ASSERT_EQ(escaped_exactly(text), reference(text)) << n;
        ASSERT_EQ(json_escaped_extra(text), reference(text).size() - text.size()) << n;
    }
    std::string all_quotes(40, '"');
    EXPECT_EQ(escaped(all_quotes), reference(all_quotes));
}

} // namespace
} // namespace callgate::codec
