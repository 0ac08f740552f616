#pragma once

#include <cstdint>
#include <string_view>

namespace callgate::engine {

// agent_handle: 1-64 characters of [a-z0-9._-].
bool is_valid_agent_handle(std::string_view handle);

// E.164 as the config API accepts it: '+' followed by 8 to 15 digits.
bool is_valid_e164(std::string_view number);

// Whether bytes are well-formed UTF-8 (no overlongs, no surrogates).
bool is_valid_utf8(std::string_view text);

enum class url_kind {
    websocket, // wss:// (ws:// when insecure URLs are allowed)
    https,     // https:// (http:// when insecure URLs are allowed)
};

enum class url_error {
    ok,
    too_long,        // over 2048 bytes
    bad_scheme,      // not the scheme the field requires
    no_host,         // missing or malformed authority
    has_userinfo,    // user:password@ in the authority
    has_fragment,    // '#...'
    bad_port,        // port not 1-65535
    bad_character,   // whitespace, control or non-ASCII bytes
};

// Checks a URL's form as the config API requires: absolute, scheme as the
// kind says, a host, at most 2048 bytes, no userinfo, no fragment.
url_error validate_url(std::string_view url, url_kind kind, bool allow_insecure);

// The parts of a URL that passed validate_url.
struct url_parts {
    std::string_view scheme;
    std::string_view host; // without brackets for IPv6 literals
    std::uint16_t port = 0;
    std::string_view target; // path and query, "/" when empty
};
bool split_url(std::string_view url, url_parts& out);

} // namespace callgate::engine
