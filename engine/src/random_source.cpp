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

} // namespace callgate::engine
