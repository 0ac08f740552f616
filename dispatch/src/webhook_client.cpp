#include "callgate/dispatch/webhook_client.hpp"

#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/signatures.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/validation.hpp"
#include "callgate/net/log.hpp"
#include "callgate/net/outbound_client.hpp"

namespace callgate::dispatch {

using steady = std::chrono::steady_clock;

webhook_client::webhook_client(net::outbound_client& http, engine::clock_source& clock,
                               engine::random_source& random, dispatch_metrics& metrics, bool allow_insecure_urls)
    : http_(http), clock_(clock), random_(random), metrics_(metrics), allow_insecure_urls_(allow_insecure_urls)
{
}

std::string webhook_client::payload(const engine::identity_snapshot& identity, const call_context& call)
{
    std::string created = engine::format_rfc3339(call.created_at_us);
    engine::json_writer w;
    w.begin_object()
        .field("id", call.call_id)
        .field("local_phone_number", call.local_phone_number)
        .field("remote_phone_number", call.remote_phone_number)
        .field("direction", "inbound")
        .field("status", "ringing")
        .key("client_websocket_url");
    if (identity.action && identity.action->client_websocket_url)
        w.value(*identity.action->client_websocket_url);
    else
        w.null();
    w.key("use_inkbox_tts").null();
    w.key("use_inkbox_stt").null();
    w.key("hangup_reason").null();
    w.key("started_at").null();
    w.key("ended_at").null();
    w.field("created_at", created).field("updated_at", created);
    w.key("rate_limit").null();
    w.key("agent_identities")
        .begin_array()
        .begin_object()
        .field("id", identity.identity.id)
        .field("agent_handle", identity.identity.agent_handle)
        .field("display_name", identity.identity.display_name)
        .end_object()
        .end_array();
    w.key("contacts").begin_array().end_array();
    w.end_object();
    return w.take();
}

std::vector<std::pair<std::string, std::string>> webhook_client::headers(const engine::identity_snapshot& identity,
                                                                         const std::string& body)
{
    std::string request_id = engine::uuid::generate(random_).to_string();
    std::string timestamp = std::to_string(clock_.now_us() / 1'000'000);
    std::vector<std::pair<std::string, std::string>> h{
        {"Content-Type", "application/json"},
        {"X-Inkbox-Request-ID", request_id},
        {"X-Inkbox-Timestamp", timestamp},
        {"webhook-id", request_id},
        {"webhook-timestamp", timestamp},
    };
    if (identity.signing_key) {
        h.emplace_back("X-Inkbox-Signature", inkbox_signature(identity.signing_key->key, request_id, timestamp, body));
        h.emplace_back("webhook-signature",
                       standard_webhooks_signature(identity.signing_key->key, request_id, timestamp, body));
    }
    return h;
}

boost::asio::awaitable<webhook_outcome> webhook_client::ask(engine::snapshot_ptr identity, call_context call,
                                                            steady::time_point deadline)
{
    webhook_outcome out;
    const auto& url = *identity->action->incoming_call_webhook_url;
    std::string body = payload(*identity, call);
    auto request_headers = headers(*identity, body);
    auto started = steady::now();
    auto op = http_.post(url, std::move(request_headers), std::move(body), deadline);
    auto reply = co_await std::move(op);
    std::chrono::duration<double> took = steady::now() - started;

    auto reject = [&](outcome kind, webhook_result result, std::string detail) {
        metrics_.count(result, took);
        out.kind = kind;
        out.detail = std::move(detail);
        return out;
    };
    switch (reply.error) {
    case net::outbound_error::none: break;
    case net::outbound_error::timeout:
        co_return reject(outcome::webhook_timeout, webhook_result::timeout, reply.detail);
    case net::outbound_error::blocked:
        co_return reject(outcome::webhook_blocked, webhook_result::blocked, reply.detail);
    case net::outbound_error::circuit_open:
        co_return reject(outcome::webhook_error, webhook_result::circuit_open, reply.detail);
    case net::outbound_error::overloaded:
        co_return reject(outcome::overloaded, webhook_result::overloaded, reply.detail);
    default: co_return reject(outcome::webhook_error, webhook_result::error, reply.detail);
    }
    if (steady::now() > deadline)
        co_return reject(outcome::webhook_timeout, webhook_result::timeout, "reply arrived after the budget");
    if (reply.status != 200)
        co_return reject(outcome::webhook_error, webhook_result::error,
                         "webhook answered HTTP " + std::to_string(reply.status));
    out = read_reply(reply.body, identity->action->client_websocket_url, allow_insecure_urls_);
    metrics_.count(out.kind == outcome::answer_webhook     ? webhook_result::answer
                   : out.kind == outcome::webhook_rejected ? webhook_result::reject
                                                           : webhook_result::error,
                   took);
    co_return out;
}

webhook_outcome webhook_client::read_reply(std::string_view body,
                                           const std::optional<std::string>& configured_websocket_url,
                                           bool allow_insecure_urls)
{
    webhook_outcome out;
    auto reject = [&](outcome kind, std::string detail) {
        out.kind = kind;
        out.detail = std::move(detail);
        return out;
    };
    engine::json_object doc;
    if (doc.parse(body) != engine::json_parse_error::ok)
        return reject(outcome::webhook_error, "webhook reply is not a JSON object");
    const auto* action = doc.find("action");
    if (action == nullptr || action->type != engine::json_type::string)
        return reject(outcome::webhook_error, "webhook reply has no action");
    if (action->text == "reject")
        return reject(outcome::webhook_rejected, "webhook rejected the call");
    if (action->text != "answer")
        return reject(outcome::webhook_error, "webhook reply has an unknown action");
    const auto* ws = doc.find("client_websocket_url");
    if (ws != nullptr && ws->type == engine::json_type::string) {
        if (engine::validate_url(ws->text, engine::url_kind::websocket, allow_insecure_urls) != engine::url_error::ok)
            return reject(outcome::webhook_error, "webhook reply has an invalid client_websocket_url");
        out.client_websocket_url = ws->text;
    } else if (ws != nullptr && ws->type != engine::json_type::null) {
        return reject(outcome::webhook_error, "webhook reply's client_websocket_url is not a string");
    } else if (configured_websocket_url) {
        out.client_websocket_url = configured_websocket_url;
    } else {
        return reject(outcome::webhook_error,
                      "webhook answered without a client_websocket_url and none is configured");
    }
    out.kind = outcome::answer_webhook;
    return out;
}

} // namespace callgate::dispatch
