#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace callgate::engine {

struct uuid;

// Appends `text` to `out` as a JSON string literal, quotes included, escaping
// '"', '\\' and control characters. `text` must be valid UTF-8 (checked at input).
void append_json_string(std::string& out, std::string_view text);

// A small streaming JSON writer producing compact output. The caller is
// responsible for well-formed nesting; commas are inserted automatically.
class json_writer {
public:
    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(std::string_view name);
    json_writer& value(std::string_view text);
    json_writer& value(const char* text) { return value(std::string_view{text}); }
    json_writer& value(const std::string& text) { return value(std::string_view{text}); }
    json_writer& value(const std::optional<std::string>& text);
    // The canonical text form, written in place (no escaping: hex and dashes).
    json_writer& value(const uuid& id);
    json_writer& value(std::int64_t number);
    json_writer& value(bool flag);
    json_writer& null();
    // Inserts already-encoded JSON.
    json_writer& raw(std::string_view json);

    template <class T>
    json_writer& field(std::string_view name, const T& v)
    {
        key(name);
        return value(v);
    }

    void reserve(std::size_t bytes) { out_.reserve(bytes); }
    const std::string& str() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void separate();

    std::string out_;
    bool need_comma_ = false;
};

} // namespace callgate::engine
