#pragma once

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
    malformed,       // not RFC 3986, e.g. a bad percent-escape ("%zz")
};

// Checks a URL's form as the config API requires: at most 2048 bytes of
// printable ASCII, scheme as the kind says, then codec::parse_url's rules
// (RFC 3986 through Boost.URL; a host, no userinfo, no fragment, port 1-65535
// or none). net::parse_url, which the outbound client dials with, splits
// every URL that passes.
url_error validate_url(std::string_view url, url_kind kind, bool allow_insecure);

} // namespace callgate::engine
