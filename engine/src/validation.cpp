#include "callgate/engine/validation.hpp"

#include "callgate/codec/url.hpp"

#include <charconv>

namespace callgate::engine {

bool is_valid_agent_handle(std::string_view handle)
{
    if (handle.empty() || handle.size() > 64)
        return false;
    for (char c : handle) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool is_valid_e164(std::string_view number)
{
    if (number.size() < 9 || number.size() > 16 || number[0] != '+')
        return false;
    for (std::size_t i = 1; i < number.size(); ++i)
        if (number[i] < '0' || number[i] > '9')
            return false;
    return true;
}

bool is_valid_utf8(std::string_view text)
{
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int len;
        std::uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p < len)
            return false;
        for (int i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += len;
    }
    return true;
}

namespace {

// Whether `url` starts with `scheme` (any letter case) and "://".
bool is_scheme(std::string_view url, std::string_view scheme)
{
    if (url.size() < scheme.size() + 3)
        return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        char c = url[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i])
            return false;
    }
    return url.substr(scheme.size(), 3) == "://";
}

} // namespace

url_error validate_url(std::string_view url, url_kind kind, bool allow_insecure)
{
    if (url.size() > 2048)
        return url_error::too_long;
    for (char c : url) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F)
            return url_error::bad_character;
    }
    bool scheme_ok = kind == url_kind::websocket ? is_scheme(url, "wss") || (allow_insecure && is_scheme(url, "ws"))
                                                 : is_scheme(url, "https") || (allow_insecure && is_scheme(url, "http"));
    if (!scheme_ok)
        return url_error::bad_scheme;
    codec::url_parts parts;
    switch (codec::parse_url(url, parts)) {
    case codec::url_syntax::ok: return url_error::ok;
    case codec::url_syntax::malformed: return url_error::malformed;
    case codec::url_syntax::no_host: return url_error::no_host;
    case codec::url_syntax::has_userinfo: return url_error::has_userinfo;
    case codec::url_syntax::has_fragment: return url_error::has_fragment;
    case codec::url_syntax::bad_port: return url_error::bad_port;
    }
    return url_error::malformed;
}

} // namespace callgate::engine
