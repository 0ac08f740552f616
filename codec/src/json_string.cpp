#include "callgate/codec/json_string.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace callgate::codec {
namespace {

constexpr std::uint64_t every_byte(std::uint8_t b) { return 0x0101010101010101ull * b; }

// The top bit of each byte of `x` that is zero, and no other bit: adding 0x7F
// to the low seven bits carries into the top bit unless they are all zero,
// and OR-ing `x` back in covers bytes whose own top bit is set. (No borrow
// runs between bytes, so the mask is exact for every byte, not just the first.)
constexpr std::uint64_t zero_bytes(std::uint64_t x)
{
    constexpr std::uint64_t low7 = every_byte(0x7F);
    return ~(((x & low7) + low7) | x | low7);
}

// One top bit per byte of `word` that JSON must escape: '"', '\\' and the
// bytes under 0x20 (those whose top three bits are clear). Bytes of 0x80 and
// above never match: UTF-8 passes through.
struct escape_mask {
    std::uint64_t quotes;   // '"' and '\\': one byte more each, escaped
    std::uint64_t controls; // under 0x20: one or five more (\n or \u00XX)
    std::uint64_t any() const { return quotes | controls; }
};

escape_mask escapes_in(std::uint64_t word)
{
    return {zero_bytes(word ^ every_byte('"')) | zero_bytes(word ^ every_byte('\\')),
            zero_bytes(word & every_byte(0xE0))};
}

// The position of the lowest byte a mask marks: the first in text order, as
// words are loaded on the little-endian machines callgate builds for.
static_assert(std::endian::native == std::endian::little, "json_string.cpp reads text in little-endian words");
int first_marked(std::uint64_t mask) { return std::countr_zero(mask) >> 3; }

std::uint64_t load_word(const char* p)
{
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    return word;
}

// How many bytes each byte takes escaped, beyond itself: 1 for '"', '\\' and
// the five control characters with a short form, 5 for the other control
// characters (\u00XX), 0 for every other byte.
constexpr std::array<std::uint8_t, 256> extra_bytes = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c)
        t[static_cast<std::size_t>(c)] = 5;
    for (unsigned char c : {'"', '\\', '\n', '\r', '\t', '\b', '\f'})
        t[c] = 1;
    return t;
}();

constexpr char short_form(unsigned char c)
{
    switch (c) {
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    case '\b': return 'b';
    case '\f': return 'f';
    default: return static_cast<char>(c); // '"' and '\\'
    }
}

} // namespace

std::size_t json_escaped_extra(std::string_view text)
{
    // Eight bytes at a time: a word without control characters (the usual
    // case: ids, URLs, names, JSON inside JSON) adds one byte per quote or
    // backslash, counted from its mask; a word with one is counted byte by byte.
    std::size_t extra = 0, i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        auto m = escapes_in(load_word(text.data() + i));
        if (m.controls == 0) {
            extra += static_cast<std::size_t>(std::popcount(m.quotes));
            continue;
        }
        for (std::size_t j = i; j < i + 8; ++j)
            extra += extra_bytes[static_cast<unsigned char>(text[j])];
    }
    for (; i < text.size(); ++i)
        extra += extra_bytes[static_cast<unsigned char>(text[i])];
    return extra;
}

char* write_json_escaped(char* out, std::string_view text)
{
    static constexpr char hex[] = "0123456789abcdef";
    auto escape = [&](unsigned char c) {
        if (extra_bytes[c] == 1) {
            *out++ = '\\';
            *out++ = short_form(c);
            return;
        }
        std::memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0x0F];
        out += 6;
    };
    // Eight bytes at a time: a word is stored whole, and if a byte of it
    // needs escaping, the output moves on only past the clean bytes before
    // it, and the escape is written over the rest. (An 8-byte store is safe
    // while 8 input bytes remain: each takes at least one byte of room.)
    std::size_t i = 0;
    while (i + 8 <= text.size()) {
        std::uint64_t word = load_word(text.data() + i);
        std::memcpy(out, &word, 8);
        std::uint64_t marked = escapes_in(word).any();
        if (marked == 0) {
            out += 8;
            i += 8;
            continue;
        }
        auto k = static_cast<std::size_t>(first_marked(marked));
        out += k;
        i += k;
        escape(static_cast<unsigned char>(text[i++]));
    }
    for (; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (extra_bytes[c] == 0)
            *out++ = text[i];
        else
            escape(c);
    }
    return out;
}

void append_json_escaped(std::string& out, std::string_view text)
{
    std::size_t extra = json_escaped_extra(text);
    if (extra == 0) {
        out.append(text);
        return;
    }
    std::size_t at = out.size();
    out.resize(at + text.size() + extra);
    write_json_escaped(out.data() + at, text);
}

} // namespace callgate::codec
