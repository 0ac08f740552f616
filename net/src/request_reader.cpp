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

whole_request parse_whole_request(request_store& store, std::string_view input, std::size_t header_limit,
                                  std::size_t body_limit)
{
    request_reader parser(store);
    parser.header_limit(static_cast<std::uint32_t>(header_limit));
    parser.body_limit(body_limit);
    parser.eager(true);
    std::size_t used = 0;
    while (!parser.is_done()) {
        boost::beast::error_code ec;
        std::size_t n = parser.put(boost::asio::const_buffer(input.data() + used, input.size() - used), ec);
        used += n;
        if (ec || n == 0)
            return {};
    }
    return {used, parser.chunked(), parser.keep_alive()};
}

} // namespace callgate::net::detail
