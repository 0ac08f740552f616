#pragma once

// callgate-load's results: the JSON file (--json) it writes and reads back
// (--compare), and the HTML report (--html) with its SVG charts.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::load {

class latency_histogram;

// One latency histogram's figures, in milliseconds.
struct latency_summary {
    std::uint64_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;

    static latency_summary of(const latency_histogram& h);
};

using points = std::vector<std::pair<double, double>>;

// Everything the report shows of one run.
struct run_report {
    std::string scenario;
    std::string parameters; // the load as given: "open loop, 400 calls/s, 2 s, 3 identities"
    std::string date;       // when the run started, UTC: "2026-12-01 00:20 UTC"
    double duration_s = 0;
    double rate = 0;
    int concurrency = 0;
    std::uint64_t started = 0, completed = 0, errors = 0;
    double error_rate = 0;
    double throughput_per_s = 0;
    latency_summary latency, relay_edge_to_agent, relay_agent_to_edge;
    std::uint64_t frames[2][3] = {}; // [edge_to_agent, agent_to_edge][due, sent, received]
    std::map<std::string, std::uint64_t> outcomes, error_kinds;
    points p99_ms_over_time; // (seconds since start, p99 of that second)
    points rate_over_time;   // (seconds since start, calls completed that second)
    // The percentile chart: which histogram ("latency" or "relay_edge_to_agent")
    // and its curve as (quantile, ms), from 0 to 0.9999.
    std::string charted = "latency";
    points curve_ms;

    // The curve of a histogram at quantiles spaced evenly on the chart's
    // axis (-log10(1 - q)) from 0 to 0.9999.
    static points curve_of(const latency_histogram& h);
};

std::string to_json(const run_report& run);
// Reads what to_json writes (and the files of earlier versions, which lack
// the date, parameters and curve). False with one line in `error`.
bool from_json(std::string_view text, run_report& run, std::string& error);

// A self-contained HTML page: tables and SVG charts of `run`, and of `before`
// (if given) on the same axes, each chart captioned with the runs' scenario,
// parameters and date.
std::string to_html(const run_report& run, const run_report* before);

// Axis ticks: round values (1, 2 or 5 times a power of ten apart) covering
// [lo, hi] with at most `max_ticks` intervals (hi may pass the last tick by
// 1% of a step).
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 5);
// A tick's label: as many decimals as the tick spacing `step` needs, never
// an exponent ("0", "0.05", "250", "20000").
std::string tick_label(double value, double step);

} // namespace callgate::load
