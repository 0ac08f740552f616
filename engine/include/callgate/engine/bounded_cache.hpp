#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace callgate::engine {

// A bounded, sharded key → value cache with CLOCK eviction, safe from any thread.
//
// It holds at most `capacity` entries whatever is stored behind it. It is
// write-through friendly: writers call put()/erase() after the store commits,
// and readers that missed fill it with fill(), passing the ticket they took
// before reading the store; a fill whose shard saw a write since the ticket is
// dropped, so a slow reader can never put back a value older than a write.
template <class Key, class Value, class Hash = std::hash<Key>>
class bounded_cache {
public:
    explicit bounded_cache(std::size_t capacity, std::size_t shard_count = 64)
    {
        capacity = std::max<std::size_t>(capacity, 1);
        shard_count = std::clamp<std::size_t>(shard_count, 1, capacity);
        std::size_t per_shard = (capacity + shard_count - 1) / shard_count;
        shards_ = std::vector<shard>(shard_count);
        for (auto& s : shards_) {
            s.slots.reserve(std::min<std::size_t>(per_shard, 1024));
            s.limit = per_shard;
            s.index.reserve(std::min<std::size_t>(per_shard, 1024));
        }
        capacity_ = per_shard * shard_count;
    }

    // The cached value, or nullopt on a miss. Counts hits and misses.
    std::optional<Value> get(const Key& key)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        auto it = s.index.find(key);
        if (it == s.index.end()) {
            count(s.misses);
            return std::nullopt;
        }
        count(s.hits);
        auto& slot = s.slots[it->second];
        slot.referenced = true;
        return slot.value;
    }

    // Like get(), but not counted as a hit or miss (for a second look after a counted miss).
    std::optional<Value> peek(const Key& key)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        auto it = s.index.find(key);
        if (it == s.index.end())
            return std::nullopt;
        return s.slots[it->second].value;
    }

    // Taken before reading the backing store on a miss; passed to fill().
    std::uint64_t ticket(const Key& key)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        return s.epoch;
    }

    // Inserts a value read from the store, unless a write reached the shard since `ticket`.
    void fill(const Key& key, Value value, std::uint64_t ticket)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        if (s.epoch != ticket)
            return;
        insert_locked(s, key, std::move(value));
    }

    // Write-through: replaces the entry (or inserts it) after a committed write.
    void put(const Key& key, Value value)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        ++s.epoch;
        insert_locked(s, key, std::move(value));
    }

    // Drops the entry after a committed write; the next reader loads it from the store.
    void erase(const Key& key)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        ++s.epoch;
        auto it = s.index.find(key);
        if (it == s.index.end())
            return;
        std::size_t pos = it->second;
        s.index.erase(it);
        s.slots[pos].used = false;
        s.slots[pos].value = Value{};
        s.free.push_back(pos);
        size_.fetch_sub(1, std::memory_order_relaxed);
    }

    // Drops every entry (a reload replaced what is behind the cache); fills
    // that took their ticket before are dropped too.
    void clear()
    {
        for (auto& s : shards_) {
            std::lock_guard lock(s.mutex);
            ++s.epoch;
            std::size_t dropped = s.index.size();
            s.index.clear();
            s.slots.clear();
            s.free.clear();
            s.hand = 0;
            size_.fetch_sub(dropped, std::memory_order_relaxed);
        }
    }

    std::size_t size() const { return size_.load(std::memory_order_relaxed); }
    std::size_t capacity() const { return capacity_; }
    std::uint64_t hits() const { return total(&shard::hits); }
    std::uint64_t misses() const { return total(&shard::misses); }

private:
    struct slot {
        Key key{};
        Value value{};
        bool referenced = false;
        bool used = false;
    };
    // A cache line of its own: two threads on two shards share nothing.
    struct alignas(64) shard {
        std::mutex mutex;
        // Counted under `mutex` (see count()); read without it.
        std::atomic<std::uint64_t> hits{0};
        std::atomic<std::uint64_t> misses{0};
        std::unordered_map<Key, std::size_t, Hash> index;
        std::vector<slot> slots;
        std::vector<std::size_t> free;
        std::size_t hand = 0;
        std::size_t limit = 0;
        std::uint64_t epoch = 0;
    };

    // One more, by the thread holding the shard's mutex: a plain load and
    // store on a line it owns already, not a locked add on a line every
    // reading thread would pull to its core.
    static void count(std::atomic<std::uint64_t>& counter)
    {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    std::uint64_t total(std::atomic<std::uint64_t> shard::*counter) const
    {
        std::uint64_t sum = 0;
        for (const auto& s : shards_)
            sum += (s.*counter).load(std::memory_order_relaxed);
        return sum;
    }

    shard& shard_for(const Key& key)
    {
        std::size_t h = Hash{}(key);
        h ^= h >> 29;
        return shards_[h % shards_.size()];
    }

    void insert_locked(shard& s, const Key& key, Value value)
    {
        auto it = s.index.find(key);
        if (it != s.index.end()) {
            auto& existing = s.slots[it->second];
            existing.value = std::move(value);
            existing.referenced = true;
            return;
        }
        std::size_t pos;
        if (!s.free.empty()) {
            pos = s.free.back();
            s.free.pop_back();
        } else if (s.slots.size() < s.limit) {
            pos = s.slots.size();
            s.slots.emplace_back();
        } else {
            pos = evict_locked(s);
        }
        auto& target = s.slots[pos];
        target.key = key;
        target.value = std::move(value);
        target.referenced = false;
        target.used = true;
        s.index.emplace(key, pos);
        size_.fetch_add(1, std::memory_order_relaxed);
    }

    // CLOCK: sweep from the hand, clearing reference bits, until an unreferenced slot.
    std::size_t evict_locked(shard& s)
    {
        for (;;) {
            auto& candidate = s.slots[s.hand];
            std::size_t pos = s.hand;
            s.hand = (s.hand + 1) % s.slots.size();
            if (!candidate.used)
                continue;
            if (candidate.referenced) {
                candidate.referenced = false;
                continue;
            }
            s.index.erase(candidate.key);
            candidate.used = false;
            candidate.value = Value{};
            size_.fetch_sub(1, std::memory_order_relaxed);
            return pos;
        }
    }

    std::vector<shard> shards_;
    std::size_t capacity_ = 0;
    std::atomic<std::size_t> size_{0};
};

} // namespace callgate::engine
