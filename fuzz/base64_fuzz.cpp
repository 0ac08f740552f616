// base64 of codec/base64.hpp: encode→decode round trips for both
// alphabets, the encoder's output shape, and that the strict decoders accept
// exactly the encoders' output (one text per byte string).

#include "callgate/codec/base64.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using callgate::codec::base64_decode;
using callgate::codec::base64_encode;
using callgate::codec::base64url_decode;
using callgate::codec::base64url_encode;
using callgate::codec::is_base64;

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
    FUZZ_CHECK(base64url_decode(url, decoded));
    FUZZ_CHECK(decoded == bytes);

    // Arbitrary text: what a decoder accepts is exactly its encoder's output
    // for the decoded bytes (strict: no other spelling of the same bytes).
    std::string out;
    bool standard_ok = base64_decode(bytes, out);
    FUZZ_CHECK(standard_ok == is_base64(bytes));
    if (standard_ok)
        FUZZ_CHECK(base64_encode(out) == bytes);
    if (base64url_decode(bytes, out))
        FUZZ_CHECK(base64url_encode(out) == bytes);
    return 0;
}
