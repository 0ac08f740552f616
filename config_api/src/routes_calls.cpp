// /calls: the call records, newest first (config-api.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"

#include <simdjson.h>

#include <algorithm>

namespace callgate::config_api {

using engine::config_errc;

namespace {

constexpr std::string_view call_not_found_detail = "Call not found";
constexpr std::string_view unreachable_header = "X-Callgate-Unreachable-Nodes";
// Cluster mode: the deepest page a merged list reaches (every node is asked
// for offset + limit records).
constexpr std::size_t max_merged_depth = 10'000;

// Which records a caller may list: scoped keys never see blocked calls
// (Inkbox's rule); ?is_blocked=true|false narrows an admin's list. Sets a 422
// detail for a bad value.
std::function<bool(const engine::call_record&)> call_filter(const request_context& ctx, std::string& bad)
{
    std::optional<bool> blocked;
    if (const auto* v = ctx.query.find("is_blocked"); v != nullptr && !v->empty()) {
        if (*v != "true" && *v != "false") {
            bad = "is_blocked must be true or false";
            return {};
        }
        blocked = *v == "true";
    }
    if (!ctx.admin())
        blocked = false;
    if (!blocked)
        return {};
    return [want = *blocked](const engine::call_record& r) { return engine::is_blocked(r) == want; };
}

// The call object of the request's view.
void write_call(const request_context& ctx, engine::json_writer& w, const engine::call_record& r)
{
    if (ctx.view == api_view::inkbox)
        engine::write_inkbox_call_record(w, r);
    else
        engine::write_call_record(w, r);
}

// A list of calls: {"items": [...]}, or under Inkbox's prefix a bare array.
void begin_list(const request_context& ctx, engine::json_writer& w)
{
    if (ctx.view == api_view::native)
        w.begin_object().key("items");
    w.begin_array();
}

void end_list(const request_context& ctx, engine::json_writer& w)
{
    w.end_array();
    if (ctx.view == api_view::native)
        w.end_object();
}

// A call record as JSON, with what orders the merged list: newest first.
struct merged_record {
    std::string created_at; // RFC 3339, fixed width: orders as text
    std::string id;
    std::string json;
};

// The names of peers that gave no usable answer, comma-separated.
std::string unreachable(const std::vector<peer_reply>& replies)
{
    std::string names;
    for (const auto& r : replies)
        if (r.status != 200 && r.status != 404)
            names += (names.empty() ? "" : ",") + r.node;
    return names;
}

// Appends the items of a peer's list reply ({"items": [...]}, or a bare
// array in Inkbox's view); false if it is not one.
bool add_peer_items(std::string_view body, api_view view, std::vector<merged_record>& out)
{
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
        return false;
    simdjson::dom::array items;
    auto error = view == api_view::inkbox ? doc.get_array().get(items) : doc["items"].get_array().get(items);
    if (error != simdjson::SUCCESS)
        return false;
    for (auto item : items) {
        std::string_view created_at, id;
        if (item["id"].get_string().get(id) != simdjson::SUCCESS)
            return false;
        if (item["created_at"].get_string().get(created_at) != simdjson::SUCCESS)
            created_at = {};
        out.push_back({std::string(created_at), std::string(id), simdjson::minify(item)});
    }
    return true;
}

// Waits until every call record queued so far is readable.
boost::asio::awaitable<bool> flush_calls(request_context& ctx)
{
    auto op = net::await_callback<bool>([&ctx](auto done) { ctx.calls.flush(done); });
    co_return co_await std::move(op);
}

// This node's records, newest first, once every record queued so far is readable.
boost::asio::awaitable<engine::config_result<std::vector<engine::call_record>>> local_calls(
    request_context& ctx, std::optional<engine::uuid> identity, std::size_t limit, std::size_t offset,
    std::function<bool(const engine::call_record&)> keep)
{
    if (!co_await flush_calls(ctx))
        co_return engine::config_result<std::vector<engine::call_record>>{config_errc::store_failure, {}};
    auto op = net::on_workers(ctx.workers, [&ctx, identity, limit, offset, keep] {
        return ctx.calls.list(identity, limit, offset, keep);
    });
    co_return co_await std::move(op);
}

} // namespace

// Cluster mode: this node's records and every live node's, merged newest
// first, then the page. Each node is asked for offset + limit records.
route_reply list_merged_calls(request_context& ctx, std::optional<engine::uuid> identity, std::size_t limit,
                              std::size_t offset, std::function<bool(const engine::call_record&)> keep)
{
    if (offset + limit > max_merged_depth)
        co_return net::json_error(422, "offset + limit must be at most 10000 in cluster mode");
    std::size_t depth = offset + limit;
    // Peers render the same view: ask them under the same prefix.
    std::string target = std::string(ctx.view == api_view::inkbox ? "/api/v1/phone" : "") + "/calls?limit=" +
                         std::to_string(depth) + "&offset=0";
    if (identity)
        target += "&agent_identity_id=" + identity->to_string();
    if (const auto* v = ctx.query.find("is_blocked"); v != nullptr && !v->empty())
        target += "&is_blocked=" + *v;
    auto ask = ctx.options.cluster->ask(target, std::string(ctx.api_key()));
    auto op = local_calls(ctx, identity, depth, 0, keep);
    auto local = co_await std::move(op);
    if (!local.ok())
        co_return from_errc(local.error);
    std::vector<merged_record> merged;
    for (const auto& r : local.value) {
        engine::json_writer w;
        write_call(ctx, w, r);
        merged.push_back({engine::format_rfc3339(r.created_at_us), r.id.to_string(), w.take()});
    }
    auto replies = co_await std::move(ask);
    for (auto& reply : replies)
        if (reply.status == 200 && !add_peer_items(reply.body, ctx.view, merged))
            reply.status = 0; // not a list: as good as no answer
    std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) {
        return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
    });
    engine::json_writer w;
    begin_list(ctx, w);
    for (std::size_t i = offset; i < std::min(merged.size(), depth); ++i)
        w.raw(merged[i].json);
    end_list(ctx, w);
    auto response = net::json_response(200, w.take());
    if (auto names = unreachable(replies); !names.empty())
        response.headers.emplace_back(unreachable_header, names);
    co_return response;
}

