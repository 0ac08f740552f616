#include "callgate/engine/uuid.hpp"

#include "callgate/engine/random_source.hpp"

#include <algorithm>
#include <array>

namespace callgate::engine {
namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

std::optional<uuid> uuid::parse(std::string_view text)
{
    if (text.size() != 36)
        return std::nullopt;
    uuid out;
    std::size_t byte = 0;
    for (std::size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return std::nullopt;
            ++i;
            continue;
        }
        int hi = hex_value(text[i]);
        int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out.bytes[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return out;
}

uuid uuid::generate(random_source& random)
{
    uuid out;
    random.fill(out.bytes);
    out.bytes[6] = static_cast<std::uint8_t>((out.bytes[6] & 0x0F) | 0x40);
    out.bytes[8] = static_cast<std::uint8_t>((out.bytes[8] & 0x3F) | 0x80);
    return out;
}

namespace {

// A version 7 id's first 8 bytes for `unix_us`: 48 bits of milliseconds, the
// version, and the millisecond's fraction in 1/4096ths (RFC 9562 section 6.2,
// method 3), so ids minted in order sort in order to ~0.25 us.
void put_v7_time(std::uint8_t* out, std::int64_t unix_us)
{
    auto us = static_cast<std::uint64_t>(unix_us);
    auto ms = us / 1000;
    for (int i = 0; i < 6; ++i)
        out[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
    auto fraction = static_cast<std::uint16_t>((us % 1000) * 4096 / 1000);
    out[6] = static_cast<std::uint8_t>(0x70 | (fraction >> 8));
    out[7] = static_cast<std::uint8_t>(fraction & 0xFF);
}

} // namespace

uuid uuid::generate_v7(random_source& random, std::int64_t unix_us)
{
    uuid out;
    random.fill({out.bytes.data() + 8, 8});
    put_v7_time(out.bytes.data(), unix_us);
    out.bytes[8] = static_cast<std::uint8_t>((out.bytes[8] & 0x3F) | 0x80);
    return out;
}

bool uuid::is_v7_of(std::int64_t unix_us) const
{
    std::uint8_t time[8];
    put_v7_time(time, unix_us);
    return std::equal(time, time + 8, bytes.begin()) && (bytes[8] & 0xC0) == 0x80;
}

std::string uuid::to_string() const
{
    std::string out;
    append_to(out);
    return out;
}

void uuid::write_to(char* out) const
{
    // Two hex digits per byte from one table: a copy per byte.
    static constexpr auto pairs = [] {
        constexpr char digits[] = "0123456789abcdef";
        std::array<char, 512> t{};
        for (std::size_t b = 0; b < 256; ++b) {
            t[2 * b] = digits[b >> 4];
            t[2 * b + 1] = digits[b & 0x0F];
        }
        return t;
    }();
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *out++ = '-';
        std::memcpy(out, &pairs[2 * std::size_t{bytes[i]}], 2);
        out += 2;
    }
}

void uuid::append_to(std::string& out) const
{
    char text[36];
    write_to(text);
    out.append(text, sizeof text);
}

std::optional<uuid> uuid::from_key(std::string_view key)
{
    if (key.size() != 16)
        return std::nullopt;
    uuid out;
    std::memcpy(out.bytes.data(), key.data(), 16);
    return out;
}

} // namespace callgate::engine
