// The open routes: liveness, readiness, metrics and the API document.
#include "route_handlers.hpp"

#include "request_context.hpp"

namespace callgate::config_api {

namespace asio = boost::asio;
using net::http_response;

asio::awaitable<http_response> get_health(request_context&)
{
    co_return net::json_response(200, "{\"status\":\"ok\"}");
}

asio::awaitable<http_response> get_readiness(request_context& ctx)
{
    const auto& readiness = ctx.options.readiness;
    co_return net::readiness_response(readiness ? readiness() : net::readiness_report{});
}

asio::awaitable<http_response> get_metrics(request_context& ctx)
{
    http_response r;
    r.body = ctx.options.render_metrics ? ctx.options.render_metrics() : std::string{};
    r.content_type = net::metrics_content_type;
    co_return r;
}

asio::awaitable<http_response> get_openapi_document(request_context&)
{
    co_return net::json_response(200, api_router::openapi_document());
}

} // namespace callgate::config_api
