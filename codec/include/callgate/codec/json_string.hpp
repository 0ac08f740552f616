#pragma once

#include <string>
#include <string_view>

namespace callgate::codec {

// Appends `text` escaped for the inside of a JSON string literal (no quotes
// added): '"' and '\\' with a backslash, control characters as \n, \r, \t,
// \b, \f or \u00XX; every other byte as it is (`text` is UTF-8, checked where
// it came in). Shared by the engine's JSON writer and net's log lines and
// etcd requests.
void append_json_escaped(std::string& out, std::string_view text);

// The same in two steps, for a caller that sizes its output once: how many
// bytes escaping adds to `text`, then the escaped bytes written from `out`
// on (room for text.size() plus that many); returns where they end.
std::size_t json_escaped_extra(std::string_view text);
char* write_json_escaped(char* out, std::string_view text);

} // namespace callgate::codec
