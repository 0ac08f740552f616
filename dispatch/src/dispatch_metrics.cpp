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

namespace {

using engine::metric_type;

// Every family this file renders, with its help text.
namespace family {
constexpr engine::metric_family decisions_total{"callgate_decisions_total", metric_type::counter,
                                                "Call decisions, by action, source and reason (a direct answer has none)."};
constexpr engine::metric_family decision_duration_seconds{
    "callgate_decision_duration_seconds", metric_type::histogram,
    "Time from an edge's request to its decision, by the decision's source."};
constexpr engine::metric_family webhook_requests_total{"callgate_webhook_requests_total", metric_type::counter,
                                                       "Webhook requests, by outcome."};
constexpr engine::metric_family webhook_duration_seconds{
    "callgate_webhook_duration_seconds", metric_type::histogram,
    "Time from sending a webhook to its reply or failure, by outcome."};
constexpr engine::metric_family bridged_calls_active{"callgate_bridged_calls_active", metric_type::gauge,
                                                     "Calls being bridged now."};
constexpr engine::metric_family media_frames_total{"callgate_media_frames_total", metric_type::counter,
                                                   "Media and control frames relayed."};
constexpr engine::metric_family media_frames_dropped_total{
    "callgate_media_frames_dropped_total", metric_type::counter,
    "Media frames dropped because the reader was slower than real time."};
constexpr engine::metric_family bridge_events_dropped_total{
    "callgate_bridge_events_dropped_total", metric_type::counter,
    "Unknown events dropped because a bridged call's relay queue was at its byte bound."};
constexpr engine::metric_family bridge_floods_total{
    "callgate_bridge_floods_total", metric_type::counter,
    "Bridged calls ended (peer_flood) because control frames would pass the relay queue's byte bound."};
constexpr engine::metric_family bridge_queue_peak_bytes{
    "callgate_bridge_queue_peak_bytes", metric_type::gauge,
    "The most bytes any bridged call's relay queue has held since start."};
} // namespace family

constexpr std::array<std::string_view, 2> directions{"edge_to_client", "client_to_edge"};

constexpr std::size_t source_index(outcome o)
{
    auto source = labels_of(o).source;
    for (std::size_t i = 0; i < decision_sources.size(); ++i)
        if (decision_sources[i] == source)
            return i;
    return 0;
}

// Every outcome's source is one of decision_sources.
static_assert([] {
    for (std::size_t i = 0; i < static_cast<std::size_t>(outcome::count_); ++i)
        if (decision_sources[source_index(static_cast<outcome>(i))] != labels_of(static_cast<outcome>(i)).source)
            return false;
    return true;
}());

} // namespace

dispatch_metrics::dispatch_metrics(std::chrono::milliseconds webhook_budget)
    : decision_duration(engine::histogram::bounds_up_to(1e-6, std::chrono::duration<double>(webhook_budget).count()),
                        decision_sources.size()),
      webhook_duration(decision_duration.bounds(), static_cast<std::size_t>(webhook_result::count_))
{
}

void dispatch_metrics::observe(outcome o, std::chrono::duration<double> took)
{
    decision_duration.observe(took.count(), source_index(o));
}

void dispatch_metrics::count(webhook_result r, std::chrono::duration<double> took)
{
    webhooks[static_cast<std::size_t>(r)].inc();
    webhook_duration.observe(took.count(), static_cast<std::size_t>(r));
}

void dispatch_metrics::render(engine::metrics_writer& out) const
{
    out.family(family::decisions_total);
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        auto l = labels_of(static_cast<outcome>(i));
        out.sample(decisions[i].value(), {{"action", l.action}, {"source", l.source}, {"reason", l.reason}});
    }
    out.family(family::decision_duration_seconds);
    for (std::size_t i = 0; i < decision_sources.size(); ++i)
        if (decision_duration.count(i) > 0)
            out.histogram_sample(decision_duration, i, {{"source", decision_sources[i]}});
    out.family(family::webhook_requests_total);
    for (std::size_t i = 0; i < webhooks.size(); ++i)
        out.sample(webhooks[i].value(), {{"outcome", to_string(static_cast<webhook_result>(i))}});
    out.family(family::webhook_duration_seconds);
    for (std::size_t i = 0; i < webhooks.size(); ++i)
        if (webhook_duration.count(i) > 0)
            out.histogram_sample(webhook_duration, i, {{"outcome", to_string(static_cast<webhook_result>(i))}});
    out.family(family::bridged_calls_active)
        .sample(static_cast<std::uint64_t>(std::max<std::int64_t>(0, bridged_calls_active.load())));
    auto by_direction = [&](const engine::metric_family& f, auto value_of) {
        out.family(f);
        for (std::size_t i = 0; i < directions.size(); ++i)
            out.sample(static_cast<std::uint64_t>(value_of(i)), {{"direction", directions[i]}});
    };
    by_direction(family::media_frames_total, [this](std::size_t i) { return media_frames[i].value(); });
    by_direction(family::media_frames_dropped_total, [this](std::size_t i) { return media_frames_dropped[i].value(); });
    by_direction(family::bridge_events_dropped_total, [this](std::size_t i) { return events_dropped[i].value(); });
    by_direction(family::bridge_floods_total, [this](std::size_t i) { return floods[i].value(); });
    by_direction(family::bridge_queue_peak_bytes,
                 [this](std::size_t i) { return queue_peak_bytes[i].load(std::memory_order_relaxed); });
}

} // namespace callgate::dispatch
