#include "callgate/dispatch/edge_router.hpp"

#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/edge_request_body.hpp"
#include "callgate/dispatch/media_bridge.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/net/async_glue.hpp"

namespace callgate::dispatch {

using net::http_response;
using net::json_response;

namespace {

constexpr std::string_view decide_path = "/v1/calls/decide";

bool is_json_or_absent(std::string_view type)
{
    return type.empty() || net::is_json_media_type(type);
}

// Reads a JSON body (64 KiB at most); on failure fills `failure`.
boost::asio::awaitable<bool> read_body(net::http_request& request, std::string& body, http_response& failure)
{
    auto length = request.content_length();
    if (length && *length > 64 * 1024) {
        failure = net::json_error(413, "Request body too large (limit 64 KiB)");
        co_return false;
    }
    if (!is_json_or_absent(request.header("Content-Type"))) {
        failure = net::json_error(415, "Content-Type must be application/json");
        co_return false;
    }
    auto status = co_await request.read_body(body);
    if (status == net::body_status::too_large) {
        failure = net::json_error(413, "Request body too large (limit 64 KiB)");
        co_return false;
    }
    if (status == net::body_status::failed) {
        failure = net::json_error(400, "Request body could not be read");
        failure.close = true;
        co_return false;
    }
    co_return true;
}

} // namespace

edge_router::edge_router(call_decider& decider, media_bridge* bridge, engine::clock_source& clock,
                         edge_router_options options)
    : decider_(decider), bridge_(bridge), clock_(clock), options_(std::move(options))
{
}

bool edge_router::token_allowed(std::string_view token) const
{
    bool ok = false;
    for (const auto& t : options_.tokens)
        ok = engine::constant_time_equal(t, token) || ok;
    return ok;
}

boost::asio::awaitable<http_response> edge_router::decide(net::http_request& request, net::path_params)
{
    http_response failure;
    std::string body;
    if (!co_await read_body(request, body, failure))
        co_return failure;
    call_event event;
    std::string detail;
    if (!read_decide_body(body, event, detail))
        co_return net::json_error(422, detail);
    event.request_id = std::string(request.request_id());
    event.lookups_counted = request.answer_now_declined();

    auto op = decider_.decide(std::move(event));
    auto d = co_await std::move(op);
    co_return json_response(200, decision_body(d));
}

net::ready_result edge_router::answer_now(const net::ready_request& request, http_response& out)
{
    using net::ready_result;
    if (request.method() != "POST" || request.target() != decide_path)
        return ready_result::elsewhere;
    std::string_view token = request.header("X-Edge-Token");
    if (token.empty() || !token_allowed(token) || !is_json_or_absent(request.header("Content-Type")) ||
        request.body().size() > 64 * 1024)
        return ready_result::declined;
    call_event event;
    std::string detail;
    if (!read_decide_body(request.body(), event, detail))
        return ready_result::declined;
    // No request id: only a webhook's log lines carry it, and a decision that
    // needs a webhook is declined here and made again by decide().
    auto d = decider_.try_decide(std::move(event));
    if (!d)
        return ready_result::declined;
    out = json_response(200, decision_body(*d));
    out.route = decide_path;
    return ready_result::answered;
}

boost::asio::awaitable<http_response> edge_router::update_status(net::http_request& request, net::path_params params)
{
    http_response failure;
    std::string body;
    if (!co_await read_body(request, body, failure))
        co_return failure;
    status_update update;
    std::string detail;
    if (!read_status_body(body, update, detail))
        co_return net::json_error(422, detail);
    auto status = update.status;
    auto hangup = update.hangup;
    auto id = engine::uuid::parse(params["call_id"]);
    if (!id)
        co_return net::json_error(404, "Call not found");
    auto now = clock_.now_us();
    auto change = [status, hangup, now](engine::call_record& r) {
        r.status = status;
        if (hangup)
            r.hangup = *hangup;
        if (status == engine::call_status::answered && r.started_at_us == 0)
            r.started_at_us = now;
        if (status != engine::call_status::answered && r.ended_at_us == 0)
            r.ended_at_us = now;
        return true;
    };
    auto target = *id;
    auto start = [this, target, change](auto done) { decider_.calls().update(target, change, done); };
    auto op = net::await_callback<engine::config_errc>(std::move(start));
    auto result = co_await std::move(op);
    if (result == engine::config_errc::no_config)
        co_return net::json_error(404, "Call not found");
    if (result == engine::config_errc::store_full) // the call goes on; only its record is not kept
        co_return net::json_error(507, "Insufficient storage");
    if (result != engine::config_errc::ok)
        co_return net::json_error(503, "Store unavailable, try again");
    http_response r;
    r.status = 204;
    co_return r;
}

boost::asio::awaitable<http_response> edge_router::health(net::http_request&, net::path_params)
{
    co_return json_response(200, "{\"status\":\"ok\"}");
}

boost::asio::awaitable<http_response> edge_router::readiness(net::http_request&, net::path_params)
{
    co_return net::readiness_response(options_.readiness ? options_.readiness() : net::readiness_report{});
}

boost::asio::awaitable<http_response> edge_router::api_document(net::http_request&, net::path_params)
{
    co_return json_response(200, openapi_document());
}

boost::asio::awaitable<http_response> edge_router::stream(net::http_request& request, net::path_params)
{
    if (bridge_ == nullptr)
        co_return net::json_error(404, "Not Found");
    if (!request.is_websocket_upgrade())
        co_return net::json_error(426, "WebSocket upgrade required");
    http_response upgrade;
    upgrade.websocket = [bridge = bridge_, id = std::string(request.request_id())](net::ws_connection& ws) {
        return bridge->run(ws, id);
    };
    co_return upgrade;
}

boost::asio::awaitable<http_response> edge_router::metrics(net::http_request&, net::path_params)
{
    http_response r;
    r.body = options_.render_metrics ? options_.render_metrics() : std::string{};
    r.content_type = net::metrics_content_type;
    co_return r;
}

struct edge_router::route {
    std::string_view method;
    std::string_view pattern; // a {name} segment matches any non-empty one
    edge_access access;
    boost::asio::awaitable<http_response> (edge_router::*handler)(net::http_request&, net::path_params);
};

// The edge listener, one row a route. Dispatch, 405 with its Allow header,
// routes() and so the OpenAPI test all come from here.
const net::route_table<edge_router::route>& edge_router::table()
{
    using enum edge_access;
    static constexpr route rows[] = {
        // method  path                            access      handler
        {"POST",   decide_path,                    edge_token, &edge_router::decide},
        {"POST",   "/v1/calls/{call_id}/status",   edge_token, &edge_router::update_status},
        {"GET",    "/v1/calls/stream",             edge_token, &edge_router::stream},
        {"GET",    "/healthz",                     open,       &edge_router::health},
        {"GET",    "/readyz",                      open,       &edge_router::readiness},
        {"GET",    "/openapi.json",                open,       &edge_router::api_document},
        {"GET",    "/metrics",                     edge_token, &edge_router::metrics},
    };
    static const net::route_table<route> built{rows};
    return built;
}

std::vector<edge_route_spec> edge_router::routes()
{
    std::vector<edge_route_spec> out;
    for (const auto& r : table().routes())
        out.push_back({r.method, r.pattern, r.access});
    return out;
}

// The checks every edge request goes through, in this order: the path (400
// for a bad percent escape, 404), the method (405 with Allow), the edge token
// (401) on every route but the open ones, then the handler's own.
boost::asio::awaitable<http_response> edge_router::handle(net::http_request& request)
{
    std::string_view target = request.target();
    net::route_match<route> match;
    auto lookup = table().find(request.method(), target.substr(0, target.find('?')), match);
    auto op = serve(request, lookup, match);
    auto r = co_await std::move(op);
    r.route = match.pattern; // empty when no route matched: "unmatched" in logs and metrics
    co_return r;
}

boost::asio::awaitable<http_response> edge_router::serve(net::http_request& request, net::route_lookup lookup,
                                                         const net::route_match<route>& match)
{
    switch (lookup) {
    case net::route_lookup::found: break;
    case net::route_lookup::malformed_path: co_return net::json_error(400, "Malformed percent-encoding in path");
    case net::route_lookup::no_such_path: co_return net::json_error(404, "Not Found");
    case net::route_lookup::method_not_allowed: {
        auto r = net::json_error(405, "Method Not Allowed");
        r.headers.emplace_back("Allow", std::string(match.allow));
        co_return r;
    }
    }
    const route& found = *match.found;
    if (found.access == edge_access::edge_token) {
        std::string_view token = request.header("X-Edge-Token");
        // Prometheus sends its scrape credentials as "Authorization: Bearer <token>".
        if (token.empty() && found.handler == &edge_router::metrics)
            token = net::bearer_token(request.header("Authorization"));
        if (token.empty())
            co_return net::json_error(401, "Missing edge token");
        if (!token_allowed(token))
            co_return net::json_error(401, "Invalid edge token");
    }
    auto op = (this->*found.handler)(request, match.params);
    co_return co_await std::move(op);
}

} // namespace callgate::dispatch
