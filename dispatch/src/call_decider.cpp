#include "callgate/dispatch/call_decider.hpp"

#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/signatures.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/net/async_glue.hpp"
#include "callgate/net/log.hpp"

#include <algorithm>

namespace callgate::dispatch {

using steady = std::chrono::steady_clock;
using engine::config_errc;

// What a decision has found so far. advance() takes each step from the caches,
// or from a result a store read supplied, and stops at the first it lacks.
struct call_decider::progress {
    steady::time_point started = steady::now();
    call_decision d;
    std::optional<engine::uuid> asked_identity; // the event's agent_identity_id
    std::optional<engine::uuid> identity_id;    // asked, or found by the dialed number
    std::optional<engine::config_result<std::optional<engine::uuid>>> phone;
    std::optional<engine::config_result<engine::snapshot_ptr>> snapshot;
    std::optional<engine::config_result<engine::rule_set_ptr>> rules;
    std::string request_id;
    bool count_lookups = true;
};

call_decider::call_decider(engine::config_service& config, engine::call_log& calls, webhook_client& webhooks,
                           boost::asio::any_io_executor workers, dispatch_metrics& metrics,
                           engine::clock_source& clock, std::chrono::milliseconds webhook_budget)
    : config_(config),
      calls_(calls),
      webhooks_(webhooks),
      workers_(std::move(workers)),
      metrics_(metrics),
      clock_(clock),
      webhook_budget_(webhook_budget)
{
}

// After a cache miss: the store read, on a worker thread.
boost::asio::awaitable<engine::config_result<engine::snapshot_ptr>> call_decider::snapshot(engine::uuid id)
{
    auto op = net::on_workers(workers_, [this, id] { return config_.load_snapshot(id); });
    co_return co_await std::move(op);
}

// After a cache miss: the store read, on a worker thread.
boost::asio::awaitable<engine::config_result<std::optional<engine::uuid>>> call_decider::identity_by_number(
    std::string number)
{
    auto op = net::on_workers(workers_, [this, number] { return config_.load_phone(number); });
    co_return co_await std::move(op);
}

std::vector<std::pair<std::string, std::string>> call_decider::handshake_headers(
    const engine::identity_snapshot& identity, const call_context& call)
{
    // {"call_id":…,"phone_number":…,"direction":"inbound"}, written in place:
    // every answered call has one.
    std::string_view phone = call.local_phone_number ? std::string_view(*call.local_phone_number) : "";
    std::string context;
    context.reserve(96 + phone.size());
    context += "{\"call_id\":\"";
    call.call_id.append_to(context);
    context += "\",\"phone_number\":";
    engine::append_json_string(context, phone);
    context += ",\"direction\":\"inbound\"}";
    std::vector<std::pair<std::string, std::string>> headers;
    headers.reserve(identity.signing_key ? 4 : 1);
    headers.emplace_back("X-Call-Context", std::move(context));
    if (identity.signing_key) {
        std::string request_id = engine::uuid::generate(ids_).to_string();
        std::string timestamp = std::to_string(clock_.now_us() / 1'000'000);
        std::string signature = inkbox_signature(identity.signing_key->key, request_id, timestamp, headers[0].second);
        headers.emplace_back("X-Inkbox-Request-ID", std::move(request_id));
        headers.emplace_back("X-Inkbox-Timestamp", std::move(timestamp));
        headers.emplace_back("X-Inkbox-Signature", std::move(signature));
    }
    return headers;
}

std::optional<outcome> call_decider::screen(const engine::identity_snapshot& identity,
                                            const engine::contact_rule_set& rules, const std::string& caller)
{
    auto matched = rules.match(caller);
    bool blocked = identity.identity.filter_mode == engine::phone_filter_mode::whitelist
                       ? matched != engine::rule_action::allow
                       : matched == engine::rule_action::block;
    return blocked ? std::optional<outcome>(outcome::contact_blocked) : std::nullopt;
}

boost::asio::awaitable<call_decision> call_decider::decide(call_event event)
{
    auto op = decide_only(std::move(event));
    auto d = co_await std::move(op);
    record(d, is_answer(d.kind) ? engine::call_status::ringing : engine::call_status::canceled);
    co_return d;
}

call_decision call_decider::engine_reject(call_event event, outcome kind)
{
    auto agent_identity_id = event.agent_identity_id;
    auto p = begin(std::move(event));
    p.d.agent_identity_id = agent_identity_id;
    p.d.kind = kind;
    return std::move(p.d);
}

void call_decider::record(const call_decision& d, engine::call_status status, std::int64_t started_at_us)
{
    engine::call_record record;
    record.id = d.call.call_id;
    record.agent_identity_id = d.agent_identity_id;
    record.local_phone_number = d.call.local_phone_number;
    record.remote_phone_number = d.call.remote_phone_number;
    bool answer = is_answer(d.kind);
    record.status = status;
    record.hangup = answer ? engine::hangup_reason::none : engine::hangup_reason::rejected;
    record.client_websocket_url = d.client_websocket_url;
    record.answered_decision = answer;
    auto labels = labels_of(d.kind);
    record.decision_source = std::string(labels.source);
    if (!labels.reason.empty())
        record.decision_reason = std::string(labels.reason);
    record.decided_in_us = d.decided_in_us;
    record.created_at_us = d.call.created_at_us;
    record.started_at_us = started_at_us;
    // A bridged call is recorded when its client answers, after the decision: its
    // last change is then, not the decision.
    record.updated_at_us = std::max(d.call.created_at_us, started_at_us);
    if (!answer)
        record.ended_at_us = record.created_at_us;
    calls_.record(std::move(record));
    metrics_.count(d.kind);
}

call_decider::progress call_decider::begin(call_event event)
{
    progress p;
    auto& d = p.d;
    d.call.created_at_us = clock_.now_us();
    // Time-ordered (version 7) ids keep the record writes append-like.
    d.call.call_id = event.call_id ? *event.call_id : engine::uuid::generate_v7(ids_, d.call.created_at_us);
    d.call.remote_phone_number = std::move(event.remote_phone_number);
    d.call.local_phone_number = std::move(event.local_phone_number);
    p.asked_identity = event.agent_identity_id;
    p.request_id = std::move(event.request_id);
    p.count_lookups = !event.lookups_counted;
    return p;
}

call_decider::need call_decider::advance(progress& p)
{
    auto& d = p.d;
    // 1. The identity: by id, else by the dialed number.
    p.identity_id = p.asked_identity;
    if (!p.identity_id) {
        if (!p.phone) {
            auto cached = config_.try_phone(d.call.local_phone_number.value_or(""), p.count_lookups);
            if (!cached)
                return need::phone;
            p.phone = engine::config_result<std::optional<engine::uuid>>{config_errc::ok, *cached};
        }
        if (!p.phone->ok()) {
            d.kind = outcome::overloaded;
            return need::nothing;
        }
        if (!p.phone->value) {
            d.kind = outcome::unknown_number;
            return need::nothing;
        }
        p.identity_id = p.phone->value;
    }
    if (!p.snapshot) {
        auto cached = config_.try_snapshot(*p.identity_id, p.count_lookups);
        if (!cached)
            return need::snapshot;
        p.snapshot = engine::config_result<engine::snapshot_ptr>{config_errc::ok, *cached};
    }
    if (!p.snapshot->ok()) {
        d.kind = outcome::overloaded;
        return need::nothing;
    }
    if (!p.snapshot->value) {
        d.kind = p.asked_identity ? outcome::unknown_identity : outcome::unknown_number;
        return need::nothing;
    }
    d.identity = p.snapshot->value;
    d.agent_identity_id = p.identity_id;
    if (!d.call.local_phone_number)
        d.call.local_phone_number = d.identity->identity.phone_number;
    // 2. Screen the caller against the identity's contact rules.
    if (!p.rules) {
        auto cached = config_.try_rules(*p.identity_id, p.count_lookups);
        if (!cached)
            return need::rules;
        p.rules = engine::config_result<engine::rule_set_ptr>{config_errc::ok, *cached};
    }
    auto screened = p.rules->ok() ? screen(*d.identity, *p.rules->value, d.call.remote_phone_number)
                                  : std::optional<outcome>(outcome::overloaded);
    // 3-4. The action.
    const auto& action = d.identity->action;
    if (screened) {
        d.kind = *screened;
    } else if (!action) {
        d.kind = outcome::no_config;
    } else if (action->action == engine::call_action::auto_reject) {
        d.kind = outcome::auto_reject;
    } else if (action->action == engine::call_action::auto_accept) {
        d.kind = outcome::answer_config;
        d.client_websocket_url = action->client_websocket_url;
    } else {
        return need::webhook;
    }
    return need::nothing;
}

call_decision call_decider::finish(progress& p)
{
    auto& d = p.d;
    if (is_answer(d.kind) && d.identity)
        d.client_headers = handshake_headers(*d.identity, d.call);
    std::chrono::duration<double> took = steady::now() - p.started;
    d.decided_in_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    metrics_.observe(d.kind, took);
    return std::move(d);
}

std::optional<call_decision> call_decider::try_decide(call_event event)
{
    auto p = begin(std::move(event));
    if (advance(p) != need::nothing)
        return std::nullopt;
    auto d = finish(p);
    record(d, is_answer(d.kind) ? engine::call_status::ringing : engine::call_status::canceled);
    return d;
}

boost::asio::awaitable<call_decision> call_decider::decide_only(call_event event)
{
    auto p = begin(std::move(event));
    // A cache hit is answered in place; only a miss goes to a worker thread.
    for (;;) {
        switch (advance(p)) {
        case need::nothing: co_return finish(p);
        case need::phone: {
            auto op = identity_by_number(p.d.call.local_phone_number.value_or(""));
            p.phone = co_await std::move(op);
            break;
        }
        case need::snapshot: {
            auto op = snapshot(*p.identity_id);
            p.snapshot = co_await std::move(op);
            break;
        }
        case need::rules: {
            auto op = net::on_workers(workers_, [this, id = *p.identity_id] { return config_.load_rules(id); });
            p.rules = co_await std::move(op);
            break;
        }
        case need::webhook: {
            auto& d = p.d;
            const auto& action = d.identity->action;
            auto op = webhooks_.ask(d.identity, d.call, p.started + webhook_budget_);
            auto reply = co_await std::move(op);
            d.kind = reply.kind;
            d.client_websocket_url = std::move(reply.client_websocket_url);
            if (auto fallback = fallback_for(d.kind); fallback && action->incoming_call_fallback_action) {
                net::log(net::log_level::info, "webhook_fallback",
                         "The webhook could not decide; the action's fallback answered",
                         {{"call_id", d.call.call_id.to_string()},
                          {"request_id", p.request_id},
                          {"reason", labels_of(d.kind).reason},
                          {"detail", reply.detail}});
                d.kind = *fallback;
                d.client_websocket_url = action->client_websocket_url;
            } else if (!is_answer(d.kind))
                net::log(net::log_level::info, "webhook_declined", "The webhook did not answer the call",
                         {{"call_id", d.call.call_id.to_string()},
                          {"request_id", p.request_id},
                          {"reason", labels_of(d.kind).reason},
                          {"detail", reply.detail}});
            co_return finish(p);
        }
        }
    }
}

} // namespace callgate::dispatch
