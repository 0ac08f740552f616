#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::engine {

// A monotonically increasing count; lock-free, any thread.
class counter {
public:
    void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

// A Prometheus histogram of seconds with fixed bucket bounds; lock-free, any thread.
class histogram {
public:
    // Bounds in seconds, ascending; +Inf is implicit.
    explicit histogram(std::vector<double> bounds);

    void observe(double seconds);
    // Appends the _bucket, _sum and _count series; `labels` is "" or `a="b",c="d"`.
    void render(std::string& out, std::string_view name, std::string_view labels) const;
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

    // Buckets from 50 µs to 10 s, for request and write latencies.
    static std::vector<double> latency_bounds();

private:
    std::vector<double> bounds_;
    std::vector<std::atomic<std::uint64_t>> buckets_;
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
};

// Appends "# HELP" and "# TYPE" lines.
void render_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help);
// Appends one sample line: name{labels} value.
void render_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value);

} // namespace callgate::engine
