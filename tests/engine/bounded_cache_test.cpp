#include "callgate/engine/bounded_cache.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace callgate::engine {
namespace {

TEST(bounded_cache, holds_no_more_than_its_capacity)
{
    bounded_cache<int, int> cache(100, 4);
    for (int i = 0; i < 10'000; ++i)
        cache.put(i, i * 2);
    EXPECT_LE(cache.size(), cache.capacity());
    EXPECT_LE(cache.capacity(), 100u);
    EXPECT_GT(cache.size(), 0u);
}

TEST(bounded_cache, get_returns_what_was_put_and_counts)
{
    bounded_cache<std::string, int> cache(10, 2);
    cache.put("a", 1);
    EXPECT_EQ(cache.get("a"), 1);
    EXPECT_FALSE(cache.get("b"));
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.misses(), 1u);
    cache.put("a", 2);
    EXPECT_EQ(cache.get("a"), 2);
    cache.erase("a");
    EXPECT_FALSE(cache.get("a"));
    EXPECT_EQ(cache.size(), 0u);
}

TEST(bounded_cache, clock_keeps_recently_used_entries)
{
    bounded_cache<int, int> cache(4, 1);
    for (int i = 0; i < 4; ++i)
        cache.put(i, i);
    // Everything put is referenced once; touch 0 so it survives a sweep.
    for (int round = 0; round < 3; ++round) {
        cache.get(0);
        cache.put(100 + round, round);
    }
    EXPECT_TRUE(cache.get(0));
    EXPECT_LE(cache.size(), 4u);
}

TEST(bounded_cache, a_fill_older_than_a_write_is_dropped)
{
    bounded_cache<int, std::string> cache(10, 1);
    auto ticket = cache.ticket(7);   // a reader misses and starts reading the store…
    cache.put(7, "new");             // …a write commits and updates the cache…
    cache.fill(7, "old", ticket);    // …the reader's stale value must not win.
    EXPECT_EQ(cache.get(7), "new");

    cache.erase(7);
    auto fresh = cache.ticket(7);
    cache.fill(7, "loaded", fresh);
    EXPECT_EQ(cache.get(7), "loaded");
}

TEST(bounded_cache, survives_concurrent_use)
{
    bounded_cache<int, int> cache(1000, 16);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&cache, t] {
            for (int i = 0; i < 20'000; ++i) {
                int key = (i * 7 + t) % 5000;
                if (i % 3 == 0)
                    cache.put(key, i);
                else if (auto v = cache.get(key); !v)
                    cache.fill(key, i, cache.ticket(key));
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_LE(cache.size(), cache.capacity());
}

} // namespace
} // namespace callgate::engine

namespace callgate::engine {
namespace {

TEST(bounded_cache, peek_is_not_counted)
{
    bounded_cache<int, int> cache(10, 1);
    cache.put(1, 1);
    EXPECT_EQ(cache.peek(1), 1);
    EXPECT_FALSE(cache.peek(2));
    EXPECT_EQ(cache.hits(), 0u);
    EXPECT_EQ(cache.misses(), 0u);
}

} // namespace
} // namespace callgate::engine
