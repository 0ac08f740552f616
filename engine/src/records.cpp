#include "callgate/engine/records.hpp"

#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/secrets.hpp"

namespace callgate::engine {
namespace {

std::optional<std::string> optional_text(const json_object& doc, std::string_view key)
{
    const json_field* f = doc.find(key);
    if (f == nullptr || f->type != json_type::string)
        return std::nullopt;
    return f->text;
}

bool required_text(const json_object& doc, std::string_view key, std::string& out)
{
    const json_field* f = doc.find(key);
    if (f == nullptr || f->type != json_type::string)
        return false;
    out = f->text;
    return true;
}

bool required_int(const json_object& doc, std::string_view key, std::int64_t& out)
{
    const json_field* f = doc.find(key);
    if (f == nullptr || f->type != json_type::integer)
        return false;
    out = f->integer;
    return true;
}

bool required_uuid(const json_object& doc, std::string_view key, uuid& out)
{
    std::string text;
    if (!required_text(doc, key, text))
        return false;
    auto parsed = uuid::parse(text);
    if (!parsed)
        return false;
    out = *parsed;
    return true;
}

bool hex_decode(std::string_view hex, std::string& out)
{
    if (hex.size() % 2 != 0)
        return false;
    out.clear();
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return true;
}

} // namespace

std::string_view to_string(call_action action)
{
    switch (action) {
    case call_action::auto_accept: return "auto_accept";
    case call_action::auto_reject: return "auto_reject";
    case call_action::webhook: return "webhook";
    }
    return "auto_reject";
}

std::optional<call_action> parse_call_action(std::string_view text)
{
    if (text == "auto_accept")
        return call_action::auto_accept;
    if (text == "auto_reject")
        return call_action::auto_reject;
    if (text == "webhook")
        return call_action::webhook;
    return std::nullopt;
}

std::string encode(const identity_record& r)
{
    json_writer w;
    w.begin_object()
        .field("id", r.id.to_string())
        .field("agent_handle", r.agent_handle)
        .field("display_name", r.display_name)
        .field("phone_number", r.phone_number)
        .field("created_at_us", r.created_at_us)
        .field("updated_at_us", r.updated_at_us)
        .end_object();
    return w.take();
}

bool decode(std::string_view bytes, identity_record& out)
{
    json_object doc;
    if (doc.parse(bytes) != json_parse_error::ok)
        return false;
    out.display_name = optional_text(doc, "display_name");
    out.phone_number = optional_text(doc, "phone_number");
    return required_uuid(doc, "id", out.id) && required_text(doc, "agent_handle", out.agent_handle) &&
           required_int(doc, "created_at_us", out.created_at_us) &&
           required_int(doc, "updated_at_us", out.updated_at_us);
}

std::string encode(const incoming_call_action& a)
{
    json_writer w;
    w.begin_object()
        .field("incoming_call_action", to_string(a.action))
        .field("client_websocket_url", a.client_websocket_url)
        .field("incoming_call_webhook_url", a.incoming_call_webhook_url)
        .end_object();
    return w.take();
}

bool decode(std::string_view bytes, incoming_call_action& out)
{
    json_object doc;
    if (doc.parse(bytes) != json_parse_error::ok)
        return false;
    std::string action;
    if (!required_text(doc, "incoming_call_action", action))
        return false;
    auto parsed = parse_call_action(action);
    if (!parsed)
        return false;
    out.action = *parsed;
    out.client_websocket_url = optional_text(doc, "client_websocket_url");
    out.incoming_call_webhook_url = optional_text(doc, "incoming_call_webhook_url");
    return true;
}

std::string encode(const signing_key_record& k)
{
    json_writer w;
    w.begin_object().field("key", k.key).field("created_at_us", k.created_at_us).end_object();
    return w.take();
}

bool decode(std::string_view bytes, signing_key_record& out)
{
    json_object doc;
    if (doc.parse(bytes) != json_parse_error::ok)
        return false;
    return required_text(doc, "key", out.key) && required_int(doc, "created_at_us", out.created_at_us);
}

std::string encode(const api_key_record& k)
{
    json_writer w;
    w.begin_object()
        .field("id", k.id.to_string())
        .field("label", k.label)
        .key("scoped_identity_id");
    if (k.scoped_identity_id)
        w.value(k.scoped_identity_id->to_string());
    else
        w.null();
    w.field("status", k.status == api_key_status::active ? "active" : "revoked")
        .field("last4", k.last4)
        .field("hash", hex_encode(k.hash))
        .field("created_at_us", k.created_at_us)
        .end_object();
    return w.take();
}

bool decode(std::string_view bytes, api_key_record& out)
{
    json_object doc;
    if (doc.parse(bytes) != json_parse_error::ok)
        return false;
    std::string status, hash_hex;
    if (!required_uuid(doc, "id", out.id) || !required_text(doc, "label", out.label) ||
        !required_text(doc, "status", status) || !required_text(doc, "last4", out.last4) ||
        !required_text(doc, "hash", hash_hex) || !hex_decode(hash_hex, out.hash) ||
        !required_int(doc, "created_at_us", out.created_at_us))
        return false;
    out.status = status == "active" ? api_key_status::active : api_key_status::revoked;
    out.scoped_identity_id.reset();
    if (auto scoped = optional_text(doc, "scoped_identity_id")) {
        out.scoped_identity_id = uuid::parse(*scoped);
        if (!out.scoped_identity_id)
            return false;
    }
    return true;
}

void write_identity(json_writer& w, const identity_record& r)
{
    w.begin_object()
        .field("id", r.id.to_string())
        .field("agent_handle", r.agent_handle)
        .field("display_name", r.display_name)
        .field("phone_number", r.phone_number)
        .field("created_at", format_rfc3339(r.created_at_us))
        .field("updated_at", format_rfc3339(r.updated_at_us))
        .end_object();
}

void write_incoming_call_action(json_writer& w, const uuid& identity_id,
                                const incoming_call_action& a)
{
    w.begin_object()
        .field("agent_identity_id", identity_id.to_string())
        .field("incoming_call_action", to_string(a.action))
        .field("client_websocket_url", a.client_websocket_url)
        .field("incoming_call_webhook_url", a.incoming_call_webhook_url)
        .end_object();
}

void write_api_key(json_writer& w, const api_key_record& k)
{
    w.begin_object().field("id", k.id.to_string()).field("label", k.label).key("scoped_identity_id");
    if (k.scoped_identity_id)
        w.value(k.scoped_identity_id->to_string());
    else
        w.null();
    w.field("status", k.status == api_key_status::active ? "active" : "revoked")
        .field("last4", k.last4)
        .field("created_at", format_rfc3339(k.created_at_us))
        .end_object();
}

} // namespace callgate::engine
