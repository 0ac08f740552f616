#include "callgate/config_api/api_router.hpp"

#include "request_context.hpp"
#include "route_handlers.hpp"
#include "route_table.hpp"

#include "callgate/engine/validation.hpp"

namespace callgate::config_api {

namespace asio = boost::asio;
using net::http_request;
using net::http_response;

namespace {

using enum route_access;

// The config API, one row a route. Dispatch, 405 with its Allow header (the
// methods of a path in this order), routes() and so the OpenAPI test all
// come from here. Handlers live in routes_<resource>.cpp.
constexpr route api_routes[] = {
    // method   path                                        access       handler
    {"GET",    "/incoming-call-action",                     any_key,     get_action},
    {"PUT",    "/incoming-call-action",                     any_key,     put_action},
    {"DELETE", "/incoming-call-action",                     any_key,     delete_action},
    {"GET",    "/identities",                               admin_only,  list_identities},
    {"POST",   "/identities",                               admin_only,  create_identity},
    {"GET",    "/identities/{agent_handle}",                any_key,     get_identity},
    {"PATCH",  "/identities/{agent_handle}",                admin_only,  patch_identity},
    {"DELETE", "/identities/{agent_handle}",                admin_only,  delete_identity},
    {"GET",    "/identities/{agent_handle}/signing-key",    any_key,     get_signing_key_status},
    {"POST",   "/identities/{agent_handle}/signing-key",    any_key,     rotate_signing_key},
    {"POST",   "/identities/{agent_handle}/phone-contact-rules",      any_key,    create_contact_rule},
    {"GET",    "/identities/{agent_handle}/phone-contact-rules",      any_key,    list_contact_rules},
    {"GET",    "/identities/{agent_handle}/phone-contact-rules/{id}", any_key,    get_contact_rule},
    {"PATCH",  "/identities/{agent_handle}/phone-contact-rules/{id}", admin_only, patch_contact_rule},
    {"DELETE", "/identities/{agent_handle}/phone-contact-rules/{id}", admin_only, delete_contact_rule},
    {"GET",    "/phone/contact-rules",                      admin_only,  list_org_contact_rules},
    {"GET",    "/api-keys",                                 admin_only,  list_api_keys},
    {"POST",   "/api-keys",                                 admin_only,  create_api_key},
    {"GET",    "/api-keys/self",                            any_key,     get_own_api_key},
    {"DELETE", "/api-keys/{id}",                            admin_only,  revoke_api_key},
    {"GET",    "/calls",                                    any_key,     list_calls},
    {"GET",    "/calls/{id}",                               any_key,     get_call},
    {"GET",    "/cluster/nodes",                            admin_only,  list_cluster_nodes},
    {"GET",    "/healthz",                                  open,        get_health},
    {"GET",    "/readyz",                                   open,        get_readiness},
    {"GET",    "/metrics",                                  open,        get_metrics},
    {"GET",    "/openapi.json",                             open,        get_openapi_document},
};

const route_table& table()
{
    static const route_table built{api_routes};
    return built;
}

// Every route also answers under these prefixes, with Inkbox's response
// shapes (inkbox-compat.md); the handlers are the same.
struct path_prefix {
    std::string_view prefix;
    api_view view;
};
constexpr path_prefix prefixes[] = {
    {"/api/v1/phone", api_view::inkbox},
    {"/api/v1", api_view::inkbox},
};

// Strips a known prefix from `path` and says which view it selects.
api_view strip_prefix(std::string_view& path)
{
    for (const auto& [prefix, view] : prefixes) {
        if (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/')) {
            path.remove_prefix(prefix.size());
            return view;
        }
    }
    return api_view::native;
}

// For a keyed route: 401, 403 admin-only, the query string (400, 422); then
// the handler with its own checks.
asio::awaitable<http_response> serve(const route& found, request_context& ctx, std::optional<std::string_view> query)
{
    if (found.access == route_access::open)
        co_return co_await found.handler(ctx);

    if (auto e = co_await ctx.authenticate())
        co_return std::move(*e);
    if (found.access == route_access::admin_only && !ctx.admin())
        co_return net::json_error(403, "Admin API key required");
    if (query && !parse_query(*query, ctx.query))
        co_return net::json_error(400, "Malformed percent-encoding in query string");
    for (const auto& [k, v] : ctx.query.items)
        if (!engine::is_valid_utf8(k) || !engine::is_valid_utf8(v))
            co_return net::json_error(422, "Query parameters must be UTF-8");
    co_return co_await found.handler(ctx);
}

} // namespace

api_router::api_router(engine::config_service& service, engine::call_log& calls, asio::any_io_executor workers,
                       api_router_options options)
    : service_(service), calls_(calls), workers_(std::move(workers)), options_(std::move(options))
{
    table(); // a malformed table fails at start-up, not on the first request
}

// The checks in the order config-api.md fixes: path (400, 404, 405), then
// for keyed routes 401, 403 admin-only, the query string (400, 422), and the
// handler's own checks.
asio::awaitable<http_response> api_router::handle(http_request& request)
{
    std::string_view target = request.target();
    auto question = target.find('?');
    std::string_view path = target.substr(0, question);
    std::string_view unprefixed = path;
    api_view view = strip_prefix(path);
    route_match match;
    auto lookup = table().find(request.method(), path, match);
    // /api/v1/phone/contact-rules is /api/v1 + /phone/contact-rules (as
    // Inkbox's SDKs address it): when the longer prefix finds no path, the
    // shorter one is tried.
    if (lookup == route_lookup::no_such_path && unprefixed.starts_with("/api/v1/phone/")) {
        std::string_view shorter = unprefixed.substr(std::string_view("/api/v1").size());
        route_match again;
        if (auto second = table().find(request.method(), shorter, again); second != route_lookup::no_such_path) {
            path = shorter;
            match = again;
            lookup = second;
        }
    }
    switch (lookup) {
    case route_lookup::found: break;
    case route_lookup::malformed_path: co_return net::json_error(400, "Malformed percent-encoding in path");
    case route_lookup::no_such_path: co_return net::json_error(404, "Not Found");
    case route_lookup::method_not_allowed: {
        auto r = net::json_error(405, "Method Not Allowed");
        r.headers.emplace_back("Allow", std::string(match.allow));
        r.route = match.pattern;
        co_return r;
    }
    }
    request_context ctx{service_, calls_, workers_, options_, request, view, match.params, {}, nullptr};
    auto query = question == std::string_view::npos ? std::nullopt : std::optional(target.substr(question + 1));
    auto op = serve(*match.found, ctx, query);
    auto r = co_await std::move(op);
    r.route = match.pattern;
    co_return r;
}

std::vector<route_spec> api_router::routes()
{
    std::vector<route_spec> out;
    for (const auto& r : table().routes())
        out.push_back({r.method, r.pattern, r.access});
    return out;
}

} // namespace callgate::config_api
