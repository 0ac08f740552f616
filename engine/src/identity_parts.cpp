#include "identity_parts.hpp"

#include <cstdint>

namespace callgate::engine {
namespace detail {
namespace {

constexpr char format_version = 1;

void put_part(std::string& out, std::optional<std::string_view> part)
{
    if (!part) {
        out.push_back(0);
        return;
    }
    out.push_back(1);
    auto n = static_cast<std::uint32_t>(part->size());
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    out += *part;
}

// Reads one part from the front of `bytes`: absent (nullopt), or its value.
bool take_part(std::string_view& bytes, std::optional<std::string>& part)
{
    if (bytes.empty() || static_cast<unsigned char>(bytes[0]) > 1)
        return false;
    bool present = bytes[0] == 1;
    bytes.remove_prefix(1);
    if (!present) {
        part.reset();
        return true;
    }
    if (bytes.size() < 4)
        return false;
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
        n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    bytes.remove_prefix(4);
    if (bytes.size() < n)
        return false;
    part.emplace(bytes.substr(0, n));
    bytes.remove_prefix(n);
    return true;
}

} // namespace

std::string encode_identity_parts(std::string_view identity, std::optional<std::string_view> action,
                                  std::optional<std::string_view> signing_key)
{
    std::string out;
    out.reserve(16 + identity.size() + (action ? action->size() : 0) + (signing_key ? signing_key->size() : 0));
    out.push_back(format_version);
    put_part(out, identity);
    put_part(out, action);
    put_part(out, signing_key);
    return out;
}

bool decode_identity_parts(std::string_view bytes, identity_parts& out)
{
    if (bytes.empty() || bytes[0] != format_version)
        return false;
    bytes.remove_prefix(1);
    std::optional<std::string> identity;
    if (!take_part(bytes, identity) || !identity || !take_part(bytes, out.action) || !take_part(bytes, out.signing_key))
        return false;
    out.identity = std::move(*identity);
    return bytes.empty();
}

} // namespace detail

read_result store::get_identity_parts(std::string_view id, identity_parts& out)
{
    return detail::read_identity_parts(*this, id, out);
}

} // namespace callgate::engine
