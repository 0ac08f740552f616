// /identities: agent identities and their webhook signing keys (config-api.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/config_api/request_body.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/validation.hpp"

namespace callgate::config_api {

namespace {

// The identity named `handle` with its action and signing key (a worker-thread read).
engine::config_result<engine::snapshot_ptr> load_by_handle(request_context& ctx, const std::string& handle)
{
    auto found = ctx.service.load_identity_by_handle(handle);
    if (!found.ok())
        return {found.error, nullptr};
    auto snapshot = ctx.service.load_snapshot(found.value.id);
    if (snapshot.ok() && !snapshot.value)
        return {engine::config_errc::identity_not_found, nullptr};
    return snapshot;
}

// This deployment's organization id (made on first use).
boost::asio::awaitable<engine::config_result<engine::uuid>> organization_of(request_context& ctx)
{
    auto op = net::await_callback<engine::config_result<engine::uuid>>(
        [&ctx](auto done) { ctx.service.organization_id(std::move(done)); });
    co_return co_await std::move(op);
}

// Identities in the request's view: native objects (a list in {"items",
// "total"}), or Inkbox's with the organization id (a list as a bare array).
route_reply identities_response(request_context& ctx, unsigned status, std::vector<engine::snapshot_ptr> items,
                                std::optional<std::uint64_t> total)
{
    engine::json_writer w;
    if (ctx.view == api_view::inkbox) {
        auto op = organization_of(ctx);
        auto org = co_await std::move(op);
        if (!org.ok())
            co_return from_errc(org.error);
        if (total)
            w.begin_array();
        for (const auto& s : items)
            engine::write_inkbox_identity(w, *s, org.value);
        if (total)
            w.end_array();
        co_return net::json_response(status, w.take());
    }
    auto write_one = [](engine::json_writer& out, const engine::snapshot_ptr& s) { engine::write_identity(out, *s); };
    if (total)
        write_items(w, items, write_one).field("total", static_cast<std::int64_t>(*total)).end_object();
    else
        for (const auto& s : items)
            write_one(w, s);
    co_return net::json_response(status, w.take());
}

route_reply identity_response(request_context& ctx, unsigned status, engine::snapshot_ptr snapshot)
{
    std::vector<engine::snapshot_ptr> one{std::move(snapshot)};
    auto reply = identities_response(ctx, status, std::move(one), std::nullopt);
    co_return co_await std::move(reply);
}

// Awaits a service write that reports the identity (`start(done)`): its
// object with `status`, or the error's reply.
template <class Start>
route_reply identity_after(request_context& ctx, unsigned status, Start start)
{
    auto op = net::await_callback<engine::config_result<engine::snapshot_ptr>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    auto reply = identity_response(ctx, status, std::move(result.value));
    co_return co_await std::move(reply);
}

} // namespace

route_reply create_identity(request_context& ctx)
{
    engine::new_identity input;
    if (auto e = co_await ctx.read_body(input, read_new_identity))
        co_return std::move(*e);
    auto write = identity_after(ctx, 201, [&ctx, input](auto done) { ctx.service.create_identity(input, std::move(done)); });
    co_return co_await std::move(write);
}

route_reply list_identities(request_context& ctx)
{
    std::size_t limit = 50, offset = 0;
    if (auto bad = ctx.read_page(limit, offset))
        co_return net::json_error(422, *bad);
    auto op = net::on_workers(ctx.workers, [&ctx, limit, offset] { return ctx.service.list_identities(limit, offset); });
    auto page = co_await std::move(op);
    if (!page.ok())
        co_return from_errc(page.error);
    auto reply = identities_response(ctx, 200, page.value.items, page.value.total);
    co_return co_await std::move(reply);
}

route_reply get_identity(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    auto op = net::on_workers(ctx.workers, [&ctx, handle] { return load_by_handle(ctx, handle); });
    auto found = co_await std::move(op);
    if (!found.ok())
        co_return from_errc(found.error);
    auto reply = identity_response(ctx, 200, std::move(found.value));
    co_return co_await std::move(reply);
}

route_reply patch_identity(request_context& ctx)
{
    engine::identity_patch patch;
    if (auto e = co_await ctx.read_body(patch, read_identity_patch))
        co_return std::move(*e);
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    auto write = identity_after(ctx, 200, [&ctx, handle, patch](auto done) {
        ctx.service.update_identity(handle, patch, std::move(done));
    });
    co_return co_await std::move(write);
}

route_reply delete_identity(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    auto write = no_content_after([&ctx, handle](auto done) {
        ctx.service.delete_identity(handle, std::move(done));
    });
    co_return co_await std::move(write);
}

route_reply get_signing_key_status(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    auto op = net::on_workers(ctx.workers, [&ctx, handle] { return load_by_handle(ctx, handle); });
    auto found = co_await std::move(op);
    if (!found.ok())
        co_return from_errc(found.error);
    // The key itself is shown once, when made; never again.
    const auto& key = found.value->signing_key;
    engine::json_writer w;
    w.begin_object().field("configured", key.has_value()).key("created_at");
    if (key)
        w.value(engine::format_rfc3339(key->created_at_us));
    else
        w.null();
    w.end_object();
    co_return net::json_response(200, w.take());
}

route_reply rotate_signing_key(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    auto start = [&ctx, handle](auto done) { ctx.service.rotate_signing_key(handle, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::signing_key_record>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    engine::json_writer w;
    w.begin_object()
        .field("signing_key", result.value.key)
        .field("created_at", engine::format_rfc3339(result.value.created_at_us))
        .end_object();
    co_return net::json_response(201, w.take());
}

} // namespace callgate::config_api
