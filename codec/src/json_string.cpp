#include "callgate/codec/json_string.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace callgate::codec {
namespace {

constexpr std::uint64_t every_byte(std::uint8_t b) { return 0x0101010101010101ull * b; }

// Whether any of the eight bytes of `word` is under 0x20, '"' or '\\' (the
// bytes a JSON string must escape), without looking at them one by one: a
// byte is zero after the XOR exactly where it matched, and "minus one, and
// not before" sets the top bit of the first zero byte; bytes of 0x80 and
// above never match.
bool needs_escape(std::uint64_t word)
{
    auto zero_byte = [](std::uint64_t x) { return (x - every_byte(0x01)) & ~x & every_byte(0x80); };
    return ((word - every_byte(0x20)) & ~word & every_byte(0x80)) | zero_byte(word ^ every_byte('"')) |
           zero_byte(word ^ every_byte('\\'));
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
    // Eight bytes at a time while none needs escaping (the usual case: ids,
    // URLs, names); a word that does is counted byte by byte.
    std::size_t extra = 0, i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, text.data() + i, 8);
        if (needs_escape(word))
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
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        switch (extra_bytes[c]) {
        case 0: *out++ = ch; break;
        case 1:
            *out++ = '\\';
            *out++ = short_form(c);
            break;
        default:
            std::memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 0x0F];
            out += 6;
        }
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
