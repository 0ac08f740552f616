#include "callgate/engine/secrets.hpp"

#include "callgate/engine/random_source.hpp"

#include "callgate/codec/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>

namespace callgate::engine {
namespace {

std::string random_bytes(random_source& random, std::size_t n)
{
    std::string out(n, '\0');
    random.fill({reinterpret_cast<std::uint8_t*>(out.data()), n});
    return out;
}

} // namespace

std::string generate_api_key(random_source& random)
{
    return "cg_" + codec::base64url_encode(random_bytes(random, 32));
}

std::string generate_signing_key(random_source& random)
{
    return "whsec_" + codec::base64_encode(random_bytes(random, 32));
}

std::string sha256(std::string_view text)
{
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
           reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> buf{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), buf.data(), &len);
    return std::string(reinterpret_cast<const char*>(buf.data()), len);
}

bool constant_time_equal(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hex_encode(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0xF]);
    }
    return out;
}

} // namespace callgate::engine
