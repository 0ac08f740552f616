#include "callgate/engine/json_writer.hpp"

#include "callgate/codec/decimal.hpp"
#include "callgate/codec/json_string.hpp"
#include "callgate/engine/uuid.hpp"

namespace callgate::engine {

void append_json_string(std::string& out, std::string_view text)
{
    out.reserve(out.size() + text.size() + 2);
    out.push_back('"');
    codec::append_json_escaped(out, text);
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
