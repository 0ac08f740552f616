#include "report.hpp"

#include "histogram.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace callgate::load {
namespace {

std::vector<std::string> labels(double lo, double hi)
{
    auto ticks = nice_ticks(lo, hi);
    std::vector<std::string> out;
    for (double t : ticks)
        out.push_back(tick_label(t, ticks[1] - ticks[0]));
    return out;
}

TEST(load_report, axis_ticks_are_round_1_2_5_steps_without_exponents)
{
    using v = std::vector<std::string>;
    EXPECT_EQ(labels(0, 0.484), (v{"0", "0.1", "0.2", "0.3", "0.4", "0.5"}));
    EXPECT_EQ(labels(0, 1100), (v{"0", "500", "1000", "1500"}));
    EXPECT_EQ(labels(0, 0.0123), (v{"0", "0.005", "0.010", "0.015"}));
    EXPECT_EQ(labels(0, 7.5), (v{"0", "2", "4", "6", "8"}));
    EXPECT_EQ(labels(0, 20000), (v{"0", "5000", "10000", "15000", "20000"}));
    EXPECT_EQ(labels(0, 0), (v{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
    EXPECT_EQ(labels(0, 10.02), (v{"0", "5", "10"})); // a 10 s run's time axis
    EXPECT_EQ(labels(0, 10.2), (v{"0", "5", "10", "15"}));
    const std::regex round(R"(^(1|2|5)(0*)$|^0\.0*(1|2|5)$)");
    for (double hi : {0.00037, 0.0484, 0.9, 1.0, 3.3, 42.0, 999.0, 1.1e3, 87654.0, 2.5e6}) {
        auto ticks = nice_ticks(0, hi);
        ASSERT_GE(ticks.size(), 2u);
        EXPECT_LE(ticks.size(), 7u) << hi;
        EXPECT_GE(ticks.back(), hi - (ticks[1] - ticks[0]) * 0.01) << hi;
        double step = ticks[1] - ticks[0];
        EXPECT_TRUE(std::regex_match(tick_label(step, step), round)) << hi << ": step " << tick_label(step, step);
        for (double t : ticks) {
            auto text = tick_label(t, step);
            EXPECT_EQ(text.find('e'), std::string::npos) << text;
            EXPECT_NEAR(std::stod(text), t, step * 1e-6) << text;
        }
    }
}

TEST(load_report, json_round_trips_and_older_files_still_read)
{
    latency_histogram h;
    for (std::uint64_t us = 1; us <= 10000; ++us)
        h.record(us);
    run_report run;
    run.scenario = "decide";
    run.parameters = "open loop, 400 calls/s, 2 s, 3 identities";
    run.date = "2026-12-01 00:20 UTC";
    run.duration_s = 2.01;
    run.rate = 400;
    run.started = run.completed = 800;
    run.latency = latency_summary::of(h);
    run.outcomes = {{"answer", 799}, {"no_identity", 1}};
    run.p99_ms_over_time = {{1.0, 2.5}, {2.0, 3.25}};
    run.rate_over_time = {{1.0, 400}, {2.0, 400}};
    run.curve_ms = run_report::curve_of(h);
    run_report back;
    std::string error;
    ASSERT_TRUE(from_json(to_json(run), back, error)) << error;
    EXPECT_EQ(back.parameters, run.parameters);
    EXPECT_EQ(back.date, run.date);
    EXPECT_EQ(back.completed, 800u);
    EXPECT_NEAR(back.latency.p99, 9.9, 0.2);
    EXPECT_EQ(back.outcomes, run.outcomes);
    EXPECT_EQ(back.p99_ms_over_time, run.p99_ms_over_time);
    ASSERT_EQ(back.curve_ms.size(), run.curve_ms.size());
    EXPECT_NEAR(back.curve_ms.back().first, 0.9999, 1e-9);

    // A file from before dates and curves: what it has is read.
    ASSERT_TRUE(from_json(R"({"scenario":"bridge","rate":5,"concurrency":5,"completed":5,
        "relay_edge_to_agent":{"count":10,"p50_ms":1.5,"p90_ms":2,"p99_ms":3,"p999_ms":4,"max_ms":5,"mean_ms":1.6},
        "p99_ms_over_time":[[1.0,3.0]]})",
                          back, error))
        << error;
    EXPECT_EQ(back.charted, "relay_edge_to_agent");
    EXPECT_EQ(back.relay_edge_to_agent.p99, 3);
    EXPECT_EQ(back.parameters, "5 calls/s");
    EXPECT_FALSE(from_json("[1,2]", back, error));
    EXPECT_FALSE(from_json("{\"rate\":1}", back, error));
    EXPECT_NE(error.find("scenario"), std::string::npos);
    EXPECT_FALSE(from_json("{", back, error));
}

TEST(load_report, html_marks_percentiles_and_shows_both_runs_with_their_parameters)
{
    latency_histogram h;
    for (std::uint64_t us = 100; us <= 100000; us += 7)
        h.record(us);
    run_report now;
    now.scenario = "decide";
    now.parameters = "open loop, 2000 calls/s, 30 s, 50 identities";
    now.date = "2026-12-01 10:00 UTC";
    now.p99_ms_over_time = {{1.0, 0.484}, {2.0, 1100}};
    now.curve_ms = run_report::curve_of(h);
    run_report before = now;
    before.parameters = "open loop, 1000 calls/s, 30 s, 50 identities";
    before.date = "2026-11-30 09:00 UTC";
    auto html = to_html(now, &before);
    for (const char* mark : {">p50<", ">p90<", ">p99<", ">p99.9<", ">p99.99<"})
        EXPECT_NE(html.find(mark), std::string::npos) << mark;
    EXPECT_NE(html.find("this run: decide, open loop, 2000 calls/s, 30 s, 50 identities, 2026-12-01 10:00 UTC"),
              std::string::npos);
    EXPECT_NE(html.find("compared with: decide, open loop, 1000 calls/s"), std::string::npos);
    EXPECT_NE(html.find("stroke-dasharray"), std::string::npos) << "the earlier run is dashed";
    std::smatch m;
    std::string rest = html;
    const std::regex tick("class='tick'>([^<]*)<");
    while (std::regex_search(rest, m, tick)) {
        EXPECT_EQ(m[1].str().find('e'), std::string::npos) << m[1];
        EXPECT_FALSE(m[1].str() == "0.484") << "a data value as a tick";
        rest = m.suffix();
    }
    EXPECT_EQ(to_html(now, nullptr).find("compared with"), std::string::npos);
}

} // namespace
} // namespace callgate::load
