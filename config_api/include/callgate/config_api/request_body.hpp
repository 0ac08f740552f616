#pragma once

#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/records.hpp"
#include "callgate/engine/uuid.hpp"
#include "callgate/engine/validation.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace callgate::config_api {

// A JSON field read as string-or-null.
struct text_field {
    bool present = false;
    std::optional<std::string> value; // nullopt when absent or null
};

// Reads `name` as a string or null. Returns the 422 detail for another type.
std::optional<std::string> read_text(const engine::json_object& doc, std::string_view name,
                                     text_field& out);

// Reads `name` as a URL of `kind` or null. Returns the 422 detail naming the field.
std::optional<std::string> read_url(const engine::json_object& doc, std::string_view name,
                                    engine::url_kind kind, bool allow_insecure, text_field& out);

struct put_action_request {
    std::optional<engine::uuid> agent_identity_id;
    engine::incoming_call_action action;
};

// Reads a PUT /incoming-call-action body field by field in the spec's order:
// incoming_call_action, agent_identity_id (required when `identity_required`,
// i.e. for an admin key), client_websocket_url, incoming_call_webhook_url.
// Returns false with the 422 detail of the first bad field. The "required
// when" rules are not checked here: they come after scope and existence.
bool read_put_action(const engine::json_object& doc, bool identity_required, bool allow_insecure_urls,
                     put_action_request& out, std::string& detail);

// Reads a POST /identities body: agent_handle (required), display_name,
// phone_number. Returns false with the 422 detail of the first bad field.
bool read_new_identity(const engine::json_object& doc, engine::new_identity& out, std::string& detail);

// Reads a PATCH /identities/{agent_handle} body: display_name and
// phone_number, each changed only when named (null clears it). Returns false
// with the 422 detail of the first bad field.
bool read_identity_patch(const engine::json_object& doc, engine::identity_patch& out, std::string& detail);

// Reads a POST .../phone-contact-rules body: action (required), match_type
// (default exact_number), match_target (required; E.164 for exact_number,
// + and 1-15 digits for prefix). Returns false with the 422 detail.
bool read_new_contact_rule(const engine::json_object& doc, engine::new_contact_rule& out, std::string& detail);

// Reads a PATCH .../phone-contact-rules/{id} body: action (required).
bool read_contact_rule_patch(const engine::json_object& doc, engine::rule_action& out, std::string& detail);

// The 422 details of the rule fields, shared by bodies and query filters.
inline constexpr std::string_view rule_action_detail = "action must be \"allow\" or \"block\"";
inline constexpr std::string_view match_type_detail = "match_type must be \"exact_number\" or \"prefix\"";

struct new_api_key_request {
    std::string label; // "" when absent or null
    engine::uuid scoped_identity_id;
};

// Reads a POST /api-keys body: label, scoped_identity_id (required). Returns
// false with the 422 detail of the first bad field.
bool read_new_api_key(const engine::json_object& doc, new_api_key_request& out, std::string& detail);

} // namespace callgate::config_api
