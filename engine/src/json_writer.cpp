#include "callgate/engine/json_writer.hpp"

#include "callgate/codec/decimal.hpp"
#include "callgate/engine/uuid.hpp"

#include <algorithm>
#include <cstring>

namespace callgate::engine {

namespace {

constexpr std::uint64_t every_byte(std::uint8_t b) { return 0x0101010101010101ull * b; }

// Whether any of the eight bytes of `word` is under 0x20, '"' or '\\' (the
// bytes a JSON string must escape), without looking at them one by one: a
// byte is zero after the XOR exactly where it matched, and "minus one, and
// not before" sets the top bit of the first zero byte; bytes of 0x80 and
// above never match.
bool needs_escape(std::uint64_t word)
{
    auto zero_byte = [](std::uint64_t x) { return (x - every_byte(0x01)) & ~x & every_byte(0x80); };
    return ((word - every_byte(0x20)) & ~word & every_byte(0x80)) | zero_byte(word ^ every_byte('"')) |
           zero_byte(word ^ every_byte('\\'));
}

} // namespace

void append_json_string(std::string& out, std::string_view text)
{
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(out.size() + text.size() + 2);
    out.push_back('"');
    std::size_t run = 0; // the first byte not yet appended
    std::size_t i = 0;
    for (;;) {
        // Eight bytes at a time while none needs escaping (the usual case: ids, URLs, names).
        while (i + 8 <= text.size()) {
            std::uint64_t word;
            std::memcpy(&word, text.data() + i, 8);
            if (needs_escape(word))
                break;
            i += 8;
        }
        std::size_t stop = std::min(i + 8, text.size());
        for (; i < stop; ++i) {
            auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\')
                continue;
            out.append(text.data() + run, i - run);
            run = i + 1;
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0x0F]);
            }
        }
        if (i >= text.size())
            break;
    }
    out.append(text.data() + run, text.size() - run);
    out.push_back('"');
}

void json_writer::separate()
{
    if (need_comma_)
        out_.push_back(',');
}

json_writer& json_writer::begin_object()
{
    separate();
    out_.push_back('{');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_object()
{
    out_.push_back('}');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::begin_array()
{
    separate();
    out_.push_back('[');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_array()
{
    out_.push_back(']');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::key(std::string_view name)
{
    separate();
    append_json_string(out_, name);
    out_.push_back(':');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::value(std::string_view text)
{
    separate();
    append_json_string(out_, text);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(const uuid& id)
{
    separate();
    out_.push_back('"');
    id.append_to(out_);
    out_.push_back('"');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(const std::optional<std::string>& text)
{
    return text ? value(std::string_view{*text}) : null();
}

json_writer& json_writer::value(std::int64_t number)
{
    separate();
    codec::append_decimal(out_, number);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(bool flag)
{
    separate();
    out_ += flag ? "true" : "false";
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::null()
{
    separate();
    out_ += "null";
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::raw(std::string_view json)
{
    separate();
    out_ += json;
    need_comma_ = true;
    return *this;
}

} // namespace callgate::engine
