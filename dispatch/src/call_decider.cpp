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
    engine::json_writer w;
    w.reserve(128);
    w.begin_object()
        .field("call_id", call.call_id)
        .field("phone_number", call.local_phone_number.value_or(""))
        .field("direction", "inbound")
        .end_object();
    std::vector<std::pair<std::string, std::string>> headers{{"X-Call-Context", w.take()}};
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
    call_decision d;
    d.call.created_at_us = clock_.now_us();
    d.call.call_id = event.call_id ? *event.call_id : engine::uuid::generate_v7(ids_, d.call.created_at_us);
    d.call.remote_phone_number = std::move(event.remote_phone_number);
    d.call.local_phone_number = std::move(event.local_phone_number);
    d.agent_identity_id = event.agent_identity_id;
    d.kind = kind;
    return d;
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

boost::asio::awaitable<call_decision> call_decider::decide_only(call_event event)
{
    auto started = steady::now();
    call_decision d;
    d.call.created_at_us = clock_.now_us();
    // Time-ordered (version 7) ids keep the record writes append-like.
    d.call.call_id = event.call_id ? *event.call_id : engine::uuid::generate_v7(ids_, d.call.created_at_us);
    d.call.remote_phone_number = std::move(event.remote_phone_number);
    d.call.local_phone_number = event.local_phone_number;

    // 1. The identity: by id, else by the dialed number.
    std::optional<engine::uuid> identity_id = event.agent_identity_id;
    bool resolved = true;
    if (!identity_id) {
        // A cache hit is answered in place; only a miss goes to a worker thread.
        engine::config_result<std::optional<engine::uuid>> found;
        if (auto cached = config_.try_phone(event.local_phone_number.value_or("")))
            found = {engine::config_errc::ok, *cached};
        else {
            auto op = identity_by_number(event.local_phone_number.value_or(""));
            found = co_await std::move(op);
        }
        if (!found.ok()) {
            d.kind = outcome::overloaded;
            resolved = false;
        } else if (!found.value) {
            d.kind = outcome::unknown_number;
            resolved = false;
        } else {
            identity_id = found.value;
        }
    }
    if (resolved) {
        engine::config_result<engine::snapshot_ptr> found;
        if (auto cached = config_.try_snapshot(*identity_id))
            found = {engine::config_errc::ok, *cached};
        else {
            auto op = snapshot(*identity_id);
            found = co_await std::move(op);
        }
        if (!found.ok()) {
            d.kind = outcome::overloaded;
        } else if (!found.value) {
            d.kind = event.agent_identity_id ? outcome::unknown_identity : outcome::unknown_number;
        } else {
            d.identity = found.value;
            d.agent_identity_id = identity_id;
            if (!d.call.local_phone_number)
                d.call.local_phone_number = d.identity->identity.phone_number;
            // 2. Screen the caller against the identity's contact rules (a
            // cache hit in place, a miss read on a worker thread).
            engine::config_result<engine::rule_set_ptr> rules;
            if (auto cached = config_.try_rules(*identity_id)) {
                rules = {config_errc::ok, *cached};
            } else {
                auto op = net::on_workers(workers_, [this, id = *identity_id] { return config_.load_rules(id); });
                rules = co_await std::move(op);
            }
            auto screened = rules.ok() ? screen(*d.identity, *rules.value, d.call.remote_phone_number)
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
                auto op = webhooks_.ask(d.identity, d.call, started + webhook_budget_);
                auto reply = co_await std::move(op);
                d.kind = reply.kind;
                d.client_websocket_url = std::move(reply.client_websocket_url);
                if (auto fallback = fallback_for(d.kind); fallback && action->incoming_call_fallback_action) {
                    net::log(net::log_level::info, "webhook_fallback",
                             "The webhook could not decide; the action's fallback answered",
                             {{"call_id", d.call.call_id.to_string()},
                              {"request_id", event.request_id},
                              {"reason", labels_of(d.kind).reason},
                              {"detail", reply.detail}});
                    d.kind = *fallback;
                    d.client_websocket_url = action->client_websocket_url;
                } else if (!is_answer(d.kind))
                    net::log(net::log_level::info, "webhook_declined", "The webhook did not answer the call",
                             {{"call_id", d.call.call_id.to_string()},
                              {"request_id", event.request_id},
                              {"reason", labels_of(d.kind).reason},
                              {"detail", reply.detail}});
            }
        }
    }
    if (is_answer(d.kind) && d.identity)
        d.client_headers = handshake_headers(*d.identity, d.call);
    std::chrono::duration<double> took = steady::now() - started;
    d.decided_in_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    metrics_.observe(d.kind, took);

    co_return d;
}

} // namespace callgate::dispatch
