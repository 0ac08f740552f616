#include "callgate/engine/random_source.hpp"

#include <openssl/rand.h>

#include <cstdlib>

namespace callgate::engine {

void crypto_random::fill(std::span<std::uint8_t> out)
{
    if (out.empty())
        return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
        std::abort();
}

namespace {

struct xoshiro256 {
    std::uint64_t s[4];

    xoshiro256()
    {
        crypto_random seed;
        seed.fill({reinterpret_cast<std::uint8_t*>(s), sizeof s});
    }
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t next()
    {
        std::uint64_t result = rotl(s[1] * 5, 7) * 9;
        std::uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }
};

} // namespace

void fast_random::fill(std::span<std::uint8_t> out)
{
    thread_local xoshiro256 generator;
    std::size_t i = 0;
    while (i < out.size()) {
        std::uint64_t v = generator.next();
        for (int b = 0; b < 8 && i < out.size(); ++b, ++i)
            out[i] = static_cast<std::uint8_t>(v >> (8 * b));
    }
}

} // namespace callgate::engine
