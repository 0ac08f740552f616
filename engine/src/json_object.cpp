#include "callgate/engine/json_object.hpp"

#include <simdjson.h>

#include <cstring>
#include <vector>

namespace callgate::engine {
namespace {

constexpr int max_depth = 8;

// One parser per thread, reused across requests; never shared.
simdjson::dom::parser& thread_parser()
{
    thread_local simdjson::dom::parser parser;
    return parser;
}

void convert(simdjson::dom::element element, json_field& out, int depth)
{
    using simdjson::dom::element_type;
    switch (element.type()) {
    case element_type::NULL_VALUE: out.type = json_type::null; break;
    case element_type::BOOL:
        out.type = json_type::boolean;
        out.boolean = element.get_bool().value_unsafe();
        break;
    case element_type::INT64:
        out.type = json_type::integer;
        out.integer = element.get_int64().value_unsafe();
        out.number = static_cast<double>(out.integer);
        break;
    case element_type::UINT64:
        out.type = json_type::number;
        out.number = static_cast<double>(element.get_uint64().value_unsafe());
        break;
    case element_type::DOUBLE:
        out.type = json_type::number;
        out.number = element.get_double().value_unsafe();
        break;
    case element_type::STRING:
        out.type = json_type::string;
        out.text = std::string(element.get_string().value_unsafe());
        break;
    case element_type::ARRAY: out.type = json_type::array; break;
    case element_type::OBJECT:
        out.type = json_type::object;
        if (depth >= max_depth)
            break;
        simdjson::dom::object object;
        if (element.get_object().get(object) != simdjson::SUCCESS)
            break;
        for (auto [key, value] : object) {
            json_field child;
            child.name = std::string(key);
            convert(value, child, depth + 1);
            out.children.push_back(std::move(child));
        }
        break;
    }
}

} // namespace

const json_field* json_field::find(std::string_view key) const
{
    for (const auto& child : children)
        if (child.name == key)
            return &child;
    return nullptr;
}

namespace {

// Parses untrusted bytes with this thread's parser into a top-level object.
// The object stays valid until the thread's next parse.
json_parse_error parse_object(std::string_view body, simdjson::dom::object& object)
{
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: the bytes go
    // into a buffer this thread keeps (one copy, no allocation per parse).
    // The parsed document does not point into it, so a buffer grown past
    // what requests and frames usually take is let go after the parse.
    constexpr std::size_t kept_bytes = 64 * 1024;
    thread_local std::vector<char> padded;
    if (padded.size() < body.size() + simdjson::SIMDJSON_PADDING)
        padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    if (!body.empty())
        std::memcpy(padded.data(), body.data(), body.size());
    std::memset(padded.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    simdjson::dom::element element;
    auto error = thread_parser().parse(padded.data(), body.size(), false).get(element);
    if (padded.size() > kept_bytes)
        std::vector<char>().swap(padded);
    if (error == simdjson::UTF8_ERROR)
        return json_parse_error::invalid_utf8;
    if (error)
        return json_parse_error::invalid;
    if (element.get_object().get(object) != simdjson::SUCCESS)
        return json_parse_error::not_an_object;
    return json_parse_error::ok;
}

} // namespace

json_parse_error json_object::parse(std::string_view body)
{
    root_ = {};
    simdjson::dom::object object;
    if (auto e = parse_object(body, object); e != json_parse_error::ok)
        return e;
    root_.type = json_type::object;
    for (auto [key, value] : object) {
        json_field child;
        child.name = std::string(key);
        convert(value, child, 1);
        root_.children.push_back(std::move(child));
    }
    return json_parse_error::ok;
}

json_parse_error parse_fields(std::string_view body, std::span<const std::string_view> keys,
                              std::span<picked_field> out)
{
    for (auto& f : out)
        f = {};
    simdjson::dom::object object;
    if (auto e = parse_object(body, object); e != json_parse_error::ok)
        return e;
    for (auto [key, value] : object) {
        for (std::size_t i = 0; i < keys.size() && i < out.size(); ++i) {
            if (key != keys[i] || out[i].present)
                continue;
            json_field converted;
            out[i].present = true;
            if (value.type() == simdjson::dom::element_type::STRING) {
                out[i].type = json_type::string;
                out[i].text = std::string(value.get_string().value_unsafe());
            } else {
                convert(value, converted, max_depth); // the type only, no children
                out[i].type = converted.type;
            }
        }
    }
    return json_parse_error::ok;
}

} // namespace callgate::engine
