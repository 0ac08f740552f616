#include "callgate/engine/records.hpp"

#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/secrets.hpp"
#include "record_codec.hpp"

#include <algorithm>
#include <cstring>

namespace callgate::engine {

using detail::record_reader;
using detail::record_writer;

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





std::string_view to_string(phone_filter_mode m) { return m == phone_filter_mode::whitelist ? "whitelist" : "blacklist"; }

std::optional<phone_filter_mode> parse_phone_filter_mode(std::string_view text)
{
    if (text == "blacklist")
        return phone_filter_mode::blacklist;
    if (text == "whitelist")
        return phone_filter_mode::whitelist;
    return std::nullopt;
}

std::string_view to_string(rule_action a) { return a == rule_action::allow ? "allow" : "block"; }

std::optional<rule_action> parse_rule_action(std::string_view text)
{
    if (text == "allow")
        return rule_action::allow;
    if (text == "block")
        return rule_action::block;
    return std::nullopt;
}

std::string_view to_string(match_type t) { return t == match_type::prefix ? "prefix" : "exact_number"; }

std::optional<match_type> parse_match_type(std::string_view text)
{
    if (text == "exact_number")
        return match_type::exact_number;
    if (text == "prefix")
        return match_type::prefix;
    return std::nullopt;
}

std::string encode(const identity_record& r)
{
    record_writer w;
    w.id(r.id);
    w.text(r.agent_handle);
    w.optional_text(r.display_name);
    w.optional_text(r.phone_number);
    w.i64(r.created_at_us);
    w.i64(r.updated_at_us);
    // Trailing fields, each added after records without it were stored: a
    // record that ends early reads the defaults.
    bool extended = r.description || r.phone_number_since_us != 0;
    if (r.filter_mode != phone_filter_mode::blacklist || extended)
        w.u8(static_cast<std::uint8_t>(r.filter_mode));
    if (extended) {
        w.optional_text(r.description);
        w.i64(r.phone_number_since_us);
    }
    return w.take();
}

bool decode(std::string_view bytes, identity_record& out)
{
    record_reader r(bytes);
    if (!(r.ok() && r.id(out.id) && r.text(out.agent_handle) && r.optional_text(out.display_name) &&
          r.optional_text(out.phone_number) && r.i64(out.created_at_us) && r.i64(out.updated_at_us)))
        return false;
    out.filter_mode = phone_filter_mode::blacklist;
    out.description.reset();
    out.phone_number_since_us = 0;
    if (r.done())
        return true;
    std::uint8_t mode = 0;
    if (!r.u8(mode) || mode > static_cast<std::uint8_t>(phone_filter_mode::whitelist))
        return false;
    out.filter_mode = static_cast<phone_filter_mode>(mode);
    if (r.done())
        return true;
    return r.optional_text(out.description) && r.i64(out.phone_number_since_us) && r.done();
}

uuid phone_number_id(const identity_record& r)
{
    auto digest = sha256("callgate phone number\n" + std::string(r.id.as_key()) + r.phone_number.value_or(""));
    uuid id;
    std::memcpy(id.bytes.data(), digest.data(), id.bytes.size());
    id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x80); // version 8: custom
    id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80); // RFC 9562 variant
    return id;
}

std::string encode(const contact_rule& c)
{
    record_writer w;
    w.id(c.id);
    w.id(c.identity_id);
    w.u8(static_cast<std::uint8_t>(c.action));
    w.u8(static_cast<std::uint8_t>(c.match));
    w.text(c.target);
    w.i64(c.created_at_us);
    w.i64(c.updated_at_us);
    return w.take();
}

bool decode(std::string_view bytes, contact_rule& out)
{
    record_reader r(bytes);
    std::uint8_t action = 0, match = 0;
    if (!(r.ok() && r.id(out.id) && r.id(out.identity_id) && r.u8(action) && r.u8(match) && r.text(out.target) &&
          r.i64(out.created_at_us) && r.i64(out.updated_at_us) && r.done()))
        return false;
    if (action > static_cast<std::uint8_t>(rule_action::block) || match > static_cast<std::uint8_t>(match_type::prefix))
        return false;
    out.action = static_cast<rule_action>(action);
    out.match = static_cast<match_type>(match);
    return true;
}

void write_contact_rule(json_writer& w, const contact_rule& c)
{
    w.begin_object()
        .field("id", c.id)
        .field("agent_identity_id", c.identity_id)
        .field("action", to_string(c.action))
        .field("match_type", to_string(c.match))
        .field("match_target", c.target)
        .field("status", "active")
        .field("created_at", format_rfc3339(c.created_at_us))
        .field("updated_at", format_rfc3339(c.updated_at_us))
        .end_object();
}

std::string encode(const incoming_call_action& a)
{
    record_writer w;
    w.u8(static_cast<std::uint8_t>(a.action));
    w.optional_text(a.client_websocket_url);
    w.optional_text(a.incoming_call_webhook_url);
    if (a.incoming_call_fallback_action) // a trailing byte: records written before it stay readable
        w.u8(static_cast<std::uint8_t>(*a.incoming_call_fallback_action));
    return w.take();
}

bool decode(std::string_view bytes, incoming_call_action& out)
{
    record_reader r(bytes);
    std::uint8_t action = 0;
    if (!r.ok() || !r.u8(action) || action > static_cast<std::uint8_t>(call_action::webhook))
        return false;
    out.action = static_cast<call_action>(action);
    if (!r.optional_text(out.client_websocket_url) || !r.optional_text(out.incoming_call_webhook_url))
        return false;
    out.incoming_call_fallback_action.reset();
    if (r.done())
        return true;
    std::uint8_t fallback = 0;
    if (!r.u8(fallback) || fallback != static_cast<std::uint8_t>(call_action::auto_accept))
        return false;
    out.incoming_call_fallback_action = call_action::auto_accept;
    return r.done();
}

