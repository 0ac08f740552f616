#include "callgate/dispatch/edge_router.hpp"

#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/edge_request_body.hpp"
#include "callgate/dispatch/media_bridge.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/net/async_glue.hpp"


namespace callgate::dispatch {

using net::http_response;
using net::json_response;

namespace {

// The edge listener's routes, as the access log and metrics name them.
constexpr std::string_view healthz_route = "/healthz";
constexpr std::string_view readyz_route = "/readyz";
constexpr std::string_view metrics_route = "/metrics";
constexpr std::string_view decide_route = "/v1/calls/decide";
constexpr std::string_view status_route = "/v1/calls/{call_id}/status";
constexpr std::string_view stream_route = "/v1/calls/stream";

bool is_json_or_absent(std::string_view type)
{
    if (type.empty())
        return true;
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ')
        type.remove_suffix(1);
    if (type.size() != 16)
        return false;
    for (std::size_t i = 0; i < 16; ++i)
        if (std::tolower(static_cast<unsigned char>(type[i])) != "application/json"[i])
            return false;
    return true;
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

boost::asio::awaitable<http_response> edge_router::decide(net::http_request& request)
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

    auto op = decider_.decide(std::move(event));
    auto d = co_await std::move(op);
    auto labels = labels_of(d.kind);
    engine::json_writer w;
    w.reserve(512);
    w.begin_object().field("call_id", d.call.call_id.to_string()).key("agent_identity_id");
    if (d.agent_identity_id)
        w.value(d.agent_identity_id->to_string());
    else
        w.null();
    w.field("action", labels.action).field("source", labels.source);
    if (is_answer(d.kind)) {
        w.field("client_websocket_url", d.client_websocket_url).key("client_websocket_headers").begin_object();
        for (const auto& [name, value] : d.client_headers)
            w.field(name, value);
        w.end_object();
        if (!labels.reason.empty()) // a fallback answer says which webhook failure it stands in for
            w.field("reason", labels.reason);
    } else {
        w.field("reason", labels.reason);
    }
    w.field("decided_in_us", d.decided_in_us).end_object();
    co_return json_response(200, w.take());
}

boost::asio::awaitable<http_response> edge_router::update_status(net::http_request& request, std::string call_id)
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
    auto id = engine::uuid::parse(call_id);
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

// The pattern `path` matches ("" for none) and, for the status route, its call id.
std::string_view edge_router::match_route(std::string_view path, std::string& call_id) const
{
    for (std::string_view fixed : {healthz_route, readyz_route, metrics_route, decide_route})
        if (path == fixed)
            return fixed;
    if (path == stream_route)
        return bridge_ != nullptr ? stream_route : std::string_view{};
    constexpr std::string_view calls_prefix = "/v1/calls/", status_suffix = "/status";
    if (path.starts_with(calls_prefix) && path.ends_with(status_suffix) &&
        path.size() > calls_prefix.size() + status_suffix.size()) {
        auto id = path.substr(calls_prefix.size(), path.size() - calls_prefix.size() - status_suffix.size());
        if (id.find('/') == std::string_view::npos) {
            call_id = std::string(id);
            return status_route;
        }
    }
    return {};
}

std::vector<std::string_view> edge_router::routes()
{
    return {healthz_route, readyz_route, metrics_route, decide_route, status_route, stream_route};
}

boost::asio::awaitable<http_response> edge_router::handle(net::http_request& request)
{
    std::string_view target = request.target();
    std::string call_id;
    auto route = match_route(target.substr(0, target.find('?')), call_id);
    auto op = serve(request, route, std::move(call_id));
    auto r = co_await std::move(op);
    r.route = route;
    co_return r;
}

boost::asio::awaitable<http_response> edge_router::serve(net::http_request& request, std::string_view route,
                                                         std::string call_id)
{
    std::string_view method = request.method();
    if (route.empty())
        co_return net::json_error(404, "Not Found");
    if (route == healthz_route || route == readyz_route) {
        if (method != "GET") {
            auto r = net::json_error(405, "Method Not Allowed");
            r.headers.emplace_back("Allow", "GET");
            co_return r;
        }
        if (route == healthz_route)
            co_return json_response(200, "{\"status\":\"ok\"}");
        co_return net::readiness_response(options_.readiness ? options_.readiness() : net::readiness_report{});
    }
    // The method, then the edge token: the checks every edge route makes first.
    auto refuse = [&](std::string_view allowed) -> std::optional<http_response> {
        if (method != allowed) {
            auto r = net::json_error(405, "Method Not Allowed");
            r.headers.emplace_back("Allow", std::string(allowed));
            return r;
        }
        std::string_view token = request.header("X-Edge-Token");
        // Prometheus sends its scrape credentials as "Authorization: Bearer <token>".
        if (token.empty() && route == metrics_route)
            token = net::bearer_token(request.header("Authorization"));
        if (token.empty())
            return net::json_error(401, "Missing edge token");
        if (!token_allowed(token))
            return net::json_error(401, "Invalid edge token");
        return std::nullopt;
    };
    if (route == metrics_route) {
        if (auto refused = refuse("GET"))
            co_return std::move(*refused);
        http_response r;
        r.body = options_.render_metrics ? options_.render_metrics() : std::string{};
        r.content_type = net::metrics_content_type;
        co_return r;
    }
    if (route == stream_route) {
        if (auto refused = refuse("GET"))
            co_return std::move(*refused);
        if (!request.is_websocket_upgrade())
            co_return net::json_error(426, "WebSocket upgrade required");
        http_response upgrade;
        upgrade.websocket = [bridge = bridge_, id = std::string(request.request_id())](net::ws_connection& ws) {
            return bridge->run(ws, id);
        };
        co_return upgrade;
    }
    if (auto refused = refuse("POST"))
        co_return std::move(*refused);
    if (route == decide_route) {
        auto op = decide(request);
        co_return co_await std::move(op);
    }
    auto op = update_status(request, std::move(call_id));
    co_return co_await std::move(op);
}

} // namespace callgate::dispatch
