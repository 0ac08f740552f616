#pragma once

#include <string>
#include <string_view>

namespace callgate::engine {

class random_source;

// A new API key: "cg_" followed by 43 base64url characters (32 random bytes).
std::string generate_api_key(random_source& random);

// A new signing key: "whsec_" followed by the standard base64 of 32 random bytes.
std::string generate_signing_key(random_source& random);

// The 32 raw bytes of SHA-256(text).
std::string sha256(std::string_view text);

// HMAC-SHA256(key, message) as 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view message);

// Compares in time that depends only on the lengths, never on the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

// Lower-case hex (base64 is in callgate/codec/base64.hpp).
std::string hex_encode(std::string_view bytes);

} // namespace callgate::engine