route_reply list_calls(request_context& ctx)
{
    std::size_t limit = 50, offset = 0;
    // A forwarded request is another node's merge asking for offset + limit.
    if (auto bad = ctx.read_page(limit, offset, ctx.forwarded() ? max_merged_depth : 200))
        co_return net::json_error(422, *bad);
    std::optional<engine::uuid> identity;
    if (const auto* given = ctx.query.find("agent_identity_id"); given != nullptr && !given->empty()) {
        identity = engine::uuid::parse(*given);
        if (!identity)
            co_return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    if (auto e = ctx.scope_to_caller(identity))
        co_return std::move(*e);
    std::string bad;
    auto keep = call_filter(ctx, bad);
    if (!bad.empty())
        co_return net::json_error(422, bad);
    if (ctx.options.cluster && !ctx.forwarded()) {
        auto op = list_merged_calls(ctx, identity, limit, offset, keep);
        co_return co_await std::move(op);
    }
    auto op = local_calls(ctx, identity, limit, offset, keep);
    auto calls = co_await std::move(op);
    if (!calls.ok())
        co_return from_errc(calls.error);
    engine::json_writer w;
    begin_list(ctx, w);
    for (const auto& r : calls.value)
        write_call(ctx, w, r);
    end_list(ctx, w);
    co_return net::json_response(200, w.take());
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
    if (call.error == config_errc::no_config && ctx.options.cluster && !ctx.forwarded()) {
        // Not decided here: the node that decided it has it.
        auto ask = ctx.options.cluster->ask(
            std::string(ctx.view == api_view::inkbox ? "/api/v1/phone" : "") + "/calls/" + id->to_string(),
            std::string(ctx.api_key()));
        auto replies = co_await std::move(ask);
        for (auto& reply : replies)
            if (reply.status == 200)
                co_return net::json_response(200, std::move(reply.body));
        auto response = net::json_error(404, call_not_found_detail);
        if (auto names = unreachable(replies); !names.empty())
            response.headers.emplace_back(unreachable_header, names);
        co_return response;
    }
    if (call.error == config_errc::no_config)
        co_return net::json_error(404, call_not_found_detail);
    if (!call.ok())
        co_return from_errc(call.error);
    // Another identity's call, or a blocked one, does not exist for a scoped key.
    if (!ctx.admin() && (call.value.agent_identity_id != ctx.caller->scoped_identity_id || engine::is_blocked(call.value)))
        co_return net::json_error(404, call_not_found_detail);
    engine::json_writer w;
    write_call(ctx, w, call.value);
    co_return net::json_response(200, w.take());
}

} // namespace callgate::config_api
