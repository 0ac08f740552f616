#include "callgate/engine/secrets.hpp"

#include "callgate/engine/random_source.hpp"

#include "callgate/codec/base64.hpp"

#include <gtest/gtest.h>

#include <set>

namespace callgate::engine {
namespace {

TEST(secrets, hmac_sha256_matches_rfc_4231_case_2)
{
    EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(secrets, sha256_of_abc)
{
    EXPECT_EQ(hex_encode(sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(secrets, api_keys_are_prefixed_random_and_printable)
{
    crypto_random random;
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        auto key = generate_api_key(random);
        ASSERT_EQ(key.rfind("cg_", 0), 0u);
        ASSERT_EQ(key.size(), 3u + 43u);
        for (char c : key)
            ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') << key;
        seen.insert(key);
    }
    EXPECT_EQ(seen.size(), 100u);
}

TEST(secrets, signing_keys_hold_32_random_bytes)
{
    crypto_random random;
    auto key = generate_signing_key(random);
    ASSERT_EQ(key.rfind("whsec_", 0), 0u);
    std::string raw;
    ASSERT_TRUE(codec::base64_decode(key.substr(6), raw));
    EXPECT_EQ(raw.size(), 32u);
}

TEST(secrets, constant_time_equal_compares_contents_and_length)
{
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_TRUE(constant_time_equal("", ""));
}

} // namespace
} // namespace callgate::engine
