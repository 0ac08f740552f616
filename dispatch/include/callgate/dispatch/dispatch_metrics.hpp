#pragma once

#include "callgate/dispatch/outcome.hpp"
#include "callgate/engine/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <string>

namespace callgate::dispatch {

enum class webhook_result : std::size_t {
    answer, reject, timeout, error, blocked, circuit_open, overloaded, count_
};
std::string_view to_string(webhook_result r);

// The sources a decision's record names (outcome_labels::source), in the
// order of decision_duration's children.
inline constexpr std::array<std::string_view, 4> decision_sources{"config", "webhook", "engine", "fallback"};

// Counters and histograms of decisions and webhooks; lock-free, any thread.
struct dispatch_metrics {
    // Both duration histograms have buckets from 1 µs up to `webhook_budget`.
    explicit dispatch_metrics(std::chrono::milliseconds webhook_budget);

    std::array<engine::counter, static_cast<std::size_t>(outcome::count_)> decisions;
    engine::histogram decision_duration; // one child per decision_sources entry
    std::array<engine::counter, static_cast<std::size_t>(webhook_result::count_)> webhooks;
    engine::histogram webhook_duration; // one child per webhook_result

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
    // The time a decision that ended as `o` took, under its source.
    void observe(outcome o, std::chrono::duration<double> took);
    // A webhook request that ended as `r` after `took`.
    void count(webhook_result r, std::chrono::duration<double> took);
    std::uint64_t decisions_with(outcome o) const { return decisions[static_cast<std::size_t>(o)].value(); }

    // Appends the callgate_decision*, callgate_webhook_*, media and bridge
    // series. A labelled histogram's child appears once it has an observation.
    void render(engine::metrics_writer& out) const;
};

} // namespace callgate::dispatch
