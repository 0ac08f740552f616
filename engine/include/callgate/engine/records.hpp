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

struct identity_record {
    uuid id;
    std::string agent_handle;
    std::optional<std::string> display_name;
    std::optional<std::string> phone_number;
    std::int64_t created_at_us = 0;
    std::int64_t updated_at_us = 0;
};

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

// API representations, written into an open writer.
void write_identity(json_writer& w, const identity_record& r);
void write_incoming_call_action(json_writer& w, const uuid& identity_id,
                                const incoming_call_action& a);
void write_api_key(json_writer& w, const api_key_record& k);

} // namespace callgate::engine
