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
    // The relay queues' byte bounds, same index: unknown events dropped because the queue was
    // full, calls ended as peer_flood, and the most bytes any call's queue has held.
    std::array<engine::counter, 2> events_dropped;
    std::array<engine::counter, 2> floods;
    std::array<std::atomic<std::uint64_t>, 2> queue_peak_bytes{};

    // Raises queue_peak_bytes[direction] to `bytes` if that is more. Any thread.
    void raise_queue_peak(std::size_t direction, std::uint64_t bytes)
    {
        auto& peak = queue_peak_bytes[direction];
        auto seen = peak.load(std::memory_order_relaxed);
        while (bytes > seen && !peak.compare_exchange_weak(seen, bytes, std::memory_order_relaxed)) {
        }
    }

    void count(outcome o) { decisions[static_cast<std::size_t>(o)].inc(); }
    void count(webhook_result r) { webhooks[static_cast<std::size_t>(r)].inc(); }
    std::uint64_t decisions_with(outcome o) const { return decisions[static_cast<std::size_t>(o)].value(); }

    // Appends the callgate_decisions_*, callgate_webhook_* series.
    void render(std::string& out) const;
};

} // namespace callgate::dispatch
