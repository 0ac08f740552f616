#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace callgate::engine {

class random_source;

// A 128-bit UUID, stored as its 16 bytes in network order.
struct uuid {
    std::array<std::uint8_t, 16> bytes{};

    // Parses the canonical 8-4-4-4-12 hex form, either case; nullopt otherwise.
    static std::optional<uuid> parse(std::string_view text);
    // A random (version 4) UUID.
    static uuid generate(random_source& random);
    // A time-ordered (version 7) UUID: 48 bits of Unix milliseconds, 12 bits
    // of the millisecond's fraction, then random bits.
    static uuid generate_v7(random_source& random, std::int64_t unix_us);
    // Whether generate_v7 could have made this id at `unix_us`: its 64 leading
    // bits are that instant's (so such ids sort as their instants do, to the
    // microsecond) and its variant is RFC 9562's.
    bool is_v7_of(std::int64_t unix_us) const;

    // Lowercase canonical form.
    std::string to_string() const;
    // The same, appended to `out`.
    void append_to(std::string& out) const;
    // The same, its 36 bytes written from `out` on.
    void write_to(char* out) const;
    std::string_view as_key() const
    {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
    static std::optional<uuid> from_key(std::string_view key);

    // Byte order (so record keys sort as their instants do), compared as two
    // big-endian words instead of a memcmp call: the call log sorts each
    // batch's keys.
    friend std::strong_ordering operator<=>(const uuid& a, const uuid& b) noexcept
    {
        if (auto high = a.word(0) <=> b.word(0); high != 0)
            return high;
        return a.word(8) <=> b.word(8);
    }
    friend bool operator==(const uuid&, const uuid&) = default;

private:
    // The 8 bytes from `at` as a big-endian number.
    std::uint64_t word(std::size_t at) const noexcept
    {
        std::uint64_t v;
        std::memcpy(&v, bytes.data() + at, 8);
        if constexpr (std::endian::native == std::endian::little)
            v = __builtin_bswap64(v);
        return v;
    }
};

struct uuid_hash {
    std::size_t operator()(const uuid& u) const noexcept
    {
        std::uint64_t a, b;
        std::memcpy(&a, u.bytes.data(), 8);
        std::memcpy(&b, u.bytes.data() + 8, 8);
        return static_cast<std::size_t>((a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull);
    }
};

} // namespace callgate::engine
