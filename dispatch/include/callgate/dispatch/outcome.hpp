#pragma once

#include <array>
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
    count_
};

struct outcome_labels {
    std::string_view action; // "answer" or "reject"
    std::string_view source; // "config", "webhook" or "engine"
    std::string_view reason; // "" for an answer
};

constexpr outcome_labels labels_of(outcome o)
{
    constexpr std::array<outcome_labels, static_cast<std::size_t>(outcome::count_)> table{{
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
    }};
    return table[static_cast<std::size_t>(o)];
}

constexpr bool is_answer(outcome o) { return o == outcome::answer_config || o == outcome::answer_webhook; }

} // namespace callgate::dispatch
