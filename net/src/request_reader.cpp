#include "request_reader.hpp"

#include <boost/beast/core/string.hpp>

namespace callgate::net::detail {

std::string_view request_store::header(std::string_view name) const
{
    for (const auto& f : fields_)
        if (f.name_size == name.size() &&
            boost::beast::iequals(view(f.name_at, f.name_size), boost::beast::string_view(name.data(), name.size())))
            return value(f);
    return {};
}

std::string_view request_store::header(boost::beast::http::field id) const
{
    for (const auto& f : fields_)
        if (f.id == id)
            return value(f);
    return {};
}

} // namespace callgate::net::detail
