#include "callgate/codec/json_string.hpp"
#include "callgate/codec/word_scan.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace callgate::codec {
namespace {

// The bytes JSON must escape in a block of the text: '"' and '\\' (one byte
// more each), and control characters (under 0x20: one or five more, \n or
// \u00XX). Bytes of 0x80 and above never match: UTF-8 passes through.
#if defined(__SSE2__)
// Sixteen bytes at a time (SSE2 is part of x86-64); a mask has a bit per byte.
constexpr std::size_t block = 16;
struct block_masks {
    unsigned quotes, controls;
    unsigned any() const { return quotes | controls; }
};
block_masks masks_at(const char* p)
{
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i quotes = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    // Unsigned v <= 0x1F: the larger of v and 0x1F is 0x1F.
    __m128i controls = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    return {static_cast<unsigned>(_mm_movemask_epi8(quotes)), static_cast<unsigned>(_mm_movemask_epi8(controls))};
}
void copy_block(char* out, const char* p) { std::memcpy(out, p, block); }
std::size_t first_in(unsigned mask) { return static_cast<std::size_t>(std::countr_zero(mask)); }
std::size_t count_in(unsigned mask)
{
    std::size_t n = 0;
    for (; mask != 0; mask &= mask - 1)
        ++n;
    return n;
}
#else
// Eight bytes at a time; a mask has the top bit of each byte.
constexpr std::size_t block = 8;
struct block_masks {
    std::uint64_t quotes, controls;
    std::uint64_t any() const { return quotes | controls; }
};
block_masks masks_at(const char* p)
{
    auto word = word_scan::load_word(p);
    return {word_scan::bytes_equal(word, '"') | word_scan::bytes_equal(word, '\\'), word_scan::control_bytes(word)};
}
void copy_block(char* out, const char* p) { std::memcpy(out, p, block); }
std::size_t first_in(std::uint64_t mask) { return word_scan::first_marked(mask); }
std::size_t count_in(std::uint64_t mask) { return word_scan::marked_count(mask); }
#endif

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
    // A block at a time: one without control characters (the usual case:
    // ids, URLs, names, JSON inside JSON) adds a byte per quote or backslash,
    // counted from its mask; one with a control character is counted byte by byte.
    std::size_t extra = 0, i = 0;
    for (; i + block <= text.size(); i += block) {
        auto m = masks_at(text.data() + i);
        if (m.controls == 0) {
            extra += count_in(m.quotes);
            continue;
        }
        for (std::size_t j = i; j < i + block; ++j)
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
    // A block at a time: it is stored whole, and if a byte of it needs
    // escaping, the output moves on only past the clean bytes before it, and
    // the escape is written over the rest. (A block's store is safe while a
    // block of input remains: each input byte takes at least one byte of room.)
    std::size_t i = 0;
    while (i + block <= text.size()) {
        copy_block(out, text.data() + i);
        auto masks = masks_at(text.data() + i);
        auto marked = masks.any();
        if (marked == 0) {
            out += block;
            i += block;
            continue;
        }
        if (masks.controls == 0 && i + 2 * block <= text.size()) {
            // Quotes and backslashes only (JSON inside JSON), and a block of
            // input after this one: all of the block's escapes in one pass,
            // each run of clean bytes before an escape stored as a whole
            // block. (Reads stay within the next block, and writes within the
            // room of this block and the next: this block takes block plus
            // one byte per mark, the next at least block.)
            const char* p = text.data() + i;
            std::size_t from = 0;
            for (; marked != 0; marked &= marked - 1) {
                std::size_t k = first_in(marked);
                copy_block(out, p + from);
                out += k - from;
                out[0] = '\\';
                out[1] = p[k];
                out += 2;
                from = k + 1;
            }
            copy_block(out, p + from);
            out += block - from;
            i += block;
            continue;
        }
        auto k = first_in(marked);
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
