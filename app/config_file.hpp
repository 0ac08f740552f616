#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace callgate::app {

// One `key = value` line of a config file.
struct config_entry {
    std::string key;
    std::string value;
    int line = 0; // 1-based
};

// Parses a config file: the subset of TOML (and of INI) that flat settings
// need. Per line: nothing, a comment (`#` or `;`), or `key = value` where the
// key is [a-z0-9-] and the value is
//   - a basic string "…" (escapes \" \\ \t \n \uXXXX), or a literal string '…';
//   - or bare text (a number, true/false, a size like 256MiB), up to a `#`
//     that follows a space.
// Text after a closing quote may only be a comment. Sections, arrays, a
// repeated key, a control character and text over `max_bytes` are errors.
// Returns false with "LINE: what" in `error`.
bool parse_config_text(std::string_view text, std::vector<config_entry>& out, std::string& error,
                       std::size_t max_bytes = 1 << 20);

// Reads `path` (at most 1 MiB) and parses it; `error` is "PATH:LINE: what"
// or "cannot read PATH: why".
bool read_config_file(const std::string& path, std::vector<config_entry>& out, std::string& error);

} // namespace callgate::app
