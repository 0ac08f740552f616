#pragma once

// Counts that several threads add to at once. Threads adding to one atomic
// pass its cache line from core to core at every update (on a 2-core VM a
// decision's few metric updates measured ~5 % of its CPU), so the counts keep
// a stripe per group of threads, each stripe on cache lines of its own, and
// are summed when read. A thread takes the next stripe when it first counts.
// Shared by engine/ (metrics) and net/ (responses by status).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace callgate::codec {

inline constexpr std::size_t count_stripes = 8;

// This thread's stripe, in [0, count_stripes).
inline std::size_t this_thread_stripe()
{
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % count_stripes;
    return stripe;
}

// Eight counts on a cache line of their own.
struct alignas(64) count_line {
    std::atomic<std::uint64_t> values[8]{};
};

// `size` counts that only grow; lock-free, any thread.
class striped_counts {
public:
    explicit striped_counts(std::size_t size)
        : lines_per_stripe_((size + 7) / 8), lines_(lines_per_stripe_ * count_stripes)
    {
    }
    void add(std::size_t i, std::uint64_t n)
    {
        slot(this_thread_stripe(), i).fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t value(std::size_t i) const
    {
        std::uint64_t total = 0;
        for (std::size_t s = 0; s < count_stripes; ++s)
            total += slot(s, i).load(std::memory_order_relaxed);
        return total;
    }

private:
    std::atomic<std::uint64_t>& slot(std::size_t stripe, std::size_t i) const
    {
        return lines_[stripe * lines_per_stripe_ + i / 8].values[i % 8];
    }

    std::size_t lines_per_stripe_;
    mutable std::vector<count_line> lines_;
};

} // namespace callgate::codec
