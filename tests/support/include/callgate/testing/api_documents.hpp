#pragma once

// Reading the API documents (OpenAPI, AsyncAPI) that tests check against the code.

#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace callgate::testing {

// The operations an OpenAPI document declares, as ("GET", "/healthz") pairs.
// Empty when the document does not parse or has no paths.
std::set<std::pair<std::string, std::string>> openapi_operations(std::string_view document);

// `path` with every {name} segment replaced by `value`: a target to request.
std::string sample_target(std::string_view path, std::string_view value = "x");

// The text of a file in the source tree, e.g. "docs/asyncapi.json"; empty if unreadable.
std::string read_source_file(std::string_view relative_path);

} // namespace callgate::testing
