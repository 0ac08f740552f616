#include "callgate/config_api/request_body.hpp"

namespace callgate::config_api {

using engine::json_field;
using engine::json_object;
using engine::json_type;

namespace {

const char* const phone_detail = "phone_number must be E.164: '+' followed by 8 to 15 digits";
const char* const handle_detail =
    "agent_handle must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'";
constexpr std::size_t max_display_name = 256;
constexpr std::size_t max_description = 4096;
constexpr std::size_t max_label = 256;

bool valid_text_length(const std::optional<std::string>& v, std::size_t max)
{
    return !v || v->size() <= max;
}

// The optional text fields POST and PATCH /identities share: display_name,
// description and phone_number.
struct identity_fields {
    text_field name, description, phone;
};

// A string-or-null field of at most `max` bytes.
bool read_bounded_text(const json_object& doc, std::string_view name, std::size_t max, text_field& out,
                       std::string& detail)
{
    if (auto e = read_text(doc, name, out)) {
        detail = *e;
        return false;
    }
    if (!valid_text_length(out.value, max)) {
        detail = std::string(name) + " must be at most " + std::to_string(max) + " bytes";
        return false;
    }
    return true;
}

bool read_identity_fields(const json_object& doc, identity_fields& out, std::string& detail)
{
    if (!read_bounded_text(doc, "display_name", max_display_name, out.name, detail) ||
        !read_bounded_text(doc, "description", max_description, out.description, detail))
        return false;
    // Inkbox provisions a number from an object ({"type": "local", ...});
    // callgate only routes numbers its operator already has.
    if (const json_field* phone = doc.find("phone_number"); phone != nullptr && phone->type == json_type::object) {
        detail = "phone_number must be an E.164 number string; callgate does not provision numbers";
        return false;
    }
    if (auto e = read_text(doc, "phone_number", out.phone)) {
        detail = *e;
        return false;
    }
    if (out.phone.value && !engine::is_valid_e164(*out.phone.value)) {
        detail = phone_detail;
        return false;
    }
    return true;
}

// agent_handle: required on POST, a rename on PATCH.
bool read_handle_field(const json_field& handle, std::string& out, std::string& detail)
{
    if (handle.type != json_type::string) {
        detail = "agent_handle must be a string";
        return false;
    }
    if (!engine::is_valid_agent_handle(handle.text)) {
        detail = handle_detail;
        return false;
    }
    out = handle.text;
    return true;
}

std::string url_detail(std::string_view field, engine::url_error e, engine::url_kind kind, bool insecure)
{
    std::string f(field);
    switch (e) {
    case engine::url_error::too_long: return f + " must be at most 2048 bytes";
    case engine::url_error::bad_scheme:
        if (kind == engine::url_kind::websocket)
            return f + (insecure ? " must be a wss:// or ws:// URL" : " must be a wss:// URL");
        return f + (insecure ? " must be an https:// or http:// URL" : " must be an https:// URL");
    case engine::url_error::no_host: return f + " must be an absolute URL with a host";
    case engine::url_error::has_userinfo: return f + " must not contain userinfo";
    case engine::url_error::has_fragment: return f + " must not contain a fragment";
    case engine::url_error::bad_port: return f + " has an invalid port";
    case engine::url_error::malformed: return f + " is not a valid URL (RFC 3986; check its percent-escapes)";
    case engine::url_error::bad_character:
        return f + " must not contain spaces, control or non-ASCII characters";
    case engine::url_error::ok: break;
    }
    return f + " is not a valid URL";
}

} // namespace

std::optional<std::string> read_text(const json_object& doc, std::string_view name, text_field& out)
{
    const json_field* f = doc.find(name);
    if (f == nullptr)
        return std::nullopt;
    out.present = true;
    if (f->type == json_type::null)
        return std::nullopt;
    if (f->type != json_type::string)
        return std::string(name) + " must be a string or null";
    out.value = f->text;
    return std::nullopt;
}

std::optional<std::string> read_url(const json_object& doc, std::string_view name, engine::url_kind kind,
                                    bool allow_insecure, text_field& out)
{
    if (auto e = read_text(doc, name, out))
        return e;
    if (out.value) {
        auto check = engine::validate_url(*out.value, kind, allow_insecure);
        if (check != engine::url_error::ok)
            return url_detail(name, check, kind, allow_insecure);
    }
    return std::nullopt;
}

bool read_put_action(const json_object& doc, bool identity_required, bool allow_insecure_urls,
                     put_action_request& out, std::string& detail)
{
    const json_field* kind = doc.find("incoming_call_action");
    if (kind == nullptr || kind->type == json_type::null) {
        detail = "incoming_call_action is required";
        return false;
    }
    if (kind->type != json_type::string) {
        detail = "incoming_call_action must be a string";
        return false;
    }
    auto parsed = engine::parse_call_action(kind->text);
    if (!parsed) {
        detail = "incoming_call_action must be one of \"auto_accept\", \"auto_reject\", \"webhook\"";
        return false;
    }
    out.action.action = *parsed;

    out.agent_identity_id.reset();
    const json_field* id = doc.find("agent_identity_id");
    if (id != nullptr && id->type != json_type::null) {
        if (id->type != json_type::string) {
            detail = "agent_identity_id must be a UUID string or null";
            return false;
        }
        out.agent_identity_id = engine::uuid::parse(id->text);
        if (!out.agent_identity_id) {
            detail = "agent_identity_id must be a valid UUID";
            return false;
        }
    } else if (identity_required) {
        detail = "agent_identity_id is required";
        return false;
    }

    text_field ws, hook;
    if (auto e = read_url(doc, "client_websocket_url", engine::url_kind::websocket, allow_insecure_urls, ws)) {
        detail = *e;
        return false;
    }
    if (auto e = read_url(doc, "incoming_call_webhook_url", engine::url_kind::https, allow_insecure_urls, hook)) {
        detail = *e;
        return false;
    }
    out.action.client_websocket_url = std::move(ws.value);
    out.action.incoming_call_webhook_url = std::move(hook.value);
    out.action.incoming_call_fallback_action.reset();
    const json_field* fallback = doc.find("incoming_call_fallback_action");
    if (fallback != nullptr && fallback->type != json_type::null) {
        if (fallback->type != json_type::string || fallback->text != "auto_accept") {
            detail = "incoming_call_fallback_action must be \"auto_accept\" or null";
            return false;
        }
        out.action.incoming_call_fallback_action = engine::call_action::auto_accept;
    }
    return true;
}

bool read_new_identity(const json_object& doc, engine::new_identity& out, std::string& detail)
{
    const json_field* handle = doc.find("agent_handle");
    if (handle == nullptr || handle->type == json_type::null) {
        detail = "agent_handle is required";
        return false;
    }
    identity_fields fields;
    if (!read_handle_field(*handle, out.agent_handle, detail) || !read_identity_fields(doc, fields, detail))
        return false;
    out.display_name = std::move(fields.name.value);
    out.description = std::move(fields.description.value);
    out.phone_number = std::move(fields.phone.value);
    return true;
}

bool read_identity_patch(const json_object& doc, engine::identity_patch& out, std::string& detail)
{
    out = {};
    if (const json_field* handle = doc.find("agent_handle"); handle != nullptr) {
        out.agent_handle.emplace();
        if (!read_handle_field(*handle, *out.agent_handle, detail))
            return false;
    }
    identity_fields fields;
    if (!read_identity_fields(doc, fields, detail))
        return false;
    if (fields.name.present)
        out.display_name = std::move(fields.name.value);
    if (fields.description.present)
        out.description = std::move(fields.description.value);
    if (fields.phone.present)
        out.phone_number = std::move(fields.phone.value);
    if (const json_field* mode = doc.find("phone_filter_mode"); mode != nullptr) {
        std::optional<engine::phone_filter_mode> parsed;
        if (mode->type == json_type::string)
            parsed = engine::parse_phone_filter_mode(mode->text);
        if (!parsed) {
            detail = "phone_filter_mode must be \"blacklist\" or \"whitelist\"";
            return false;
        }
        out.filter_mode = *parsed;
    }
    return true;
}

namespace {

// Reads a required enumeration field `name` with `parse`; the detail names the choices.
template <class Parse, class T>
bool read_choice(const json_object& doc, std::string_view name, Parse parse, std::string_view bad, T& out,
                 std::string& detail, bool required = true)
{
    const json_field* f = doc.find(name);
    if (f == nullptr || f->type == json_type::null) {
        if (required)
            detail = std::string(name) + " is required";
        return !required;
    }
    std::optional<T> parsed;
    if (f->type == json_type::string)
        parsed = parse(f->text);
    if (!parsed) {
        detail = std::string(bad);
        return false;
    }
    out = *parsed;
    return true;
}

bool is_prefix_target(std::string_view t)
{
    if (t.size() < 2 || t.size() > 16 || t.front() != '+')
        return false;
    for (char c : t.substr(1))
        if (c < '0' || c > '9')
            return false;
    return true;
}

} // namespace

bool read_new_contact_rule(const json_object& doc, engine::new_contact_rule& out, std::string& detail)
{
    out = {};
    if (!read_choice(doc, "action", engine::parse_rule_action, rule_action_detail, out.action, detail))
        return false;
    if (!read_choice(doc, "match_type", engine::parse_match_type, match_type_detail, out.match, detail, false))
        return false;
    text_field target;
    if (read_text(doc, "match_target", target)) {
        detail = "match_target must be a string";
        return false;
    }
    if (!target.value) {
        detail = "match_target is required";
        return false;
    }
    if (out.match == engine::match_type::exact_number && !engine::is_valid_e164(*target.value)) {
        detail = "match_target must be an E.164 number";
        return false;
    }
    if (out.match == engine::match_type::prefix && !is_prefix_target(*target.value)) {
        detail = "match_target must be + and 1-15 digits";
        return false;
    }
    out.target = std::move(*target.value);
    return true;
}

bool read_contact_rule_patch(const json_object& doc, engine::rule_action& out, std::string& detail)
{
    return read_choice(doc, "action", engine::parse_rule_action, rule_action_detail, out, detail);
}

bool read_new_api_key(const json_object& doc, new_api_key_request& out, std::string& detail)
{
    text_field label, scoped;
    if (!read_bounded_text(doc, "label", max_label, label, detail))
        return false;
    if (read_text(doc, "scoped_identity_id", scoped)) {
        detail = "scoped_identity_id must be a UUID string";
        return false;
    }
    if (!scoped.value) {
        detail = "scoped_identity_id is required";
        return false;
    }
    auto id = engine::uuid::parse(*scoped.value);
    if (!id) {
        detail = "scoped_identity_id must be a valid UUID";
        return false;
    }
    out.label = label.value.value_or("");
    out.scoped_identity_id = *id;
    return true;
}

} // namespace callgate::config_api
