#pragma once

#include "callgate/engine/uuid.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace callgate::engine {

class json_writer;

enum class call_action { auto_accept, auto_reject, webhook };

std::string_view to_string(call_action action);
std::optional<call_action> parse_call_action(std::string_view text);

// An identity's incoming-call configuration (the seed's object, minus the id).
struct incoming_call_action {
    call_action action = call_action::auto_reject;
    std::optional<std::string> client_websocket_url;
    std::optional<std::string> incoming_call_webhook_url;
    // callgate's extension: with a webhook, answer with client_websocket_url
    // when the webhook could not decide (timeout, error, overloaded). Only
    // auto_accept is valid; nullopt keeps Inkbox's behaviour (reject).
    std::optional<call_action> incoming_call_fallback_action;

    friend bool operator==(const incoming_call_action&, const incoming_call_action&) = default;
};

// How an identity screens callers with its contact rules.
enum class phone_filter_mode {
    blacklist, // callers pass unless a block rule matches (the default)
    whitelist, // callers are blocked unless an allow rule matches
};
std::string_view to_string(phone_filter_mode m);
std::optional<phone_filter_mode> parse_phone_filter_mode(std::string_view text);

struct identity_record {
    uuid id;
    std::string agent_handle;
    std::optional<std::string> display_name;
    std::optional<std::string> phone_number;
    std::int64_t created_at_us = 0;
    std::int64_t updated_at_us = 0;
    phone_filter_mode filter_mode = phone_filter_mode::blacklist;
    std::optional<std::string> description;
    // When the identity got its current phone number (0: before callgate
    // recorded it; read as created_at_us).
    std::int64_t phone_number_since_us = 0;
};

// The id Inkbox's shape gives an identity's phone number: derived from the
// identity and the number, so it is stable while the identity keeps it.
uuid phone_number_id(const identity_record& r);

struct signing_key_record {
    std::string key; // "whsec_<base64>"
    std::int64_t created_at_us = 0;
};

enum class api_key_status { active, revoked };

struct api_key_record {
    uuid id;
    std::string label;
    std::optional<uuid> scoped_identity_id; // nullopt: an admin key
    api_key_status status = api_key_status::active;
    std::string last4;
    std::string hash; // 32 raw bytes of SHA-256(key)
    std::int64_t created_at_us = 0;

    bool is_admin() const { return !scoped_identity_id.has_value(); }
};

enum class rule_action { allow, block };
enum class match_type {
    exact_number, // the caller's number equals the target (E.164)
    prefix,       // the caller's number starts with the target (+ and 1-15 digits)
};
std::string_view to_string(rule_action a);
std::optional<rule_action> parse_rule_action(std::string_view text);
std::string_view to_string(match_type t);
std::optional<match_type> parse_match_type(std::string_view text);

// A phone contact rule of an identity, matched against the caller.
struct contact_rule {
    uuid id; // time-ordered (version 7): key order is creation order
    uuid identity_id;
    rule_action action = rule_action::block;
    match_type match = match_type::exact_number;
    std::string target;
    std::int64_t created_at_us = 0;
    std::int64_t updated_at_us = 0;
};

// Everything a call decision needs to know about one identity, as cached.
struct identity_snapshot {
    identity_record identity;
    std::optional<incoming_call_action> action;
    std::optional<signing_key_record> signing_key;
};
using snapshot_ptr = std::shared_ptr<const identity_snapshot>;

// Storage encodings (compact JSON). decode_* return false on a corrupt value.
std::string encode(const identity_record& r);
bool decode(std::string_view bytes, identity_record& out);
std::string encode(const incoming_call_action& a);
bool decode(std::string_view bytes, incoming_call_action& out);
std::string encode(const signing_key_record& k);
bool decode(std::string_view bytes, signing_key_record& out);
std::string encode(const api_key_record& k);
bool decode(std::string_view bytes, api_key_record& out);
std::string encode(const contact_rule& r);
bool decode(std::string_view bytes, contact_rule& out);

// API representations, written into an open writer.
void write_identity(json_writer& w, const identity_record& r);
// The native identity object with what only a snapshot knows (signing_key_configured).
void write_identity(json_writer& w, const identity_snapshot& s);
// Inkbox's identity object (under /api/v1): the phone number as an object
// with its incoming-call action, and the deployment's organization id.
void write_inkbox_identity(json_writer& w, const identity_snapshot& s, const uuid& organization_id);
void write_incoming_call_action(json_writer& w, const uuid& identity_id,
                                const incoming_call_action& a);
void write_api_key(json_writer& w, const api_key_record& k);
void write_contact_rule(json_writer& w, const contact_rule& r);

} // namespace callgate::engine
