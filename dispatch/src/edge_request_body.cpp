#include "callgate/dispatch/edge_request_body.hpp"

#include "callgate/dispatch/outcome.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"

#include <array>

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

std::string decision_body(const call_decision& d)
{
    auto labels = labels_of(d.kind);
    engine::json_writer w;
    w.reserve(512);
    w.begin_object().field("call_id", d.call.call_id).key("agent_identity_id");
    if (d.agent_identity_id)
        w.value(*d.agent_identity_id);
    else
        w.null();
    w.field("action", labels.action).field("source", labels.source);
    if (is_answer(d.kind)) {
        w.field("client_websocket_url", d.client_websocket_url).key("client_websocket_headers").begin_object();
        for (const auto& [name, value] : d.client_headers)
            w.field(name, value);
        w.end_object();
        if (!labels.reason.empty()) // a fallback answer says which webhook failure it stands in for
            w.field("reason", labels.reason);
    } else {
        w.field("reason", labels.reason);
    }
    w.field("decided_in_us", d.decided_in_us).end_object();
    return w.take();
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
