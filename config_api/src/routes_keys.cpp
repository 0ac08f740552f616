// /api-keys: minting, listing and revoking API keys (config-api.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/config_api/request_body.hpp"

namespace callgate::config_api {

route_reply create_api_key(request_context& ctx)
{
    new_api_key_request input;
    if (auto e = co_await ctx.read_body(input, read_new_api_key))
        co_return std::move(*e);
    auto start = [&ctx, input](auto done) {
        ctx.service.create_api_key(input.label, input.scoped_identity_id, std::move(done));
    };
    auto op = net::await_callback<engine::config_result<engine::created_api_key>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    engine::json_writer w;
    w.begin_object().field("api_key", result.value.api_key).key("record");
    engine::write_api_key(w, result.value.record);
    w.end_object();
    co_return net::json_response(201, w.take());
}

route_reply list_api_keys(request_context& ctx)
{
    auto op = net::on_workers(ctx.workers, [&ctx] { return ctx.service.list_api_keys(); });
    auto keys = co_await std::move(op);
    if (!keys.ok())
        co_return from_errc(keys.error);
    co_return items_response(keys.value, engine::write_api_key);
}

route_reply get_own_api_key(request_context& ctx)
{
    co_return record_response(200, *ctx.caller, engine::write_api_key);
}

route_reply revoke_api_key(request_context& ctx)
{
    auto id = engine::uuid::parse(ctx.path["id"]);
    if (!id)
        co_return net::json_error(404, "API key not found");
    auto write = no_content_after([&ctx, target = *id](auto done) { ctx.service.revoke_api_key(target, std::move(done)); });
    co_return co_await std::move(write);
}

} // namespace callgate::config_api
