#pragma once

#include <string>
#include <vector>

namespace callgate::app {

// Reads an edge token file: one token a line; blank lines and lines starting
// with '#' are skipped, surrounding blanks trimmed. False with one line in
// `error` when the file cannot be read or holds no token.
bool read_edge_token_file(const std::string& path, std::vector<std::string>& tokens, std::string& error);

} // namespace callgate::app
