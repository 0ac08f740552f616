#pragma once

#include "callgate/dispatch/outcome.hpp"
#include "callgate/engine/metrics.hpp"

#include <array>
#include <atomic>
#include <string>

namespace callgate::dispatch {

enum class webhook_result : std::size_t {
    answer, reject, timeout, error, blocked, circuit_open, overloaded, count_
};
std::string_view to_string(webhook_result r);

// Counters and histograms of decisions and webhooks; lock-free, any thread.
struct dispatch_metrics {
    std::array<engine::counter, static_cast<std::size_t>(outcome::count_)> decisions;
    engine::histogram decision_duration{engine::histogram::latency_bounds()};
    std::array<engine::counter, static_cast<std::size_t>(webhook_result::count_)> webhooks;
    engine::histogram webhook_duration{engine::histogram::latency_bounds()};

    // Media of bridged calls; index 0 is edge_to_client, 1 client_to_edge.
    std::atomic<std::int64_t> bridged_calls_active{0};
    std::array<engine::counter, 2> media_frames;
    std::array<engine::counter, 2> media_frames_dropped;

    void count(outcome o) { decisions[static_cast<std::size_t>(o)].inc(); }
    void count(webhook_result r) { webhooks[static_cast<std::size_t>(r)].inc(); }
    std::uint64_t decisions_with(outcome o) const { return decisions[static_cast<std::size_t>(o)].value(); }

    // Appends the callgate_decisions_*, callgate_webhook_* series.
    void render(std::string& out) const;
};

} // namespace callgate::dispatch
