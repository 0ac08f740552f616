#pragma once

#include "callgate/codec/striped_counts.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace callgate::engine {

// Whether a bounded_cache keeps a front per thread (see below).
enum class cache_fronts { none, per_thread };

// A bounded, sharded key → value cache with CLOCK eviction, safe from any thread.
//
// It holds at most `capacity` entries whatever is stored behind it. It is
// write-through friendly: writers call put()/erase() after the store commits,
// and readers that missed fill it with fill(), passing the ticket they took
// before reading the store; a fill whose shard saw a write since the ticket is
// dropped, so a slow reader can never put back a value older than a write.
//
// With cache_fronts::per_thread, each thread also keeps a front: a few
// entries it reads again and again (per cache type, a small direct-mapped
// table), valid while the cache's generation -- advanced by every put, erase
// and clear -- is the one it read them under. A read the front answers takes
// no lock and writes no line another thread reads, and the entry it hands
// out is the thread's own copy (see own_copy), so its reference count stays
// on the thread's core too. A key enters the front when it misses there twice
// in a row: a key read once in a while (many identities, each called now and
// then) costs the front no copies and pushes nothing out. Meant for caches
// read on every request and written seldom: any write empties every
// thread's front for that cache.
template <class Key, class Value, class Hash = std::hash<Key>>
class bounded_cache {
public:
    explicit bounded_cache(std::size_t capacity, std::size_t shard_count = 64, cache_fronts fronts = cache_fronts::none)
        : fronted_(fronts == cache_fronts::per_thread)
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
    std::optional<Value> get(const Key& key) { return lookup(key, true); }

    // Like get(), but not counted as a hit or miss (for a second look after a counted miss).
    std::optional<Value> peek(const Key& key) { return lookup(key, false); }

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
        advance_generation();
    }

    // Drops the entry after a committed write; the next reader loads it from the store.
    void erase(const Key& key)
    {
        auto& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        ++s.epoch;
        advance_generation();
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
        advance_generation();
    }

    std::size_t size() const { return size_.load(std::memory_order_relaxed); }
    std::size_t capacity() const { return capacity_; }
    std::uint64_t hits() const { return total(&shard::hits) + front_hits_.value(0); }
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

    shard& shard_for(const Key& key) { return shard_for_hash(Hash{}(key)); }
    shard& shard_for_hash(std::size_t h)
    {
        h ^= h >> 29;
        return shards_[h % shards_.size()];
    }

    std::optional<Value> lookup(const Key& key, bool counted)
    {
        std::size_t h = Hash{}(key);
        if (!fronted_)
            return shared_lookup(shard_for_hash(h), key, counted);
        // Read before the shard: a write the shard shows afterwards has
        // advanced it past what the entry is stored under.
        auto generation = generation_.load(std::memory_order_acquire);
        auto& e = front_table()[(h >> 7) % front_size];
        if (e.owner == serial_ && e.generation == generation && e.key == key) {
            if (counted)
                front_hits_.add(0, 1);
            if (!e.own) {
                e.value = own_copy(e.value);
                e.own = true;
            }
            return e.value;
        }
        auto value = shared_lookup(shard_for_hash(h), key, counted);
        if (!value)
            return value;
        // Taken in on its second miss in a row here: a key read once in a
        // while (many identities, each called now and then) costs the front
        // no copies and does not push out one read all the time.
        if (e.candidate != h || e.candidate_owner != serial_) {
            e.candidate = h;
            e.candidate_owner = serial_;
            return value;
        }
        e.owner = serial_;
        e.generation = generation;
        e.key = key;
        e.value = *value;
        e.own = false;
        return value;
    }

    std::optional<Value> shared_lookup(shard& s, const Key& key, bool counted)
    {
        std::lock_guard lock(s.mutex);
        auto it = s.index.find(key);
        if (it == s.index.end()) {
            if (counted)
                count(s.misses);
            return std::nullopt;
        }
        auto& slot = s.slots[it->second];
        if (counted) {
            count(s.hits);
            slot.referenced = true;
        }
        return slot.value;
    }

    // After a write is in its shard (under the shard's mutex).
    void advance_generation()
    {
        if (fronted_)
            generation_.fetch_add(1, std::memory_order_release);
    }

    // A value of this thread's own: a shared pointer's object is copied.
    template <class T>
    static std::shared_ptr<const T> own_copy(const std::shared_ptr<const T>& v)
    {
        return v ? std::make_shared<const T>(*v) : nullptr;
    }
    template <class T>
    static T own_copy(const T& v)
    {
        return v;
    }

    static constexpr std::size_t front_size = 16;
    struct front_entry {
        std::uint64_t owner = 0; // the cache's serial_; 0: empty
        std::uint64_t generation = 0;
        Key key{};
        Value value{};
        bool own = false; // value is own_copy()'s
        // The key hash (and cache) of the last lookup that missed here.
        std::size_t candidate = 0;
        std::uint64_t candidate_owner = 0;
    };
    // This thread's front, shared by the caches of this type (an entry is
    // its cache's by serial_, never reused, so a new cache at a dead one's
    // address does not find its entries).
    static std::array<front_entry, front_size>& front_table()
    {
        thread_local std::array<front_entry, front_size> table;
        return table;
    }
    static std::uint64_t next_serial()
    {
        static std::atomic<std::uint64_t> next{1};
        return next.fetch_add(1, std::memory_order_relaxed);
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
    bool fronted_ = false;
    std::uint64_t serial_ = next_serial();
    std::atomic<std::uint64_t> generation_{0};
    codec::striped_counts front_hits_{1};
};

} // namespace callgate::engine
