#include "callgate/codec/base64.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace callgate::codec {
namespace {

// RFC 4648 section 10's vectors.
TEST(base64, rfc_4648_test_vectors_round_trip)
{
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [bytes, text] : vectors) {
        EXPECT_EQ(base64_encode(bytes), text);
        std::string back;
        ASSERT_TRUE(base64_decode(text, back)) << text;
        EXPECT_EQ(back, bytes);
        EXPECT_TRUE(is_base64(text)) << text;
    }
}

TEST(base64, append_adds_to_what_is_there)
{
    std::string out = "{\"payload\":\"";
    append_base64(out, "foob");
    append_base64(out, "");
    append_base64(out, "ar");
    EXPECT_EQ(out, "{\"payload\":\"Zm9vYg==YXI=");
    for (std::size_t n = 0; n < 40; ++n) {
        std::string bytes(n, '\0');
        for (std::size_t i = 0; i < n; ++i)
            bytes[i] = static_cast<char>(i * 37 + 11);
        std::string appended = "x";
        append_base64(appended, bytes);
        ASSERT_FALSE(appended.empty());
        EXPECT_EQ(appended[0], 'x');
        EXPECT_EQ(appended.substr(1), base64_encode(bytes)) << n;
    }
}

// Each 3-byte group spelled out by hand, 6 bits at a time, for every value
// of each byte in each position; then every length round trips both ways.
TEST(base64, every_byte_in_every_position_encodes_six_bits_at_a_time)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int position = 0; position < 3; ++position) {
        for (int value = 0; value < 256; ++value) {
            unsigned char group[3] = {0x5a, 0xa5, 0x3c};
            group[position] = static_cast<unsigned char>(value);
            std::uint32_t v = std::uint32_t{group[0]} << 16 | std::uint32_t{group[1]} << 8 | group[2];
            std::string expected = {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], alphabet[v >> 6 & 63], alphabet[v & 63]};
            std::string bytes(reinterpret_cast<const char*>(group), 3);
            ASSERT_EQ(base64_encode(bytes), expected) << position << " " << value;
        }
    }
    std::string bytes;
    for (int n = 0; n < 700; ++n) {
        std::string back;
        ASSERT_TRUE(base64_decode(base64_encode(bytes), back)) << n;
        ASSERT_EQ(back, bytes) << n;
        ASSERT_TRUE(base64url_decode(base64url_encode(bytes), back)) << n;
        ASSERT_EQ(back, bytes) << n;
        bytes.push_back(static_cast<char>(n * 89 + 7));
    }
}

TEST(base64, url_alphabet_is_unpadded_and_round_trips)
{
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    std::string out;
    ASSERT_TRUE(base64url_decode("-_8", out));
    EXPECT_EQ(out, "\xfb\xff");
    ASSERT_TRUE(base64url_decode("", out));
    EXPECT_EQ(out, "");
}

TEST(base64, standard_decoder_refuses_every_other_spelling)
{
    const char* refused[] = {
        "Zm9v!",      // a character outside the alphabet
        "Zm9v Zm8=",  // whitespace
        "Zm9v\n",     // a line break
        "-_8=",       // the URL alphabet
        "Zm8",        // padding missing
        "Zg",         // padding missing
        "Zg=",        // padding short
        "Zg===",      // padding long
        "Zm9v=",      // padding after a full group
        "Zm9v====",   // a whole group of padding
        "Z===",       // one symbol in a group
        "Zm=v",       // padding inside a group
        "Zg==Zg==",   // padding inside the text
        "=",          // padding alone
        "Zh==",       // unused bits not zero ("f" is Zg==)
        "Zm9=",       // unused bits not zero ("fo" is Zm8=)
    };
    for (const char* text : refused) {
        std::string out;
        EXPECT_FALSE(base64_decode(text, out)) << text;
        EXPECT_FALSE(is_base64(text)) << text;
    }
    std::string out; // NULs, which a C string cannot hold
    EXPECT_FALSE(base64_decode(std::string_view("Zm8=\0\0\0\0", 8), out));
    EXPECT_FALSE(base64_decode(std::string_view("Zm\0=", 4), out));
    EXPECT_FALSE(base64_decode("\xc3\xa9Zm9", out)); // non-ASCII
}

TEST(base64, url_decoder_refuses_padding_the_other_alphabet_and_loose_bits)
{
    const char* refused[] = {"Zg==", "+/8", "Z", "Zm9vY", "Zh", "-_9", "Zm9v!"};
    for (const char* text : refused) {
        std::string out;
        EXPECT_FALSE(base64url_decode(text, out)) << text;
    }
}

TEST(base64, every_byte_value_round_trips_in_both_alphabets)
{
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(i));
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        std::string bytes = all.substr(0, n) + all.substr(256 - n % 7);
        std::string back;
        ASSERT_TRUE(base64_decode(base64_encode(bytes), back));
        EXPECT_EQ(back, bytes);
        ASSERT_TRUE(base64url_decode(base64url_encode(bytes), back));
        EXPECT_EQ(back, bytes);
    }
}

} // namespace
} // namespace callgate::codec
