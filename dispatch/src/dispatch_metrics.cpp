#include "callgate/dispatch/dispatch_metrics.hpp"

#include <algorithm>

namespace callgate::dispatch {

std::string_view to_string(webhook_result r)
{
    switch (r) {
    case webhook_result::answer: return "answer";
    case webhook_result::reject: return "reject";
    case webhook_result::timeout: return "timeout";
    case webhook_result::error: return "error";
    case webhook_result::blocked: return "blocked";
    case webhook_result::circuit_open: return "circuit_open";
    case webhook_result::overloaded: return "overloaded";
    case webhook_result::count_: break;
    }
    return "error";
}

void dispatch_metrics::render(std::string& out) const
{
    engine::render_header(out, "callgate_decisions_total", "counter", "Call decisions, by action, source and reason.");
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        auto l = labels_of(static_cast<outcome>(i));
        std::string labels = "action=\"" + std::string(l.action) + "\",source=\"" + std::string(l.source) +
                             "\",reason=\"" + std::string(l.reason) + "\"";
        engine::render_sample(out, "callgate_decisions_total", labels, decisions[i].value());
    }
    engine::render_header(out, "callgate_decision_duration_seconds", "histogram",
                          "Time from an edge's request to its decision.");
    decision_duration.render(out, "callgate_decision_duration_seconds", "");
    engine::render_header(out, "callgate_webhook_requests_total", "counter", "Webhook requests, by outcome.");
    for (std::size_t i = 0; i < webhooks.size(); ++i)
        engine::render_sample(out, "callgate_webhook_requests_total",
                              "outcome=\"" + std::string(to_string(static_cast<webhook_result>(i))) + "\"",
                              webhooks[i].value());
    engine::render_header(out, "callgate_webhook_duration_seconds", "histogram",
                          "Time from sending a webhook to its reply or failure.");
    webhook_duration.render(out, "callgate_webhook_duration_seconds", "");
    engine::render_header(out, "callgate_bridged_calls_active", "gauge", "Calls being bridged now.");
    engine::render_sample(out, "callgate_bridged_calls_active", "",
                          static_cast<std::uint64_t>(std::max<std::int64_t>(0, bridged_calls_active.load())));
    const char* directions[] = {"edge_to_client", "client_to_edge"};
    engine::render_header(out, "callgate_media_frames_total", "counter", "Media and control frames relayed.");
    for (int i = 0; i < 2; ++i)
        engine::render_sample(out, "callgate_media_frames_total", std::string("direction=\"") + directions[i] + "\"",
                              media_frames[i].value());
    engine::render_header(out, "callgate_media_frames_dropped_total", "counter",
                          "Media frames dropped because the reader was slower than real time.");
    for (int i = 0; i < 2; ++i)
        engine::render_sample(out, "callgate_media_frames_dropped_total",
                              std::string("direction=\"") + directions[i] + "\"", media_frames_dropped[i].value());
    engine::render_header(out, "callgate_bridge_events_dropped_total", "counter",
                          "Unknown events dropped because a bridged call's relay queue was at its byte bound.");
    for (int i = 0; i < 2; ++i)
        engine::render_sample(out, "callgate_bridge_events_dropped_total",
                              std::string("direction=\"") + directions[i] + "\"", events_dropped[i].value());
    engine::render_header(out, "callgate_bridge_floods_total", "counter",
                          "Bridged calls ended (peer_flood) because control frames would pass the relay queue's byte bound.");
    for (int i = 0; i < 2; ++i)
        engine::render_sample(out, "callgate_bridge_floods_total", std::string("direction=\"") + directions[i] + "\"",
                              floods[i].value());
    engine::render_header(out, "callgate_bridge_queue_peak_bytes", "gauge",
                          "The most bytes any bridged call's relay queue has held since start.");
    for (int i = 0; i < 2; ++i)
        engine::render_sample(out, "callgate_bridge_queue_peak_bytes",
                              std::string("direction=\"") + directions[i] + "\"",
                              queue_peak_bytes[i].load(std::memory_order_relaxed));
}

} // namespace callgate::dispatch
