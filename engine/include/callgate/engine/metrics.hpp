#pragma once

#include "callgate/codec/striped_counts.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::engine {

// `size` counts that only grow, striped per group of threads; lock-free, any thread.
using counter_array = codec::striped_counts;

// A monotonically increasing count; lock-free, any thread (striped like
// codec::striped_counts).
class counter {
public:
    void inc(std::uint64_t n = 1) { value_.add(0, n); }
    std::uint64_t value() const { return value_.value(0); }

private:
    codec::striped_counts value_{1};
};

// Prometheus histograms of seconds with fixed bucket bounds: `children` of
// them sharing the bounds, one per value of a label (child 0 when there is no
// label). Lock-free, any thread (striped like codec::striped_counts).
class histogram {
public:
    // Bounds in seconds, ascending; +Inf is implicit.
    explicit histogram(std::vector<double> bounds, std::size_t children = 1);

    void observe(double seconds, std::size_t child = 0);
    std::uint64_t count(std::size_t child = 0) const { return values_.value(count_at(child)); }
    std::size_t children() const { return children_; }
    const std::vector<double>& bounds() const { return bounds_; }
    // Observations of `child` over bounds()[i - 1] and at or under bounds()[i]
    // (i == bounds().size(): over the last bound).
    std::uint64_t bucket(std::size_t child, std::size_t i) const;
    double sum(std::size_t child) const;

    // Buckets from 50 µs to 10 s, for request and write latencies.
    static std::vector<double> latency_bounds();
    // 1, 2.5, 5 steps from `from` while under `to`, then `to` itself: from
    // 1 µs to a webhook budget, say, so both cache hits (µs) and webhook
    // round trips (ms) land in buckets of their own size.
    static std::vector<double> bounds_up_to(double from, double to);

private:
    // values_: children × (bounds + 1) buckets (not cumulative), then a count
    // and a sum (in ns) per child.
    std::size_t count_at(std::size_t child) const { return children_ * (bounds_.size() + 1) + child; }
    std::size_t sum_at(std::size_t child) const { return children_ * (bounds_.size() + 2) + child; }

    std::vector<double> bounds_;
    std::size_t children_;
    counter_array values_;
};

enum class metric_type { counter, gauge, histogram };

// A metric's name, type and help text: declared once, as a constant beside
// the code that counts it.
struct metric_family {
    std::string_view name;
    metric_type type;
    std::string_view help;
};

// A label and its value. A label whose value is "" is left out of the sample.
using metric_label = std::pair<std::string_view, std::string_view>;

// Writes the Prometheus text exposition format (version 0.0.4) into `out`:
// a family's HELP and TYPE lines, then its samples. Label values are escaped.
class metrics_writer {
public:
    explicit metrics_writer(std::string& out) : out_(out) {}

    // Starts a family: the samples written next belong to it.
    metrics_writer& family(const metric_family& f);
    metrics_writer& sample(std::uint64_t value, std::initializer_list<metric_label> labels = {});
    metrics_writer& sample(double value, std::initializer_list<metric_label> labels = {});
    // The _bucket, _sum and _count series of one child of `h`.
    metrics_writer& histogram_sample(const histogram& h, std::size_t child = 0,
                                     std::initializer_list<metric_label> labels = {});

private:
    void series(std::string_view suffix, std::initializer_list<metric_label> labels, std::string_view le,
                std::string_view value);

    std::string& out_;
    std::string_view name_;
};

} // namespace callgate::engine
