#include "callgate/engine/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace callgate::engine {
namespace {

constexpr metric_family requests{"test_requests_total", metric_type::counter, "Requests, by route."};
constexpr metric_family durations{"test_duration_seconds", metric_type::histogram, "Durations."};

TEST(metrics_writer, writes_help_type_and_samples_leaving_out_empty_labels)
{
    std::string text;
    metrics_writer out(text);
    out.family(requests)
        .sample(std::uint64_t{3}, {{"route", "/a"}, {"reason", ""}})
        .sample(std::uint64_t{0}, {{"reason", ""}})
        .sample(0.25, {{"route", "q\"uo\\te\nline"}});
    EXPECT_EQ(text, "# HELP test_requests_total Requests, by route.\n"
                    "# TYPE test_requests_total counter\n"
                    "test_requests_total{route=\"/a\"} 3\n"
                    "test_requests_total 0\n"
                    "test_requests_total{route=\"q\\\"uo\\\\te\\nline\"} 0.25\n");
}

TEST(metrics_writer, writes_one_histogram_child_cumulatively)
{
    histogram h({0.001, 0.01}, 2);
    h.observe(0.0005, 1);
    h.observe(0.001, 1); // a bound is inclusive (le)
    h.observe(0.5, 1);
    h.observe(0.002, 0);
    std::string text;
    metrics_writer(text).family(durations).histogram_sample(h, 1, {{"source", "config"}});
    EXPECT_EQ(text, "# HELP test_duration_seconds Durations.\n"
                    "# TYPE test_duration_seconds histogram\n"
                    "test_duration_seconds_bucket{source=\"config\",le=\"0.001\"} 2\n"
                    "test_duration_seconds_bucket{source=\"config\",le=\"0.01\"} 2\n"
                    "test_duration_seconds_bucket{source=\"config\",le=\"+Inf\"} 3\n"
                    "test_duration_seconds_sum{source=\"config\"} 0.5015\n"
                    "test_duration_seconds_count{source=\"config\"} 3\n");
    EXPECT_EQ(h.count(0), 1u);
    EXPECT_EQ(h.count(1), 3u);
}

TEST(histogram, bounds_up_to_steps_1_2_5_and_ends_at_the_limit)
{
    EXPECT_EQ(histogram::bounds_up_to(1e-6, 1.5),
              (std::vector<double>{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
                                   0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5}));
    EXPECT_EQ(histogram::bounds_up_to(1e-5, 10),
              (std::vector<double>{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1,
                                   0.25, 0.5, 1, 2.5, 5, 10}));
}

} // namespace
} // namespace callgate::engine

namespace callgate::engine {
namespace {

// Counters and histograms keep a stripe per group of threads: what every
// thread added is in the total, whichever stripes the threads took.
TEST(metrics, counts_from_many_threads_at_once_all_add_up)
{
    counter calls;
    counter_array codes(600);
    histogram took({0.001, 0.01}, 2);
    constexpr int threads = 12, each = 5000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < each; ++i) {
                calls.inc();
                codes.add(200, 1);
                codes.add(599, 2);
                took.observe(i % 2 == 0 ? 0.0005 : 0.5, static_cast<std::size_t>(t % 2));
            }
        });
    for (auto& w : workers)
        w.join();
    EXPECT_EQ(calls.value(), std::uint64_t{threads} * each);
    EXPECT_EQ(codes.value(200), std::uint64_t{threads} * each);
    EXPECT_EQ(codes.value(599), std::uint64_t{threads} * each * 2);
    EXPECT_EQ(codes.value(0), 0u);
    for (std::size_t child = 0; child < 2; ++child) {
        EXPECT_EQ(took.count(child), std::uint64_t{threads / 2} * each);
        EXPECT_EQ(took.bucket(child, 0), std::uint64_t{threads / 2} * each / 2);
        EXPECT_EQ(took.bucket(child, 1), 0u);
        EXPECT_EQ(took.bucket(child, 2), std::uint64_t{threads / 2} * each / 2);
        EXPECT_NEAR(took.sum(child), (threads / 2) * (each / 2) * (0.0005 + 0.5), 1e-3);
    }
}

} // namespace
} // namespace callgate::engine
