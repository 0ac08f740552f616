#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace callgate::engine {

struct uuid;

// Appends `text` to `out` as a JSON string literal, quotes included, escaping
// '"', '\\' and control characters. `text` must be valid UTF-8 (checked at input).
void append_json_string(std::string& out, std::string_view text);

// An object key written as a literal in the source: checked while compiling
// to need no escaping, so the writer copies it as it is. (Keys from data go
// through json_writer::key's other overload, which escapes.)
class json_key {
public:
    template <std::size_t N>
    consteval json_key(const char (&name)[N]) : name_(name, N - 1)
    {
        for (char c : name_)
            if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
                throw "a JSON key literal must not need escaping";
    }
    std::string_view view() const { return name_; }

private:
    std::string_view name_;
};

// Text that is not a key literal: escaped when written as a key.
template <class S>
concept json_text = std::convertible_to<const S&, std::string_view> && !std::is_array_v<S>;

// A small streaming JSON writer producing compact output. The caller is
// responsible for well-formed nesting; commas are inserted automatically.
class json_writer {
public:
    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(json_key name);
    template <json_text S>
    json_writer& key(const S& name)
    {
        return escaped_key(std::string_view{name});
    }
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
    json_writer& field(json_key name, const T& v)
    {
        key(name);
        return value(v);
    }
    template <json_text S, class T>
    json_writer& field(const S& name, const T& v)
    {
        key(name);
        return value(v);
    }

    void reserve(std::size_t bytes)
    {
        if (bytes > out_.size())
            out_.resize(bytes);
    }
    std::string_view str() const { return {out_.data(), size_}; }
    std::string take()
    {
        out_.resize(size_);
        size_ = 0;
        return std::move(out_);
    }

private:
    // Room for `n` more bytes at the end; the caller writes them and adds
    // them to size_. out_ is sized ahead (its bytes past size_ are scratch),
    // so a write is a copy, not a std::string append with its checks.
    char* room(std::size_t n);
    void put(char c) { *room(1) = c, ++size_; }
    void put(std::string_view text);
    void separate();
    json_writer& escaped_key(std::string_view name);
    // `before` (a comma, or 0 for none), `text` as a JSON string, `after` (or 0).
    void quoted(char before, std::string_view text, char after);

    std::string out_;
    std::size_t size_ = 0; // the bytes of out_ written so far
    bool need_comma_ = false;
};

} // namespace callgate::engine
