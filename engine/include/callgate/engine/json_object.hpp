#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::engine {

enum class json_type { null, boolean, integer, number, string, object, array };

// A field of a parsed JSON object. Scalars carry their value; nested objects
// keep their members in `children` (arrays keep only their type).
struct json_field {
    std::string name;
    json_type type = json_type::null;
    std::string text;      // string value
    std::int64_t integer = 0;
    double number = 0;
    bool boolean = false;
    std::vector<json_field> children; // members of a nested object

    const json_field* find(std::string_view key) const;
};

enum class json_parse_error {
    ok,
    invalid,        // not JSON (syntax), or nesting too deep
    invalid_utf8,   // bytes that are not UTF-8
    not_an_object,  // valid JSON whose top level is not an object
};

// A JSON object parsed from untrusted bytes with simdjson's error-code API.
// Never throws for bad input. Keys are looked up by exact match; for a
// duplicated key the first occurrence wins.
class json_object {
public:
    json_parse_error parse(std::string_view body);
    const json_field* find(std::string_view key) const { return root_.find(key); }
    const std::vector<json_field>& fields() const { return root_.children; }

private:
    json_field root_;
};

// One top-level field picked out by parse_fields().
struct picked_field {
    bool present = false;
    json_type type = json_type::null;
    std::string text; // for strings
};

// For hot paths: parses a JSON object and copies out only the top-level
// fields named in `keys` (out[i] for keys[i]), without building a tree.
// Same validation and errors as json_object::parse.
json_parse_error parse_fields(std::string_view body, std::span<const std::string_view> keys,
                              std::span<picked_field> out);

} // namespace callgate::engine
