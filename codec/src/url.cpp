#include "callgate/codec/url.hpp"

#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>

namespace callgate::codec {
namespace {

namespace urls = boost::urls;

bool is_host_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// Why a text that is no URI failed: its authority alone, if that fails too.
url_syntax classify_failure(std::string_view text)
{
    auto start = text.find("://");
    if (start == std::string_view::npos)
        return url_syntax::no_host;
    std::string_view authority = text.substr(start + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (urls::parse_authority(authority))
        return url_syntax::malformed;
    if (authority.find('@') != std::string_view::npos)
        return url_syntax::has_userinfo;
    // A host that parses alone, then ':' and something other than digits.
    auto host_end = authority.starts_with('[') ? authority.find(']') : authority.find(':');
    if (host_end != std::string_view::npos && authority.starts_with('['))
        ++host_end;
    if (host_end == std::string_view::npos || host_end >= authority.size() || authority[host_end] != ':')
        return url_syntax::no_host;
    std::string_view port = authority.substr(host_end + 1);
    if (port.find_first_not_of("0123456789") != std::string_view::npos && port.find(':') == std::string_view::npos &&
        urls::parse_authority(authority.substr(0, host_end)))
        return url_syntax::bad_port;
    return url_syntax::no_host;
}

} // namespace

url_syntax parse_url(std::string_view text, url_parts& out)
{
    if (text.find('#') != std::string_view::npos)
        return url_syntax::has_fragment;
    auto parsed = urls::parse_absolute_uri(text);
    if (!parsed)
        return classify_failure(text);
    const urls::url_view& url = *parsed;
    if (!url.has_authority())
        return url_syntax::no_host;
    // After an authority the path is empty or starts with '/' (RFC 3986
    // path-abempty); Boost.URL 1.81 takes "h:44x/p" as port 44, path "x/p".
    if (!url.encoded_path().empty() && url.encoded_path().front() != '/')
        return classify_failure(text);
    if (url.has_userinfo())
        return url_syntax::has_userinfo;
    std::string host;
    switch (url.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6: host = url.host_address(); break;
    case urls::host_type::name:
        host = url.host_address(); // decoded
        if (host.empty())
            return url_syntax::no_host;
        for (char c : host)
            if (!is_host_name_char(c))
                return url_syntax::no_host;
        break;
    default: return url_syntax::no_host; // none, IPvFuture
    }
    unsigned port = 0;
    if (std::string_view digits = url.port(); !digits.empty()) {
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (digits.size() > 5 || ec != std::errc{} || ptr != digits.data() + digits.size() || port == 0 ||
            port > 65535)
            return url_syntax::bad_port;
    }
    out.scheme = url.scheme();
    for (auto& c : out.scheme)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    out.host = std::move(host);
    out.port = static_cast<std::uint16_t>(port);
    out.target = url.encoded_path().empty() ? "/" : std::string(url.encoded_path());
    if (url.has_query()) {
        out.target += '?';
        out.target += url.encoded_query();
    }
    return url_syntax::ok;
}

} // namespace callgate::codec
