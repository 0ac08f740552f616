#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace callgate::codec {

enum class url_syntax {
    ok,
    malformed,    // not RFC 3986: a bad percent-escape, a character the grammar does not allow
    no_host,      // no authority, an empty host, IPvFuture, or a host name with other than A-Z a-z 0-9 - . _ ~
    has_userinfo, // user:password@ in the authority
    has_fragment, // '#...'
    bad_port,     // a port other than 1-65535 (an empty port, "h:/", is no port)
};

// An absolute URL with a host, split for dialling.
struct url_parts {
    std::string scheme;     // lower case
    std::string host;       // percent-escapes decoded; an IPv6 literal without brackets
    std::uint16_t port = 0; // 0 when the URL names none
    std::string target;     // path and query as written; the path "/" when empty
};

// Parses `text` as an RFC 3986 absolute URI with an authority (Boost.URL's
// grammar), then applies the rules every URL callgate stores or dials shares:
// a host name (or IPv4/IPv6 literal), no userinfo, no fragment, a port from 1
// to 65535 if any. Fills `out` only on ok. No length limit: callers bound it.
url_syntax parse_url(std::string_view text, url_parts& out);

} // namespace callgate::codec
