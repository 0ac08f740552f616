#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace callgate::engine {

// Source of random bytes, injected so tests can make identifiers predictable.
// fill() may be called from any thread.
class random_source {
public:
    virtual ~random_source() = default;
    virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Cryptographically secure bytes from OpenSSL's RAND_bytes. Aborts if the
// generator fails, since no key or identifier may be made from bad entropy.
class crypto_random final : public random_source {
public:
    void fill(std::span<std::uint8_t> out) override;
};

// Fast, well-distributed bytes for identifiers that must be unique but need
// not be secret (call ids, request ids): xoshiro256** per thread, seeded from
// OpenSSL's CSPRNG. Never use it for keys or tokens.
class fast_random final : public random_source {
public:
    void fill(std::span<std::uint8_t> out) override;
};

} // namespace callgate::engine
