#pragma once

// What every route handler shares: the request's context (who calls, with
// which parameters, over which services) and the replies all resources build
// alike. Include only from config_api/src/*.cpp (it pulls in async_glue.hpp).

#include "callgate/net/percent_encoding.hpp"
#include "route_table.hpp"

#include "callgate/config_api/api_router.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/uuid.hpp"
#include "callgate/net/async_glue.hpp"

#include <optional>
#include <string_view>

namespace callgate::config_api {

// Which response shapes a request gets, chosen by its path prefix.
enum class api_view {
    native, // the unprefixed paths (config-api.md)
    inkbox, // under /api/v1 and /api/v1/phone: Inkbox's shapes where they differ (inkbox-compat.md)
};

inline constexpr std::string_view scope_detail = "API key is not scoped to this agent identity";
inline constexpr std::string_view identity_not_found_detail = "Agent identity not found";

// Maps a service error to its response; for errors with no place in this call, 500.
net::http_response from_errc(engine::config_errc e);
net::http_response no_content();

// A JSON reply of one record, written by `write(writer, record)`.
template <class Record, class Write>
net::http_response record_response(unsigned status, const Record& record, Write write)
{
    engine::json_writer w;
    write(w, record);
    return net::json_response(status, w.take());
}

// Opens an object and writes "items": [...] in it, each record written by
// `write_one(writer, record)`; the object is left open.
template <class Records, class WriteOne>
engine::json_writer& write_items(engine::json_writer& w, const Records& records, WriteOne write_one)
{
    w.begin_object().key("items").begin_array();
    for (const auto& record : records)
        write_one(w, record);
    return w.end_array();
}

// 200 {"items": [...]}, each record written by `write_one(writer, record)`.
template <class Records, class WriteOne>
net::http_response items_response(const Records& records, WriteOne write_one)
{
    engine::json_writer w;
    write_items(w, records, write_one).end_object();
    return net::json_response(200, w.take());
}

// Awaits a service write that reports only a config_errc (`start(done)`):
// 204, or the error's reply.
template <class Start>
boost::asio::awaitable<net::http_response> no_content_after(Start start)
{
    auto op = net::await_callback<engine::config_errc>(std::move(start));
    auto result = co_await std::move(op);
    co_return result == engine::config_errc::ok ? no_content() : from_errc(result);
}

// One request on its way through a route handler. Lives on the router's
// coroutine frame for the whole call; handlers run on the connection's I/O
// thread and never block (see api_router).
struct request_context {
    engine::config_service& service;
    engine::call_log& calls;
    const boost::asio::any_io_executor& workers; // for reads that miss the caches
    const api_router_options& options;
    net::http_request& request;
    // The shapes to render: Inkbox's under the /api/v1 prefixes. A rendering
    // choice only; requests, auth, checks and status codes are the same.
    api_view view;
    path_params path;           // the route's {name} segments
    net::query_params query;    // parsed before a keyed route's handler runs
    engine::api_key_ptr caller; // the authenticated key; null on open routes

    bool admin() const { return caller && caller->is_admin(); }

    // Finds the caller's key (X-API-Key, else Authorization: Bearer): 401 when
    // it is missing, unknown or revoked; a store error's reply when it cannot
    // be read. Sets `caller` and returns nullopt otherwise.
    boost::asio::awaitable<std::optional<net::http_response>> authenticate();

    // Reads the body as a JSON object: 413 over 64 KiB, 415 unless
    // application/json, 400 when it cannot be read, 422 when not JSON.
    boost::asio::awaitable<std::optional<net::http_response>> read_json(engine::json_object& doc);

    // Reads the JSON body (read_json) and then its fields into `out` with
    // `read_fields(doc, out, detail)`, one of request_body.hpp's readers: 422
    // with its detail when it fails.
    template <class T, class ReadFields>
    boost::asio::awaitable<std::optional<net::http_response>> read_body(T& out, ReadFields read_fields)
    {
        engine::json_object doc;
        if (auto e = co_await read_json(doc))
            co_return e;
        std::string detail;
        if (!read_fields(doc, out, detail))
            co_return net::json_error(422, detail);
        co_return std::nullopt;
    }

    // Reads the path's {agent_handle} for the admin or that identity's own
    // key: a scoped key naming another identity gets 403 (scope comes before
    // existence), a handle that cannot name an identity 404.
    boost::asio::awaitable<std::optional<net::http_response>> read_handle(std::string& handle);

    // The identity's snapshot, from the cache or the store (value null: no such identity).
    boost::asio::awaitable<engine::config_result<engine::snapshot_ptr>> snapshot(engine::uuid id);

    // Reads ?limit= (1-200, default as given) and ?offset= (default as
    // given). Returns the 422 detail of the first bad one, or nullopt.
    std::optional<std::string_view> read_page(std::size_t& limit, std::size_t& offset,
                                              std::size_t max_limit = 200) const;

    // The key the caller presented (X-API-Key, else Authorization: Bearer), or "".
    std::string_view api_key() const;
    // Whether another node forwarded this request (cluster mode): answer for
    // this node alone.
    bool forwarded() const { return !request.header(forwarded_header).empty(); }

    // Scopes an identity named by the request to the caller. A scoped key
    // naming another identity gets 403; otherwise `id` becomes the key's own
    // identity. An admin key's `id` is left as given.
    std::optional<net::http_response> scope_to_caller(std::optional<engine::uuid>& id) const;
};

} // namespace callgate::config_api
