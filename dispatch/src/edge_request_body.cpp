#include "callgate/dispatch/edge_request_body.hpp"

#include "callgate/dispatch/outcome.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"

#include <array>
#include <charconv>

namespace callgate::dispatch {

using engine::json_type;

bool read_decide_body(std::string_view body, call_event& out, std::string& detail)
{
    static constexpr std::string_view keys[] = {"call_id", "local_phone_number", "agent_identity_id",
                                                "remote_phone_number"};
    std::array<engine::picked_field, 4> fields;
    if (engine::parse_fields(body, keys, fields) != engine::json_parse_error::ok) {
        detail = "Invalid JSON body";
        return false;
    }
    auto text = [&](std::size_t i, std::optional<std::string>& value) {
        const auto& f = fields[i];
        if (!f.present || f.type == json_type::null)
            return true;
        if (f.type != json_type::string || f.text.size() > 256)
            return false;
        value = f.text;
        return true;
    };
    auto id = [&](std::size_t i, std::optional<engine::uuid>& value) {
        std::optional<std::string> t;
        if (!text(i, t))
            return false;
        if (t)
            value = engine::uuid::parse(*t);
        return !t || value.has_value();
    };
    out = {};
    std::optional<std::string> remote;
    if (!id(0, out.call_id)) {
        detail = "call_id must be a UUID";
        return false;
    }
    if (!text(1, out.local_phone_number)) {
        detail = "local_phone_number must be a string";
        return false;
    }
    if (!id(2, out.agent_identity_id)) {
        detail = "agent_identity_id must be a UUID";
        return false;
    }
    if (!text(3, remote)) {
        detail = "remote_phone_number must be a string";
        return false;
    }
    if (!out.local_phone_number && !out.agent_identity_id) {
        detail = "local_phone_number or agent_identity_id is required";
        return false;
    }
    if (!remote || remote->empty()) {
        detail = "remote_phone_number is required";
        return false;
    }
    out.remote_phone_number = std::move(*remote);
    return true;
}

namespace {

// The labels are written as they are, without escaping: hold them to that.
constexpr bool plain_label(std::string_view s)
{
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || c == '_'))
            return false;
    return true;
}
static_assert([] {
    for (const auto& l : outcome_label_table)
        if (!plain_label(l.action) || !plain_label(l.source) || !plain_label(l.reason))
            return false;
    return true;
}());

void append_quoted_id(std::string& out, const engine::uuid& id)
{
    out += '"';
    id.append_to(out);
    out += '"';
}

void append_label(std::string& out, std::string_view key, std::string_view label)
{
    out += key;
    out += '"';
    out += label;
    out += '"';
}

} // namespace

std::string decision_body(const call_decision& d)
{
    // Written in place rather than through json_writer: every decision an
    // edge asks for is answered with one. Keys and labels need no escaping;
    // the URL and the header names and values are escaped.
    auto labels = labels_of(d.kind);
    std::size_t room = 256 + (d.client_websocket_url ? d.client_websocket_url->size() : 0);
    for (const auto& [name, value] : d.client_headers)
        room += name.size() + value.size() + value.size() / 4 + 8;
    std::string out;
    out.reserve(room);
    out += "{\"call_id\":";
    append_quoted_id(out, d.call.call_id);
    out += ",\"agent_identity_id\":";
    if (d.agent_identity_id)
        append_quoted_id(out, *d.agent_identity_id);
    else
        out += "null";
    append_label(out, ",\"action\":", labels.action);
    append_label(out, ",\"source\":", labels.source);
    if (is_answer(d.kind)) {
        out += ",\"client_websocket_url\":";
        if (d.client_websocket_url)
            engine::append_json_string(out, *d.client_websocket_url);
        else
            out += "null";
        out += ",\"client_websocket_headers\":{";
        bool first = true;
        for (const auto& [name, value] : d.client_headers) {
            if (!first)
                out += ',';
            first = false;
            engine::append_json_string(out, name);
            out += ':';
            engine::append_json_string(out, value);
        }
        out += '}';
        if (!labels.reason.empty()) // a fallback answer says which webhook failure it stands in for
            append_label(out, ",\"reason\":", labels.reason);
    } else {
        append_label(out, ",\"reason\":", labels.reason);
    }
    out += ",\"decided_in_us\":";
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, d.decided_in_us).ptr;
    out.append(digits, end);
    out += '}';
    return out;
}

bool read_status_body(std::string_view body, status_update& out, std::string& detail)
{
    engine::json_object doc;
    if (doc.parse(body) != engine::json_parse_error::ok) {
        detail = "Invalid JSON body";
        return false;
    }
    const auto* status_field = doc.find("status");
    std::optional<engine::call_status> status;
    if (status_field != nullptr && status_field->type == json_type::string)
        status = engine::parse_call_status(status_field->text);
    if (!status || *status == engine::call_status::initiated || *status == engine::call_status::ringing) {
        detail = "status must be one of \"answered\", \"completed\", \"failed\", \"canceled\"";
        return false;
    }
    std::optional<engine::hangup_reason> hangup;
    const auto* hangup_field = doc.find("hangup_reason");
    if (hangup_field != nullptr && hangup_field->type != json_type::null) {
        if (hangup_field->type == json_type::string)
            hangup = engine::parse_hangup_reason(hangup_field->text);
        if (!hangup || *hangup == engine::hangup_reason::rejected || *hangup == engine::hangup_reason::peer_flood) {
            detail = "hangup_reason must be one of \"local\", \"remote\", \"max_duration\" or null";
            return false;
        }
    }
    out.status = *status;
    out.hangup = hangup;
    return true;
}

} // namespace callgate::dispatch
