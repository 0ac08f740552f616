// A webhook's reply body (dispatch/src/webhook_client.cpp,
// webhook_client::read_reply), and the request body the webhook is sent
// (webhook_client::payload) with fuzzed identity and call fields.
//
// Input: one flag byte (bit 0: insecure URLs allowed, bit 1: the identity
// has a configured client_websocket_url), then the reply body.

#include "callgate/dispatch/webhook_client.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/validation.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace dispatch = callgate::dispatch;
namespace engine = callgate::engine;
using dispatch::outcome;

const std::string configured = "wss://agent.example.com/configured";

void check_reply(std::string_view body, bool insecure, bool has_configured)
{
    std::optional<std::string> fallback;
    if (has_configured)
        fallback = configured;
    auto out = dispatch::webhook_client::read_reply(body, fallback, insecure);
    FUZZ_CHECK(out.kind == outcome::answer_webhook || out.kind == outcome::webhook_rejected ||
               out.kind == outcome::webhook_error);
    FUZZ_CHECK(out.kind == outcome::answer_webhook || !out.detail.empty());
    FUZZ_CHECK(out.client_websocket_url.has_value() == (out.kind == outcome::answer_webhook));

    engine::json_object doc;
    bool parsed = doc.parse(body) == engine::json_parse_error::ok;
    const auto* action = parsed ? doc.find("action") : nullptr;
    bool is_string_action = action != nullptr && action->type == engine::json_type::string;
    if (out.kind == outcome::webhook_rejected)
        FUZZ_CHECK(is_string_action && action->text == "reject");
    if (out.kind != outcome::answer_webhook)
        return;

    // An answer: a JSON object (so UTF-8) saying "answer", and a URL that is
    // the configured one or a valid WebSocket URL from the reply.
    FUZZ_CHECK(engine::is_valid_utf8(body));
    FUZZ_CHECK(is_string_action && action->text == "answer");
    const auto& url = *out.client_websocket_url;
    const auto* ws = doc.find("client_websocket_url");
    if (ws != nullptr && ws->type == engine::json_type::string) {
        FUZZ_CHECK(url == ws->text);
        FUZZ_CHECK(engine::validate_url(url, engine::url_kind::websocket, insecure) == engine::url_error::ok);
    } else {
        FUZZ_CHECK(has_configured && url == configured);
    }

    // The same reply read again gives the same answer.
    auto again = dispatch::webhook_client::read_reply(body, fallback, insecure);
    FUZZ_CHECK(again.kind == out.kind && again.client_websocket_url == out.client_websocket_url);
}

// The webhook request body carries the caller's number and the identity's
// names unchanged, as well-formed JSON, whatever UTF-8 they hold.
void check_payload(std::string_view text)
{
    if (!engine::is_valid_utf8(text))
        return;
    engine::identity_snapshot identity;
    identity.identity.agent_handle = std::string(text.substr(0, text.size() / 2));
    identity.identity.display_name = std::string(text.substr(text.size() / 2));
    dispatch::call_context call;
    call.remote_phone_number = std::string(text);
    call.local_phone_number = std::string(text.substr(0, text.size() / 3));
    call.created_at_us = static_cast<std::int64_t>(text.size()) * 1'000'003;
    if (!engine::is_valid_utf8(identity.identity.agent_handle) || !engine::is_valid_utf8(*identity.identity.display_name) ||
        !engine::is_valid_utf8(*call.local_phone_number))
        return; // split inside a character
    std::string body = dispatch::webhook_client::payload(identity, call);
    engine::json_object doc;
    FUZZ_CHECK(doc.parse(body) == engine::json_parse_error::ok);
    const auto* remote = doc.find("remote_phone_number");
    FUZZ_CHECK(remote != nullptr && remote->type == engine::json_type::string && remote->text == text);
    const auto* local = doc.find("local_phone_number");
    FUZZ_CHECK(local != nullptr && local->text == *call.local_phone_number);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    check_reply(body, (data[0] & 1) != 0, (data[0] & 2) != 0);
    check_payload(body);
    return 0;
}
