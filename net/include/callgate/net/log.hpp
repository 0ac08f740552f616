#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace callgate::net {

enum class log_level { debug, info, warn, error };

// Sets the threshold and format (text or JSON lines) for the whole process.
// Call once at start-up, before other threads log.
void configure_logging(log_level threshold, bool json);
bool parse_log_level(std::string_view text, log_level& out);

bool log_enabled(log_level level);

// A field's value: text, an integer, a number or a boolean. JSON lines carry
// it as that JSON type. Text is viewed, not copied: it must outlive the log() call.
class log_value {
public:
    enum class kind { text, signed_integer, unsigned_integer, number, boolean };

    log_value(std::string_view text) : kind_(kind::text), text_(text) {}
    log_value(const std::string& text) : kind_(kind::text), text_(text) {}
    log_value(const char* text) : kind_(kind::text), text_(text) {}
    log_value(bool value) : kind_(kind::boolean), unsigned_(value ? 1 : 0) {}
    template <std::signed_integral T>
    log_value(T value) : kind_(kind::signed_integer), signed_(value)
    {
    }
    template <std::unsigned_integral T>
        requires(!std::same_as<T, bool>)
    log_value(T value) : kind_(kind::unsigned_integer), unsigned_(value)
    {
    }
    log_value(double value) : kind_(kind::number), number_(value) {}

    // Appends the value as JSON (a string literal, a number, true or false).
    void append_json(std::string& out) const;
    // Appends the value for a text line: a number or boolean as it is, text
    // quoted when it is empty or holds a space, '"', '=' or a control character.
    void append_text(std::string& out) const;

private:
    kind kind_;
    std::string_view text_;
    union {
        std::int64_t signed_;
        std::uint64_t unsigned_;
        double number_;
    };
};

using log_field = std::pair<std::string_view, log_value>;

// Writes one line to stderr: time, level, event (a stable snake_case name),
// msg (a sentence for a person) and the fields. JSON lines:
//   {"time":"…","level":"info","event":"ready","msg":"Serving","threads":2,…}
// text lines:
//   2026-01-01T00:00:00.000Z info ready msg="Serving" threads=2 …
// Thread-safe; lines never interleave; formatted in a buffer each thread
// reuses. Never pass secrets (keys, tokens, signatures) as fields.
void log(log_level level, std::string_view event, std::string_view msg, std::initializer_list<log_field> fields = {});

} // namespace callgate::net
