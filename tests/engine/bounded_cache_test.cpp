#include "callgate/engine/bounded_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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

using fronted_cache = bounded_cache<std::string, std::shared_ptr<const std::string>>;

std::shared_ptr<const std::string> text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

TEST(bounded_cache_front, a_thread_reads_every_write_made_before_its_read)
{
    fronted_cache cache(10, 2, cache_fronts::per_thread);
    cache.put("a", text("1"));
    for (int i = 0; i < 3; ++i) // the first read fills the front; the others are answered from it
        EXPECT_EQ(**cache.get("a"), "1");
    cache.put("a", text("2"));
    EXPECT_EQ(**cache.get("a"), "2");
    cache.put("b", text("x")); // a write of another key leaves the answer the same
    EXPECT_EQ(**cache.get("a"), "2");
    cache.erase("a");
    EXPECT_FALSE(cache.get("a"));
    cache.put("a", text("3"));
    EXPECT_EQ(**cache.get("a"), "3");
    cache.clear();
    EXPECT_FALSE(cache.get("a"));
}

TEST(bounded_cache_front, a_value_read_again_and_again_is_the_threads_own_copy)
{
    fronted_cache cache(10, 2, cache_fronts::per_thread);
    auto shared = text("value");
    cache.put("k", shared);
    EXPECT_EQ(cache.get("k")->get(), shared.get()); // first read: the shared value…
    EXPECT_EQ(cache.get("k")->get(), shared.get()); // …and the second, which takes it into the front
    auto again = *cache.get("k");
    EXPECT_NE(again.get(), shared.get()); // then a copy of this thread's own…
    EXPECT_EQ(*again, "value");
    EXPECT_EQ(cache.get("k")->get(), again.get()); // …kept while nothing is written
    std::thread([&] { EXPECT_EQ(cache.get("k")->get(), shared.get()); }).join(); // another thread's front is its own
}

// Keys that take turns in one slot of the front stay out of it: each read is
// the shared value, and a key the front holds is not pushed out by them.
TEST(bounded_cache_front, keys_read_once_in_a_while_do_not_enter_the_front)
{
    fronted_cache cache(1000, 4, cache_fronts::per_thread);
    auto hot = text("hot");
    cache.put("hot", hot);
    std::vector<std::shared_ptr<const std::string>> cold;
    for (int i = 0; i < 200; ++i) {
        cold.push_back(text("cold-" + std::to_string(i)));
        cache.put("cold-" + std::to_string(i), cold.back());
    }
    for (int i = 0; i < 3; ++i)
        cache.get("hot");
    auto own = *cache.get("hot");
    ASSERT_NE(own.get(), hot.get()); // in the front
    for (int round = 0; round < 2; ++round)
        for (int i = 0; i < 200; ++i)
            EXPECT_EQ(cache.get("cold-" + std::to_string(i))->get(), cold[static_cast<std::size_t>(i)].get());
    EXPECT_EQ(cache.get("hot")->get(), own.get());
}

TEST(bounded_cache_front, front_hits_are_counted_and_peeks_are_not)
{
    fronted_cache cache(10, 2, cache_fronts::per_thread);
    cache.put("a", text("1"));
    for (int i = 0; i < 5; ++i)
        cache.get("a");
    cache.peek("a");
    cache.get("missing");
    EXPECT_EQ(cache.hits(), 5u);
    EXPECT_EQ(cache.misses(), 1u);
}

TEST(bounded_cache_front, caches_of_one_type_keep_their_entries_apart)
{
    fronted_cache one(10, 1, cache_fronts::per_thread);
    fronted_cache two(10, 1, cache_fronts::per_thread);
    one.put("k", text("one"));
    two.put("k", text("two"));
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(**one.get("k"), "one");
        EXPECT_EQ(**two.get("k"), "two");
    }
    {
        fronted_cache gone(10, 1, cache_fronts::per_thread);
        gone.put("k", text("gone"));
        for (int i = 0; i < 3; ++i)
            gone.get("k");
    }
    fronted_cache next(10, 1, cache_fronts::per_thread); // may sit where `gone` was
    EXPECT_FALSE(next.get("k"));
}

// A reader that saw a write's completion never reads an older value, on
// every thread, while a writer keeps writing.
TEST(bounded_cache_front, no_thread_reads_a_value_older_than_a_write_it_saw_complete)
{
    bounded_cache<int, std::shared_ptr<const int>> cache(100, 4, cache_fronts::per_thread);
    std::atomic<int> written{0};
    cache.put(1, std::make_shared<const int>(0));
    std::atomic<bool> stale{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
        readers.emplace_back([&] {
            while (written.load(std::memory_order_acquire) < 2000) {
                int seen = written.load(std::memory_order_acquire);
                auto v = cache.get(1);
                if (!v || !*v || **v < seen)
                    stale = true;
                cache.get(2 + seen % 5); // other keys, some missing, share the front
            }
        });
    }
    for (int i = 1; i <= 2000; ++i) {
        cache.put(1, std::make_shared<const int>(i));
        if (i % 3 == 0)
            cache.put(2 + i % 5, std::make_shared<const int>(i));
        written.store(i, std::memory_order_release);
    }
    for (auto& r : readers)
        r.join();
    EXPECT_FALSE(stale);
}

} // namespace
} // namespace callgate::engine
