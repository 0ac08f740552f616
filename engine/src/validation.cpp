#include "callgate/engine/validation.hpp"

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

bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

// Parses "host[:port]" or "[v6]:port"; fills host (no brackets) and port (0 if absent).
url_error parse_authority(std::string_view authority, std::string_view& host, std::uint32_t& port)
{
    port = 0;
    if (authority.empty())
        return url_error::no_host;
    if (authority.find('@') != std::string_view::npos)
        return url_error::has_userinfo;
    std::string_view rest;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1)
            return url_error::no_host;
        host = authority.substr(1, close - 1);
        for (char c : host) {
            bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
            if (!ok)
                return url_error::no_host;
        }
        rest = authority.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return url_error::no_host;
    } else {
        auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (host.empty())
            return url_error::no_host;
        for (char c : host)
            if (!is_host_char(c))
                return url_error::no_host;
        rest = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
    }
    if (!rest.empty()) {
        std::string_view digits = rest.substr(1);
        if (digits.empty() || digits.size() > 5)
            return url_error::bad_port;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (ec != std::errc{} || ptr != digits.data() + digits.size() || port == 0 || port > 65535)
            return url_error::bad_port;
    }
    return url_error::ok;
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
    std::size_t scheme_len;
    if (kind == url_kind::websocket) {
        if (is_scheme(url, "wss"))
            scheme_len = 3;
        else if (allow_insecure && is_scheme(url, "ws"))
            scheme_len = 2;
        else
            return url_error::bad_scheme;
    } else {
        if (is_scheme(url, "https"))
            scheme_len = 5;
        else if (allow_insecure && is_scheme(url, "http"))
            scheme_len = 4;
        else
            return url_error::bad_scheme;
    }
    if (url.find('#') != std::string_view::npos)
        return url_error::has_fragment;
    std::string_view rest = url.substr(scheme_len + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    std::string_view host;
    std::uint32_t port;
    return parse_authority(authority, host, port);
}

bool split_url(std::string_view url, url_parts& out)
{
    auto sep = url.find("://");
    if (sep == std::string_view::npos)
        return false;
    out.scheme = url.substr(0, sep);
    std::string_view rest = url.substr(sep + 3);
    auto path_at = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_at);
    std::uint32_t port = 0;
    if (parse_authority(authority, out.host, port) != url_error::ok)
        return false;
    if (port == 0) {
        bool secure = out.scheme.size() == 3 || out.scheme.size() == 5; // wss / https
        port = secure ? 443 : 80;
    }
    out.port = static_cast<std::uint16_t>(port);
    out.target = path_at == std::string_view::npos ? std::string_view{"/"} : rest.substr(path_at);
    return true;
}

} // namespace callgate::engine
