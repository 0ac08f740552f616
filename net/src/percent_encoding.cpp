#include "callgate/net/percent_encoding.hpp"

#include <charconv>

namespace callgate::net {

namespace {

// The byte escaped at in[i] == '%', or -1 when the escape is bad.
int escaped_byte(std::string_view in, std::size_t i)
{
    if (i + 2 >= in.size())
        return -1;
    const char* digits = in.data() + i + 1;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits, digits + 2, value, 16);
    return ec == std::errc{} && end == digits + 2 ? static_cast<int>(value) : -1;
}

} // namespace

bool is_valid_percent_encoding(std::string_view text)
{
    for (auto i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3))
        if (escaped_byte(text, i) < 0)
            return false;
    return true;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space)
{
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            int byte = escaped_byte(in, i);
            if (byte < 0)
                return false;
            out.push_back(static_cast<char>(byte));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

bool decodes_to(std::string_view encoded, std::string_view plain)
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < encoded.size(); ++i, ++n) {
        char c = encoded[i];
        if (c == '%') {
            int byte = escaped_byte(encoded, i);
            if (byte < 0)
                return false;
            c = static_cast<char>(byte);
            i += 2;
        }
        if (n == plain.size() || plain[n] != c)
            return false;
    }
    return n == plain.size();
}

const std::string* query_params::find(std::string_view key) const
{
    for (const auto& [k, v] : items)
        if (k == key)
            return &v;
    return nullptr;
}

bool parse_query(std::string_view query, query_params& out)
{
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty())
            continue;
        auto eq = pair.find('=');
        std::string key, value;
        if (!percent_decode(pair.substr(0, eq), key, true))
            return false;
        if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true))
            return false;
        out.items.emplace_back(std::move(key), std::move(value));
    }
    return true;
}

} // namespace callgate::net
