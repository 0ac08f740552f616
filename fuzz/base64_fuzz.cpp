// base64 of engine/secrets.hpp: encode→decode round trips for both
// alphabets, the encoder's output shape, and what decode accepts.

#include "callgate/engine/secrets.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using callgate::engine::base64_decode;
using callgate::engine::base64_encode;
using callgate::engine::base64url_encode;

bool is_standard(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view bytes(reinterpret_cast<const char*>(data), size);

    // Standard alphabet, padded: 4 characters per 3 bytes, '=' only at the end.
    std::string standard = base64_encode(bytes);
    FUZZ_CHECK(standard.size() == (size + 2) / 3 * 4);
    std::size_t padding = (3 - size % 3) % 3;
    for (std::size_t i = 0; i < standard.size(); ++i)
        FUZZ_CHECK(i >= standard.size() - padding ? standard[i] == '=' : is_standard(standard[i]));
    std::string decoded;
    FUZZ_CHECK(base64_decode(standard, decoded));
    FUZZ_CHECK(decoded == bytes);

    // URL alphabet, unpadded (API keys).
    std::string url = base64url_encode(bytes);
    FUZZ_CHECK(url.size() == (size * 4 + 2) / 3);
    for (char c : url)
        FUZZ_CHECK(is_url(c));
    FUZZ_CHECK(base64_decode(url, decoded));
    FUZZ_CHECK(decoded == bytes);

    // Arbitrary text: whatever decode accepts uses only the alphabets and
    // trailing '=', yields 6 bits per character, and a canonical encoding
    // decodes back to exactly the same bytes.
    std::string out;
    if (base64_decode(bytes, out)) {
        std::size_t symbols = 0;
        bool in_padding = false;
        for (char c : bytes) {
            if (c == '=') {
                in_padding = true;
                continue;
            }
            FUZZ_CHECK(!in_padding);
            FUZZ_CHECK(is_standard(c) || is_url(c));
            ++symbols;
        }
        FUZZ_CHECK(out.size() == symbols * 6 / 8);
        std::string again;
        FUZZ_CHECK(base64_decode(base64_encode(out), again));
        FUZZ_CHECK(again == out);
    }
    return 0;
}
