#pragma once

#include <array>
#include <optional>
#include <cstddef>
#include <string_view>

namespace callgate::dispatch {

// Every way a call decision can end, with its action, source and reason as
// dispatch.md and edge-protocol.md name them.
enum class outcome : std::size_t {
    answer_config,
    answer_webhook,
    auto_reject,
    no_config,
    unknown_identity,
    unknown_number,
    webhook_rejected,
    webhook_timeout,
    webhook_error,
    webhook_blocked,
    overloaded,
    client_unreachable,
    client_blocked,
    unsupported_media_format,
    // The webhook could not decide and the action's fallback answered.
    answer_fallback_timeout,
    answer_fallback_error,
    answer_fallback_overloaded,
    contact_blocked, // the caller is blocked by the identity's contact rules
    count_
};

struct outcome_labels {
    std::string_view action; // "answer" or "reject"
    std::string_view source; // "config", "webhook" or "engine"
    std::string_view reason; // "" for an answer
};

// Indexed by outcome; a table at namespace scope, so a lookup is a load, not
// a copy of the table onto the stack.
inline constexpr std::array<outcome_labels, static_cast<std::size_t>(outcome::count_)> outcome_label_table{{
    {"answer", "config", ""},
    {"answer", "webhook", ""},
    {"reject", "config", "auto_reject"},
    {"reject", "engine", "no_config"},
    {"reject", "engine", "unknown_identity"},
    {"reject", "engine", "unknown_number"},
    {"reject", "webhook", "webhook_rejected"},
    {"reject", "webhook", "webhook_timeout"},
    {"reject", "webhook", "webhook_error"},
    {"reject", "webhook", "webhook_blocked"},
    {"reject", "engine", "overloaded"},
    {"reject", "engine", "client_unreachable"},
    {"reject", "engine", "client_blocked"},
    {"reject", "engine", "unsupported_media_format"},
    {"answer", "fallback", "webhook_timeout"},
    {"answer", "fallback", "webhook_error"},
    {"answer", "fallback", "overloaded"},
    {"reject", "config", "contact_blocked"},
}};

constexpr outcome_labels labels_of(outcome o) { return outcome_label_table[static_cast<std::size_t>(o)]; }

constexpr bool is_answer(outcome o) { return labels_of(o).action == "answer"; }

// The fallback answer for a webhook that could not decide; nullopt for a
// webhook outcome that decided (answer, reject, blocked destination).
constexpr std::optional<outcome> fallback_for(outcome webhook)
{
    switch (webhook) {
    case outcome::webhook_timeout: return outcome::answer_fallback_timeout;
    case outcome::webhook_error: return outcome::answer_fallback_error;
    case outcome::overloaded: return outcome::answer_fallback_overloaded;
    default: return std::nullopt;
    }
}

} // namespace callgate::dispatch
