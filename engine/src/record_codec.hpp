#pragma once

// The storage encoding of records: a version byte, then fields in a fixed
// order. Strings are a varint length and bytes, optional strings a presence
// byte first, integers 8 bytes little-endian. Decoding checks every bound.
// Private to the engine.

#include "callgate/engine/uuid.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace callgate::engine::detail {

constexpr std::uint8_t format_version = 1;

class record_writer {
public:
    // `expected`: the size the record will likely reach, reserved at once
    // rather than grown into step by step.
    explicit record_writer(std::size_t expected = 0)
    {
        out_.reserve(expected);
        out_.push_back(static_cast<char>(format_version));
    }
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void i64(std::int64_t v)
    {
        char bytes[8];
        for (int i = 0; i < 8; ++i)
            bytes[i] = static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF);
        out_.append(bytes, 8);
    }
    void text(std::string_view v)
    {
        std::uint64_t n = v.size();
        while (n >= 0x80) {
            out_.push_back(static_cast<char>((n & 0x7F) | 0x80));
            n >>= 7;
        }
        out_.push_back(static_cast<char>(n));
        out_.append(v);
    }
    void optional_text(const std::optional<std::string>& v)
    {
        u8(v ? 1 : 0);
        if (v)
            text(*v);
    }
    void id(const uuid& u) { out_.append(u.as_key()); }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class record_reader {
public:
    explicit record_reader(std::string_view in) : in_(in)
    {
        std::uint8_t version = 0;
        ok_ = u8(version) && version == format_version;
    }
    bool ok() const { return ok_; }
    bool done() const { return ok_ && in_.empty(); }
    bool u8(std::uint8_t& v)
    {
        if (in_.empty())
            return ok_ = false;
        v = static_cast<std::uint8_t>(in_[0]);
        in_.remove_prefix(1);
        return true;
    }
    bool i64(std::int64_t& v)
    {
        if (in_.size() < 8)
            return ok_ = false;
        std::uint64_t x = 0;
        for (int i = 0; i < 8; ++i)
            x |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[i])) << (8 * i);
        v = static_cast<std::int64_t>(x);
        in_.remove_prefix(8);
        return true;
    }
    bool text(std::string& v)
    {
        std::uint64_t n = 0;
        for (int shift = 0;; shift += 7) {
            std::uint8_t b;
            if (shift > 28 || !u8(b))
                return ok_ = false;
            n |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                break;
        }
        if (in_.size() < n)
            return ok_ = false;
        v.assign(in_.data(), n);
        in_.remove_prefix(n);
        return true;
    }
    bool optional_text(std::optional<std::string>& v)
    {
        std::uint8_t present;
        if (!u8(present) || present > 1)
            return ok_ = false;
        v.reset();
        if (present == 1) {
            std::string t;
            if (!text(t))
                return false;
            v = std::move(t);
        }
        return true;
    }
    bool id(uuid& u)
    {
        if (in_.size() < 16)
            return ok_ = false;
        std::memcpy(u.bytes.data(), in_.data(), 16);
        in_.remove_prefix(16);
        return true;
    }

private:
    std::string_view in_;
    bool ok_ = true;
};


} // namespace callgate::engine::detail
