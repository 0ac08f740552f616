#include "callgate/engine/random_source.hpp"
#include "callgate/engine/uuid.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

using namespace callgate::engine;

namespace {

// Every byte 0xFF: the random bits cannot hide a wrong mask or shift.
class all_ones final : public random_source {
public:
    void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0xFF); }
};

} // namespace

TEST(uuid, version_7_carries_the_millisecond_and_its_fraction)
{
    all_ones ones;
    // 2026-12-01T00:00:00.000999 UTC, in microseconds.
    constexpr std::int64_t us = 1'796'083'200'000'999;
    auto id = uuid::generate_v7(ones, us);
    // 48 bits of Unix milliseconds.
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; ++i)
        ms = (ms << 8) | id.bytes[static_cast<std::size_t>(i)];
    EXPECT_EQ(ms, static_cast<std::uint64_t>(us / 1000));
    // Version 7, then 999 us as 4091/4096 of a millisecond (RFC 9562 section 6.2, method 3).
    EXPECT_EQ(id.bytes[6] >> 4, 7);
    EXPECT_EQ(((id.bytes[6] & 0x0F) << 8) | id.bytes[7], 999 * 4096 / 1000);
    // The variant (10xx), then random bits.
    EXPECT_EQ(id.bytes[8] >> 6, 2);
    EXPECT_EQ(id.bytes[8] & 0x3F, 0x3F);
    EXPECT_TRUE(std::all_of(id.bytes.begin() + 9, id.bytes.end(), [](std::uint8_t b) { return b == 0xFF; }));
    EXPECT_EQ(uuid::parse(id.to_string()), id);
}

TEST(uuid, version_7_ids_minted_in_time_order_sort_in_time_order)
{
    // Call ids are keys of the call records: ids minted a microsecond apart
    // must sort as their times do, whatever their random bits.
    fast_random random;
    constexpr std::int64_t start = 1'796'083'200'000'000;
    std::vector<uuid> ids;
    for (std::int64_t us = start; us < start + 3000; ++us)
        ids.push_back(uuid::generate_v7(random, us));
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    for (const auto& id : ids)
        EXPECT_EQ(id.bytes[6] >> 4, 7);
}

// Ids order as their 16 bytes do, most significant first (record keys are
// compared this way by RocksDB), whichever byte tells them apart.
TEST(uuid, orders_as_its_bytes_do)
{
    fast_random random;
    std::vector<uuid> ids;
    for (int i = 0; i < 200; ++i)
        ids.push_back(uuid::generate(random));
    for (std::size_t at = 0; at < 16; ++at) { // pairs that differ in one byte only
        uuid low = ids[at], high = ids[at];
        low.bytes[at] = 0x7F;
        high.bytes[at] = 0x80;
        ids.push_back(low);
        ids.push_back(high);
    }
    for (const auto& a : ids) {
        for (const auto& b : ids) {
            int bytes = std::memcmp(a.bytes.data(), b.bytes.data(), 16);
            auto order = a <=> b;
            EXPECT_EQ(order < 0, bytes < 0);
            EXPECT_EQ(order == 0, bytes == 0);
            EXPECT_EQ(a == b, bytes == 0);
        }
    }
}
