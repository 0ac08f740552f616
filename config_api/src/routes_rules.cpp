// Phone contact rules: allow/block callers per identity (inkbox-compat.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/config_api/request_body.hpp"

namespace callgate::config_api {

using engine::config_errc;

namespace {

constexpr std::string_view rule_not_found_detail = "Contact rule not found";

// The list filters of the query string; a 422 for a bad one.
std::optional<net::http_response> read_rule_filter(const request_context& ctx, engine::rule_filter& filter)
{
    if (const auto* v = ctx.query.find("action"); v != nullptr && !v->empty()) {
        filter.action = engine::parse_rule_action(*v);
        if (!filter.action)
            return net::json_error(422, rule_action_detail);
    }
    if (const auto* v = ctx.query.find("match_type"); v != nullptr && !v->empty()) {
        filter.match = engine::parse_match_type(*v);
        if (!filter.match)
            return net::json_error(422, match_type_detail);
    }
    // Inkbox's SDKs know only exact numbers and would fail to parse a prefix rule.
    filter.exact_only = ctx.view == api_view::inkbox;
    return std::nullopt;
}

route_reply rules_page(request_context& ctx, engine::rule_filter filter)
{
    std::size_t limit = 50, offset = 0;
    if (auto bad = ctx.read_page(limit, offset))
        co_return net::json_error(422, *bad);
    auto op = net::on_workers(ctx.workers, [&ctx, filter, limit, offset] {
        return ctx.service.list_rules(filter, limit, offset);
    });
    auto rules = co_await std::move(op);
    if (!rules.ok())
        co_return from_errc(rules.error);
    co_return items_response(rules.value, engine::write_contact_rule);
}

// The identity a handle names, read on a worker thread.
boost::asio::awaitable<engine::config_result<engine::identity_record>> identity_of(request_context& ctx,
                                                                                  const std::string& handle)
{
    auto op = net::on_workers(ctx.workers, [&ctx, handle] { return ctx.service.load_identity_by_handle(handle); });
    co_return co_await std::move(op);
}

// 409 with the one structured detail of the API (Inkbox's SDKs raise
// DuplicateContactRuleError from existing_rule_id).
net::http_response duplicate_rule(const engine::uuid& existing)
{
    engine::json_writer w;
    w.begin_object()
        .key("detail")
        .begin_object()
        .field("error", "duplicate_contact_rule")
        .field("message", "Contact rule already exists")
        .field("existing_rule_id", existing)
        .end_object()
        .end_object();
    return net::json_response(409, w.take());
}

// The path of one rule: its identity's handle (scope 403, 404) and its id
// (404 when it cannot name a rule).
boost::asio::awaitable<std::optional<net::http_response>> read_rule_path(request_context& ctx, std::string& handle,
                                                                       engine::uuid& rule_id)
{
    if (auto e = co_await ctx.read_handle(handle))
        co_return e;
    auto parsed = engine::uuid::parse(ctx.path["id"]);
    if (!parsed)
        co_return net::json_error(404, rule_not_found_detail);
    rule_id = *parsed;
    co_return std::nullopt;
}

template <class Start>
route_reply rule_after(unsigned status, Start start)
{
    auto op = net::await_callback<engine::config_result<engine::contact_rule>>(std::move(start));
    auto result = co_await std::move(op);
    if (result.error == config_errc::rule_exists)
        co_return duplicate_rule(result.value.id);
    if (!result.ok())
        co_return from_errc(result.error);
    co_return record_response(status, result.value, engine::write_contact_rule);
}

} // namespace

route_reply create_contact_rule(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    engine::new_contact_rule input;
    if (auto e = co_await ctx.read_body(input, read_new_contact_rule))
        co_return std::move(*e);
    auto write = rule_after(201, [&ctx, handle, input](auto done) {
        ctx.service.create_rule(handle, input, std::move(done));
    });
    co_return co_await std::move(write);
}

route_reply list_contact_rules(request_context& ctx)
{
    std::string handle;
    if (auto e = co_await ctx.read_handle(handle))
        co_return std::move(*e);
    engine::rule_filter filter;
    if (auto e = read_rule_filter(ctx, filter))
        co_return std::move(*e);
    auto found = co_await identity_of(ctx, handle);
    if (!found.ok())
        co_return from_errc(found.error);
    if (!found.value.phone_number) // no number, no screening: an empty list
        co_return net::json_response(200, "{\"items\":[]}");
    filter.identity_id = found.value.id;
    auto page = rules_page(ctx, filter);
    co_return co_await std::move(page);
}

route_reply get_contact_rule(request_context& ctx)
{
    std::string handle;
    engine::uuid rule_id;
    if (auto e = co_await read_rule_path(ctx, handle, rule_id))
        co_return std::move(*e);
    auto found = co_await identity_of(ctx, handle);
    if (!found.ok())
        co_return from_errc(found.error);
    auto op = net::on_workers(ctx.workers, [&ctx, identity = found.value.id, id = rule_id] {
        return ctx.service.get_rule(identity, id);
    });
    auto rule = co_await std::move(op);
    if (!rule.ok())
        co_return from_errc(rule.error);
    co_return record_response(200, rule.value, engine::write_contact_rule);
}

route_reply patch_contact_rule(request_context& ctx)
{
    std::string handle;
    engine::uuid rule_id;
    if (auto e = co_await read_rule_path(ctx, handle, rule_id))
        co_return std::move(*e);
    engine::rule_action action{};
    if (auto e = co_await ctx.read_body(action, read_contact_rule_patch))
        co_return std::move(*e);
    auto write = rule_after(200, [&ctx, handle, id = rule_id, action](auto done) {
        ctx.service.update_rule(handle, id, action, std::move(done));
    });
    co_return co_await std::move(write);
}

route_reply delete_contact_rule(request_context& ctx)
{
    std::string handle;
    engine::uuid rule_id;
    if (auto e = co_await read_rule_path(ctx, handle, rule_id))
        co_return std::move(*e);
    auto write = no_content_after([&ctx, handle, id = rule_id](auto done) {
        ctx.service.delete_rule(handle, id, std::move(done));
    });
    co_return co_await std::move(write);
}

route_reply list_org_contact_rules(request_context& ctx)
{
    engine::rule_filter filter;
    if (auto e = read_rule_filter(ctx, filter))
        co_return std::move(*e);
    if (const auto* v = ctx.query.find("agent_identity_id"); v != nullptr && !v->empty()) {
        filter.identity_id = engine::uuid::parse(*v);
        if (!filter.identity_id)
            co_return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    auto page = rules_page(ctx, filter);
    co_return co_await std::move(page);
}

} // namespace callgate::config_api
