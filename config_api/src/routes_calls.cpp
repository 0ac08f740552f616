// /calls: the call records, newest first (config-api.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/engine/call_records.hpp"

namespace callgate::config_api {

using engine::config_errc;

namespace {

constexpr std::string_view call_not_found_detail = "Call not found";

// Waits until every call record queued so far is readable.
boost::asio::awaitable<bool> flush_calls(request_context& ctx)
{
    auto op = net::await_callback<bool>([&ctx](auto done) { ctx.calls.flush(done); });
    co_return co_await std::move(op);
}

} // namespace

route_reply list_calls(request_context& ctx)
{
    std::size_t limit = 50, offset = 0;
    if (auto bad = ctx.read_page(limit, offset))
        co_return net::json_error(422, *bad);
    std::optional<engine::uuid> identity;
    if (const auto* given = ctx.query.find("agent_identity_id"); given != nullptr && !given->empty()) {
        identity = engine::uuid::parse(*given);
        if (!identity)
            co_return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    if (auto e = ctx.scope_to_caller(identity))
        co_return std::move(*e);
    if (!co_await flush_calls(ctx))
        co_return from_errc(config_errc::store_failure);
    auto op = net::on_workers(ctx.workers, [&ctx, identity, limit, offset] {
        return ctx.calls.list(identity, limit, offset);
    });
    auto calls = co_await std::move(op);
    if (!calls.ok())
        co_return from_errc(calls.error);
    co_return items_response(calls.value, engine::write_call_record);
}

route_reply get_call(request_context& ctx)
{
    auto id = engine::uuid::parse(ctx.path["id"]);
    if (!id)
        co_return net::json_error(404, call_not_found_detail);
    if (!co_await flush_calls(ctx))
        co_return from_errc(config_errc::store_failure);
    auto op = net::on_workers(ctx.workers, [&ctx, target = *id] { return ctx.calls.get(target); });
    auto call = co_await std::move(op);
    if (call.error == config_errc::no_config)
        co_return net::json_error(404, call_not_found_detail);
    if (!call.ok())
        co_return from_errc(call.error);
    if (!ctx.admin() && call.value.agent_identity_id != ctx.caller->scoped_identity_id)
        co_return net::json_error(404, call_not_found_detail);
    co_return record_response(200, call.value, engine::write_call_record);
}

} // namespace callgate::config_api
