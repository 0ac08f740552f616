// /incoming-call-action: an identity's incoming-call action (config-api.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/config_api/request_body.hpp"

namespace callgate::config_api {

namespace {

// The identity named by ?agent_identity_id=: required for an admin key, the
// key's own for a scoped one.
std::optional<net::http_response> identity_from_query(const request_context& ctx, std::optional<engine::uuid>& out)
{
    const std::string* given = ctx.query.find("agent_identity_id");
    if (given != nullptr && !given->empty()) {
        out = engine::uuid::parse(*given);
        if (!out)
            return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    if (!out && ctx.admin())
        return net::json_error(422, "agent_identity_id is required");
    return ctx.scope_to_caller(out);
}

net::http_response action_response(const engine::uuid& identity_id, const engine::incoming_call_action& action)
{
    engine::json_writer w;
    engine::write_incoming_call_action(w, identity_id, action);
    return net::json_response(200, w.take());
}

} // namespace

route_reply put_action(request_context& ctx)
{
    put_action_request parsed;
    auto read_fields = [&ctx](const engine::json_object& doc, put_action_request& out, std::string& detail) {
        return read_put_action(doc, ctx.admin(), ctx.options.allow_insecure_urls, out, detail);
    };
    auto read = ctx.read_body(parsed, read_fields);
    if (auto e = co_await std::move(read))
        co_return std::move(*e);
    if (auto e = ctx.scope_to_caller(parsed.agent_identity_id))
        co_return std::move(*e);
    auto id = *parsed.agent_identity_id;
    auto action = parsed.action;
    auto start = [&ctx, id, action](auto done) { ctx.service.put_action(id, action, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::incoming_call_action>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    co_return action_response(id, result.value);
}

route_reply get_action(request_context& ctx)
{
    std::optional<engine::uuid> id;
    if (auto e = identity_from_query(ctx, id))
        co_return std::move(*e);
    auto snap = co_await ctx.snapshot(*id);
    if (!snap.ok())
        co_return from_errc(snap.error);
    if (!snap.value)
        co_return net::json_error(404, identity_not_found_detail);
    if (!snap.value->action)
        co_return from_errc(engine::config_errc::no_config);
    co_return action_response(*id, *snap.value->action);
}

route_reply delete_action(request_context& ctx)
{
    std::optional<engine::uuid> id;
    if (auto e = identity_from_query(ctx, id))
        co_return std::move(*e);
    auto target = *id;
    auto write = no_content_after([&ctx, target](auto done) { ctx.service.delete_action(target, std::move(done)); });
    co_return co_await std::move(write);
}

} // namespace callgate::config_api
