#pragma once

#include <string>
#include <string_view>

namespace callgate::net::detail {

// Appends `text` escaped for the inside of a JSON string literal (quotes,
// backslashes and control characters; other bytes as they are).
void append_json_escaped(std::string& out, std::string_view text);

} // namespace callgate::net::detail
