#include "callgate/codec/json_string.hpp"

#include <algorithm>
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

} // namespace

void append_json_escaped(std::string& out, std::string_view text)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t run = 0; // the first byte not yet appended
    std::size_t i = 0;
    for (;;) {
        // Eight bytes at a time while none needs escaping (the usual case: ids, URLs, names).
        while (i + 8 <= text.size()) {
            std::uint64_t word;
            std::memcpy(&word, text.data() + i, 8);
            if (needs_escape(word))
                break;
            i += 8;
        }
        std::size_t stop = std::min(i + 8, text.size());
        for (; i < stop; ++i) {
            auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\')
                continue;
            out.append(text.data() + run, i - run);
            run = i + 1;
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0x0F]);
            }
        }
        if (i >= text.size())
            break;
    }
    out.append(text.data() + run, text.size() - run);
}

} // namespace callgate::codec
