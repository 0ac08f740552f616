#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgate::net {

// Whether every '%' in `text` starts a two-hex-digit escape.
bool is_valid_percent_encoding(std::string_view text);

// Percent-decodes `in` into `out`; with `plus_is_space` (query strings) '+'
// is a space. False on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

// Whether `encoded` decodes to `plain` ('+' is not a space), without building
// the decoded string. False on a bad escape.
bool decodes_to(std::string_view encoded, std::string_view plain);

// The decoded name=value pairs of a query string, in order.
struct query_params {
    std::vector<std::pair<std::string, std::string>> items;

    // The value of the first pair named `key`, or null.
    const std::string* find(std::string_view key) const;
};

// Parses `query` (after the '?'), appending to `out`. False on a bad escape.
bool parse_query(std::string_view query, query_params& out);

} // namespace callgate::net
