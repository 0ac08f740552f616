#pragma once

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

using log_field = std::pair<std::string_view, std::string_view>;

// Writes one line to stderr: time, level, event and key=value fields.
// Thread-safe; lines never interleave. Never pass secrets as fields.
void log(log_level level, std::string_view event, std::initializer_list<log_field> fields = {});

} // namespace callgate::net
