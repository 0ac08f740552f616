#pragma once

// A log-linear latency histogram in the spirit of HdrHistogram: every value
// lands in a bucket within about 1.6% of it, from 1 µs to days, in a fixed
// 2,000-odd counters. Not thread-safe (one per thread; merge to combine).

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

namespace callgate::load {

class latency_histogram {
public:
    void record(std::uint64_t micros)
    {
        ++counts_[index_of(micros)];
        ++total_;
        max_ = std::max(max_, micros);
        sum_ += micros;
    }
    void merge(const latency_histogram& other)
    {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            counts_[i] += other.counts_[i];
        total_ += other.total_;
        max_ = std::max(max_, other.max_);
        sum_ += other.sum_;
    }
    // The value at quantile q (0..1), in µs; 0 when empty.
    std::uint64_t percentile(double q) const
    {
        if (total_ == 0)
            return 0;
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank)
                return std::min(value_of(i), max_);
        }
        return max_;
    }
    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return max_; }
    double mean() const { return total_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(total_); }
    void reset() { *this = latency_histogram{}; }

private:
    static constexpr int sub_bits = 6; // 64 sub-buckets per power of two
    static std::size_t index_of(std::uint64_t v)
    {
        if (v < (1u << sub_bits))
            return static_cast<std::size_t>(v);
        int e = 63 - std::countl_zero(v);
        std::uint64_t m = (v >> (e - sub_bits)) & ((1u << sub_bits) - 1);
        return static_cast<std::size_t>((e - sub_bits + 1) * (1 << sub_bits) + static_cast<int>(m));
    }
    // The upper edge of a bucket (so percentiles never under-report).
    static std::uint64_t value_of(std::size_t i)
    {
        if (i < (1u << sub_bits))
            return i;
        int e = static_cast<int>(i / (1 << sub_bits)) + sub_bits - 1;
        std::uint64_t m = i % (1 << sub_bits);
        return ((m + (1u << sub_bits)) << (e - sub_bits)) + ((std::uint64_t{1} << (e - sub_bits)) - 1);
    }

    std::array<std::uint64_t, 64 * 40> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};

} // namespace callgate::load