std::string encode(const signing_key_record& k)
{
    record_writer w;
    w.text(k.key);
    w.i64(k.created_at_us);
    return w.take();
}

bool decode(std::string_view bytes, signing_key_record& out)
{
    record_reader r(bytes);
    return r.ok() && r.text(out.key) && r.i64(out.created_at_us) && r.done();
}

std::string encode(const api_key_record& k)
{
    record_writer w;
    w.id(k.id);
    w.text(k.label);
    w.u8(k.scoped_identity_id ? 1 : 0);
    if (k.scoped_identity_id)
        w.id(*k.scoped_identity_id);
    w.u8(k.status == api_key_status::active ? 0 : 1);
    w.text(k.last4);
    w.text(k.hash);
    w.i64(k.created_at_us);
    return w.take();
}

bool decode(std::string_view bytes, api_key_record& out)
{
    record_reader r(bytes);
    std::uint8_t scoped = 0, status = 0;
    if (!r.ok() || !r.id(out.id) || !r.text(out.label) || !r.u8(scoped) || scoped > 1)
        return false;
    out.scoped_identity_id.reset();
    if (scoped == 1) {
        uuid u;
        if (!r.id(u))
            return false;
        out.scoped_identity_id = u;
    }
    if (!r.u8(status) || status > 1)
        return false;
    out.status = status == 0 ? api_key_status::active : api_key_status::revoked;
    return r.text(out.last4) && r.text(out.hash) && r.i64(out.created_at_us) && r.done();
}

namespace {

void write_identity_fields(json_writer& w, const identity_record& r)
{
    w.field("id", r.id)
        .field("agent_handle", r.agent_handle)
        .field("display_name", r.display_name)
        .field("description", r.description)
        .field("phone_number", r.phone_number)
        .field("phone_filter_mode", to_string(r.filter_mode))
        .field("created_at", format_rfc3339(r.created_at_us))
        .field("updated_at", format_rfc3339(r.updated_at_us));
}

} // namespace

void write_identity(json_writer& w, const identity_record& r)
{
    w.begin_object();
    write_identity_fields(w, r);
    w.end_object();
}

void write_identity(json_writer& w, const identity_snapshot& s)
{
    w.begin_object();
    write_identity_fields(w, s.identity);
    w.field("signing_key_configured", s.signing_key.has_value()).end_object();
}

void write_inkbox_identity(json_writer& w, const identity_snapshot& s, const uuid& organization_id)
{
    const auto& r = s.identity;
    auto filter_mode = to_string(r.filter_mode);
    w.begin_object()
        .field("id", r.id)
        .field("organization_id", organization_id)
        .field("agent_handle", r.agent_handle)
        .field("status", "active") // older SDKs read it; callgate identities are always active
        .field("display_name", r.display_name)
        .field("description", r.description)
        .key("email_address").null()
        .field("imessage_enabled", false)
        .field("imessage_filter_mode", "blacklist")
        .field("mail_filter_mode", "blacklist")
        .field("phone_filter_mode", filter_mode)
        .field("signing_key_configured", s.signing_key.has_value())
        .key("mailbox").null()
        .key("imessage_number").null()
        .key("tunnel").null()
        .key("phone_number");
    if (r.phone_number) {
        auto since = r.phone_number_since_us != 0 ? r.phone_number_since_us : r.created_at_us;
        w.begin_object()
            .field("id", phone_number_id(r))
            .field("number", *r.phone_number)
            .field("type", "local")
            .field("status", "active")
            .field("agent_identity_id", r.id)
            .key("incoming_call_action");
        if (s.action)
            w.value(to_string(s.action->action));
        else
            w.null();
        std::optional<std::string> none;
        const auto& action = s.action;
        w.field("client_websocket_url", action ? action->client_websocket_url : none)
            .field("incoming_call_webhook_url", action ? action->incoming_call_webhook_url : none)
            .field("filter_mode", filter_mode)
            .field("created_at", format_rfc3339(since))
            .field("updated_at", format_rfc3339(std::max(since, r.updated_at_us)))
            .end_object();
    } else {
        w.null();
    }
    w.field("created_at", format_rfc3339(r.created_at_us))
        .field("updated_at", format_rfc3339(r.updated_at_us))
        .end_object();
}

void write_incoming_call_action(json_writer& w, const uuid& identity_id,
                                const incoming_call_action& a)
{
    w.begin_object()
        .field("agent_identity_id", identity_id)
        .field("incoming_call_action", to_string(a.action))
        .field("client_websocket_url", a.client_websocket_url)
        .field("incoming_call_webhook_url", a.incoming_call_webhook_url)
        .key("incoming_call_fallback_action");
    if (a.incoming_call_fallback_action)
        w.value(to_string(*a.incoming_call_fallback_action));
    else
        w.null();
    w.end_object();
}

void write_api_key(json_writer& w, const api_key_record& k)
{
    w.begin_object().field("id", k.id).field("label", k.label).key("scoped_identity_id");
    if (k.scoped_identity_id)
        w.value(*k.scoped_identity_id);
    else
        w.null();
    w.field("status", k.status == api_key_status::active ? "active" : "revoked")
        .field("last4", k.last4)
        .field("created_at", format_rfc3339(k.created_at_us))
        .end_object();
}

} // namespace callgate::engine
