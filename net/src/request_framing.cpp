#include "callgate/net/request_framing.hpp"

#include <boost/beast/core/string.hpp>

#include <vector>

namespace callgate::net {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

framing_verdict reject(unsigned status, std::string_view detail) { return {status, detail, true}; }

} // namespace

framing_verdict check_request_framing(unsigned http_version, std::span<const std::string_view> content_lengths,
                                      std::span<const std::string_view> transfer_encodings)
{
    if (content_lengths.size() > 1)
        return reject(400, "Conflicting Content-Length headers");
    if (content_lengths.size() == 1) {
        auto value = trim(content_lengths.front());
        if (value.empty() || value.size() > 18)
            return reject(400, "Invalid Content-Length");
        for (char c : value)
            if (c < '0' || c > '9')
                return reject(400, "Invalid Content-Length");
    }
    if (transfer_encodings.empty())
        return {};
    if (http_version < 11)
        return reject(400, "Transfer-Encoding is not allowed in HTTP/1.0");

    // The codings of every field, as one comma-separated list (empty elements ignored).
    std::vector<std::string_view> codings;
    for (auto field : transfer_encodings) {
        while (!field.empty()) {
            auto comma = field.find(',');
            auto element = trim(field.substr(0, comma));
            if (!element.empty())
                codings.push_back(element);
            if (comma == std::string_view::npos)
                break;
            field.remove_prefix(comma + 1);
        }
    }
    if (codings.empty() || !boost::beast::iequals(codings.back(), "chunked"))
        return reject(400, "Transfer-Encoding must end with chunked");
    for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
        if (boost::beast::iequals(codings[i], "chunked"))
            return reject(400, "chunked may be applied only once");
    }
    if (codings.size() > 1)
        return reject(501, "Transfer-Encoding other than chunked is not implemented");
    framing_verdict ok;
    ok.close_after = !content_lengths.empty();
    return ok;
}

} // namespace callgate::net
