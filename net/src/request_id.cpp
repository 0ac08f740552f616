#include "callgate/net/request_id.hpp"

#include <cstdint>
#include <cstring>
#include <random>

namespace callgate::net {

namespace {

// splitmix64 over a per-thread state seeded once from the OS.
std::uint64_t next_random()
{
    thread_local std::uint64_t state = [] {
        std::random_device seed;
        return (static_cast<std::uint64_t>(seed()) << 32) ^ seed();
    }();
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool is_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == ':' || c == '+' || c == '/' || c == '=' || c == '@';
}

} // namespace

bool request_id::is_sane(std::string_view given)
{
    if (given.empty() || given.size() > max_length)
        return false;
    for (char c : given)
        if (!is_id_char(c))
            return false;
    return true;
}

void request_id::assign(std::string_view given)
{
    if (!is_sane(given)) {
        generate();
        return;
    }
    std::memcpy(text_, given.data(), given.size());
    length_ = given.size();
}

void request_id::generate()
{
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t n = 0;
    for (int half = 0; half < 2; ++half)
        for (std::uint64_t bits = next_random(), i = 0; i < 16; ++i, bits >>= 4)
            text_[n++] = hex[bits & 0x0f];
    length_ = n;
}

} // namespace callgate::net
