#include "callgate/codec/base64.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <cstdint>

namespace callgate::codec {
namespace {

constexpr char standard_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Character → 6-bit value, 64 for a character outside the alphabet.
using decode_table = std::array<std::uint8_t, 256>;

constexpr decode_table make_table(const char* alphabet)
{
    decode_table t{};
    for (auto& v : t)
        v = 64;
    for (std::uint8_t i = 0; i < 64; ++i)
        t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
}

constexpr decode_table standard_table = make_table(standard_alphabet);
constexpr decode_table url_table = make_table(url_alphabet);

// 12 bits → their two characters: a whole 3-byte group is two lookups and
// one 4-byte store (8 KiB a table).
using pair_table = std::array<std::array<char, 2>, 4096>;

constexpr pair_table make_pairs(const char* alphabet)
{
    pair_table t{};
    for (std::size_t v = 0; v < t.size(); ++v)
        t[v] = {alphabet[v >> 6], alphabet[v & 63]};
    return t;
}

constexpr pair_table standard_pairs = make_pairs(standard_alphabet);
constexpr pair_table url_pairs = make_pairs(url_alphabet);

struct encoding {
    const char* alphabet;
    const pair_table& pairs;
    bool pad;
};

constexpr encoding standard_encoding{standard_alphabet, standard_pairs, true};
constexpr encoding url_encoding{url_alphabet, url_pairs, false};

// Appends the encoding of `bytes` to `out`, written in place.
void append_encoded(std::string& out, std::string_view bytes, const encoding& e)
{
    std::size_t whole = bytes.size() / 3;
    std::size_t rest = bytes.size() - whole * 3;
    std::size_t length = whole * 4 + (rest == 0 ? 0 : e.pad ? 4 : rest + 1);
    std::size_t at = out.size();
    out.resize(at + length);
    char* p = out.data() + at;
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* end = in + whole * 3;
    const auto* pairs = e.pairs.data(); // a local: the stores below cannot change it
    auto group = [&](std::uint32_t v) { // v: the group's 24 bits
        std::memcpy(p, pairs[v >> 12].data(), 2);
        std::memcpy(p + 2, pairs[v & 0xFFF].data(), 2);
        in += 3;
        p += 4;
    };
    // One 4-byte load a group while a byte past the group is there to read.
    for (; end - in >= 4;) {
        std::uint32_t word;
        std::memcpy(&word, in, 4);
        if constexpr (std::endian::native == std::endian::little)
            word = __builtin_bswap32(word); // byte 0 to the top
        group(word >> 8);
    }
    if (in != end)
        group(std::uint32_t{in[0]} << 16 | std::uint32_t{in[1]} << 8 | in[2]);
    if (rest == 0)
        return;
    std::uint32_t v = std::uint32_t{in[0]} << 16 | (rest == 2 ? std::uint32_t{in[1]} << 8 : 0);
    *p++ = e.alphabet[v >> 18 & 63];
    *p++ = e.alphabet[v >> 12 & 63];
    if (rest == 2)
        *p++ = e.alphabet[v >> 6 & 63];
    if (e.pad)
        for (std::size_t k = rest; k < 3; ++k)
            *p++ = '=';
}

std::string encode(std::string_view bytes, const encoding& e)
{
    std::string out;
    append_encoded(out, bytes, e);
    return out;
}

// Decodes `symbols` (alphabet characters only, no padding; a length that is
// not 1 mod 4) into `out` when given; false on a character outside the
// alphabet or non-zero unused bits in the last character.
bool decode_symbols(std::string_view symbols, const decode_table& table, std::string* out)
{
    if (symbols.size() % 4 == 1)
        return false;
    if (out) {
        out->clear();
        out->reserve(symbols.size() / 4 * 3 + 2);
    }
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : symbols) {
        std::uint8_t v = table[static_cast<unsigned char>(c)];
        if (v == 64)
            return false;
        acc = (acc << 6 | v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out)
                out->push_back(static_cast<char>(acc >> bits & 0xFF));
        }
    }
    // 2 or 4 bits are left over after a short last group: they must be zero.
    return (acc & ((1u << bits) - 1)) == 0;
}

// The standard form: the symbols before the padding, if the padding is right.
bool strip_padding(std::string_view text, std::string_view& symbols)
{
    if (text.size() % 4 != 0)
        return false;
    std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    symbols = text.substr(0, text.size() - padding);
    // 4n symbols need no padding; 4n+2 need two '=', 4n+3 one.
    return (padding == 0) == (symbols.size() % 4 == 0);
}

} // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, standard_encoding); }

void append_base64(std::string& out, std::string_view bytes) { append_encoded(out, bytes, standard_encoding); }

std::string base64url_encode(std::string_view bytes) { return encode(bytes, url_encoding); }

bool base64_decode(std::string_view text, std::string& out)
{
    std::string_view symbols;
    return strip_padding(text, symbols) && decode_symbols(symbols, standard_table, &out);
}

bool base64url_decode(std::string_view text, std::string& out)
{
    return decode_symbols(text, url_table, &out);
}

bool is_base64(std::string_view text)
{
    std::string_view symbols;
    return strip_padding(text, symbols) && decode_symbols(symbols, standard_table, nullptr);
}

} // namespace callgate::codec
