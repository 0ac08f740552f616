#include "callgate/engine/json_writer.hpp"

#include "callgate/codec/json_string.hpp"
#include "callgate/engine/uuid.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace callgate::engine {

namespace {

// `text` from `p` on, escaped when `extra` (json_escaped_extra(text)) says it
// needs to be, else copied (ids, URLs, numbers, names); returns its end.
char* write_text(char* p, std::string_view text, std::size_t extra)
{
    if (extra != 0)
        return codec::write_json_escaped(p, text);
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
}

} // namespace

void append_json_string(std::string& out, std::string_view text)
{
    std::size_t extra = codec::json_escaped_extra(text);
    std::size_t at = out.size();
    out.resize(at + text.size() + extra + 2);
    char* p = out.data() + at;
    *p++ = '"';
    p = write_text(p, text, extra);
    *p = '"';
}

char* json_writer::room(std::size_t n)
{
    if (out_.size() - size_ < n)
        out_.resize(std::max({out_.size() * 2, size_ + n, std::size_t{128}}));
    return out_.data() + size_;
}

void json_writer::put(std::string_view text)
{
    std::memcpy(room(text.size()), text.data(), text.size());
    size_ += text.size();
}

void json_writer::separate()
{
    if (need_comma_)
        put(',');
}

void json_writer::quoted(char before, std::string_view text, char after)
{
    std::size_t extra = codec::json_escaped_extra(text);
    std::size_t n = (before != 0) + text.size() + extra + 2 + (after != 0);
    char* p = room(n);
    if (before != 0)
        *p++ = before;
    *p++ = '"';
    p = write_text(p, text, extra);
    *p++ = '"';
    if (after != 0)
        *p = after;
    size_ += n;
}

json_writer& json_writer::begin_object()
{
    separate();
    put('{');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_object()
{
    put('}');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::begin_array()
{
    separate();
    put('[');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_array()
{
    put(']');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::key(json_key name)
{
    // "name": with its comma before when one is due; the name needs no escaping.
    std::string_view text = name.view();
    std::size_t n = need_comma_ + text.size() + 3;
    char* p = room(n);
    if (need_comma_)
        *p++ = ',';
    *p++ = '"';
    std::memcpy(p, text.data(), text.size());
    p += text.size();
    p[0] = '"';
    p[1] = ':';
    size_ += n;
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::escaped_key(std::string_view name)
{
    quoted(need_comma_ ? ',' : 0, name, ':');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::value(std::string_view text)
{
    quoted(need_comma_ ? ',' : 0, text, 0);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(const uuid& id)
{
    separate();
    char* p = room(38);
    *p = '"';
    id.write_to(p + 1);
    p[37] = '"';
    size_ += 38;
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
    char* p = room(20); // "-9223372036854775808"
    auto written = std::to_chars(p, p + 20, number);
    size_ += static_cast<std::size_t>(written.ptr - p);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(bool flag)
{
    separate();
    put(flag ? "true" : "false");
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::null()
{
    separate();
    put("null");
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::raw(std::string_view json)
{
    separate();
    put(json);
    need_comma_ = true;
    return *this;
}

} // namespace callgate::engine
