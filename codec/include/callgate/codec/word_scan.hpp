#pragma once

// Eight bytes at a time: masks with the top bit of each byte of a 64-bit
// word that matches, for scanners that look at text a word at a time (the
// JSON escaper, the ready lanes' request parser). Exact for every byte: no
// borrow runs from one byte into the next.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace callgate::codec::word_scan {

static_assert(std::endian::native == std::endian::little, "word_scan reads text in little-endian words");

constexpr std::uint64_t every_byte(std::uint8_t b) { return 0x0101010101010101ull * b; }

// The top bit of each byte of `x` that is zero: adding 0x7F to the low seven
// bits carries into the top bit unless they are all zero, and OR-ing `x` back
// in covers bytes whose own top bit is set.
constexpr std::uint64_t zero_bytes(std::uint64_t x)
{
    constexpr std::uint64_t low7 = every_byte(0x7F);
    return ~(((x & low7) + low7) | x | low7);
}

// Bytes equal to `b`.
constexpr std::uint64_t bytes_equal(std::uint64_t word, std::uint8_t b) { return zero_bytes(word ^ every_byte(b)); }

// Bytes under 0x20 (their top three bits clear).
constexpr std::uint64_t control_bytes(std::uint64_t word) { return zero_bytes(word & every_byte(0xE0)); }

// Where the first marked byte is, in text order.
inline std::size_t first_marked(std::uint64_t mask) { return static_cast<std::size_t>(std::countr_zero(mask) >> 3); }

// How many bytes a mask marks (one multiply: std::popcount is a library
// call without -mpopcnt).
constexpr std::size_t marked_count(std::uint64_t mask)
{
    return static_cast<std::size_t>(((mask >> 7) * every_byte(1)) >> 56);
}

inline std::uint64_t load_word(const char* p)
{
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    return word;
}

} // namespace callgate::codec::word_scan
