#include "callgate/config_api/api_router.hpp"

#include "callgate/config_api/request_body.hpp"

#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/engine/validation.hpp"
#include "callgate/net/async_glue.hpp"


#include <charconv>
#include <memory>
#include <optional>

namespace callgate::config_api {

namespace asio = boost::asio;
using engine::config_errc;
using engine::json_object;
using engine::json_writer;
using engine::uuid;
using net::http_request;
using net::http_response;
using net::json_response;

namespace {

// ---------------------------------------------------------------- responses


http_response no_content()
{
    http_response r;
    r.status = 204;
    return r;
}

const char* const scope_detail = "API key is not scoped to this agent identity";
const char* const identity_not_found_detail = "Agent identity not found";

// Maps a service error to its response; for errors with no place in this call, 500.
http_response from_errc(config_errc e)
{
    switch (e) {
    case config_errc::identity_not_found: return net::json_error(404, identity_not_found_detail);
    case config_errc::no_config: return net::json_error(404, "No inbound-call config set for this identity");
    case config_errc::handle_exists: return net::json_error(409, "agent_handle already exists");
    case config_errc::phone_assigned: return net::json_error(409, "phone_number already assigned");
    case config_errc::api_key_not_found: return net::json_error(404, "API key not found");
    case config_errc::client_websocket_url_required:
        return net::json_error(422, "client_websocket_url is required when incoming_call_action is \"auto_accept\"");
    case config_errc::webhook_url_required:
        return net::json_error(422, "incoming_call_webhook_url is required when incoming_call_action is \"webhook\"");
    case config_errc::store_failure: return net::json_error(503, "Store unavailable, try again");
    case config_errc::store_full: return net::json_error(507, "Insufficient storage");
    case config_errc::store_read_only: return net::json_error(503, "Config store is read-only");
    case config_errc::store_unavailable: return net::json_error(503, "Config store unavailable");
    case config_errc::ok: break;
    }
    return net::json_error(500, "Internal Server Error");
}

// ---------------------------------------------------------------- URL parsing

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Percent-decodes; '+' is a space in query strings. False on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space)
{
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size() + 0 && i + 2 > in.size() - 1 + 1)
                return false;
            if (i + 2 >= in.size())
                return false;
            int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

struct query_params {
    std::vector<std::pair<std::string, std::string>> items;
    const std::string* find(std::string_view key) const
    {
        for (const auto& [k, v] : items)
            if (k == key)
                return &v;
        return nullptr;
    }
};

bool parse_query(std::string_view query, query_params& out)
{
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty())
            continue;
        auto eq = pair.find('=');
        std::string key, value;
        if (!percent_decode(pair.substr(0, eq), key, true))
            return false;
        if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true))
            return false;
        out.items.emplace_back(std::move(key), std::move(value));
    }
    return true;
}

// ---------------------------------------------------------------- routes

enum class route_id {
    incoming_call_action,
    identities,
    identity,
    signing_key,
    api_keys,
    api_key_self,
    api_key,
    calls,
    call,
    healthz,
    readyz,
    metrics,
    openapi,
    none,
};

struct route_match {
    route_id id = route_id::none;
    std::string param; // agent_handle or key id, decoded
};

std::string_view allowed_methods(route_id id)
{
    switch (id) {
    case route_id::incoming_call_action: return "GET, PUT, DELETE";
    case route_id::identities: return "GET, POST";
    case route_id::identity: return "GET, PATCH, DELETE";
    case route_id::signing_key: return "POST";
    case route_id::api_keys: return "GET, POST";
    case route_id::api_key_self: return "GET";
    case route_id::api_key: return "DELETE";
    case route_id::calls:
    case route_id::call: return "GET";
    case route_id::healthz:
    case route_id::readyz:
    case route_id::metrics:
    case route_id::openapi: return "GET";
    case route_id::none: break;
    }
    return "";
}

bool method_allowed(route_id id, std::string_view method)
{
    std::string_view allowed = allowed_methods(id);
    while (!allowed.empty()) {
        auto comma = allowed.find(", ");
        if (allowed.substr(0, comma) == method)
            return true;
        allowed = comma == std::string_view::npos ? std::string_view{} : allowed.substr(comma + 2);
    }
    return false;
}

std::string_view strip_prefix(std::string_view path)
{
    for (std::string_view prefix : {"/api/v1/phone", "/api/v1"}) {
        if (path.starts_with(prefix) &&
            (path.size() == prefix.size() || path[prefix.size()] == '/'))
            return path.substr(prefix.size());
    }
    return path;
}

// Matches a decoded-per-segment path. False on a bad percent escape.
bool match_route(std::string_view raw_path, route_match& out)
{
    std::string_view path = strip_prefix(raw_path);
    if (path.size() > 1 && path.back() == '/')
        path.remove_suffix(1);
    std::vector<std::string> segments;
    std::size_t start = 1;
    while (start <= path.size() && !path.empty()) {
        auto slash = path.find('/', start);
        std::string segment;
        if (!percent_decode(path.substr(start, slash - start), segment, false))
            return false;
        segments.push_back(std::move(segment));
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    auto n = segments.size();
    auto is = [&](std::size_t i, std::string_view s) { return i < n && segments[i] == s; };
    if (n == 1) {
        if (is(0, "incoming-call-action"))
            out.id = route_id::incoming_call_action;
        else if (is(0, "identities"))
            out.id = route_id::identities;
        else if (is(0, "api-keys"))
            out.id = route_id::api_keys;
        else if (is(0, "calls"))
            out.id = route_id::calls;
        else if (is(0, "healthz"))
            out.id = route_id::healthz;
        else if (is(0, "readyz"))
            out.id = route_id::readyz;
        else if (is(0, "metrics"))
            out.id = route_id::metrics;
        else if (is(0, "openapi.json"))
            out.id = route_id::openapi;
    } else if (n == 2 && is(0, "identities") && !segments[1].empty()) {
        out.id = route_id::identity;
        out.param = segments[1];
    } else if (n == 3 && is(0, "identities") && is(2, "signing-key") && !segments[1].empty()) {
        out.id = route_id::signing_key;
        out.param = segments[1];
    } else if (n == 2 && is(0, "calls") && !segments[1].empty()) {
        out.id = route_id::call;
        out.param = segments[1];
    } else if (n == 2 && is(0, "api-keys") && is(1, "self")) {
        out.id = route_id::api_key_self;
    } else if (n == 2 && is(0, "api-keys") && !segments[1].empty()) {
        out.id = route_id::api_key;
        out.param = segments[1];
    }
    return true;
}

bool parse_number(const std::string& text, std::size_t& out)
{
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size() && !text.empty();
}

// Reads ?limit= (1-200, default as given) and ?offset= (default as given).
// Returns the 422 detail of the first bad one, or nullopt.
std::optional<std::string_view> read_page(const query_params& query, std::size_t& limit, std::size_t& offset)
{
    if (const auto* v = query.find("limit"); v != nullptr && (!parse_number(*v, limit) || limit < 1 || limit > 200))
        return "limit must be an integer from 1 to 200";
    if (const auto* v = query.find("offset"); v != nullptr && !parse_number(*v, offset))
        return "offset must be a non-negative integer";
    return std::nullopt;
}

bool is_admin_only(route_id id, std::string_view method)
{
    switch (id) {
    case route_id::identities:
    case route_id::api_keys:
    case route_id::api_key: return true;
    case route_id::identity: return method != "GET";
    default: return false;
    }
}


} // namespace

// ---------------------------------------------------------------- the handler

struct api_router::context {
    api_router& router;
    http_request& request;
    std::string_view method;
    route_match route;
    query_params query;
    engine::api_key_ptr caller;

    engine::config_service& service() { return router.service_; }
    bool admin() const { return caller && caller->is_admin(); }

    asio::awaitable<std::optional<http_response>> authenticate();
    asio::awaitable<std::optional<http_response>> read_json(json_object& doc);
    asio::awaitable<engine::config_result<engine::snapshot_ptr>> snapshot(uuid id);
    std::optional<http_response> resolve_identity_param(std::optional<uuid>& out);

    asio::awaitable<http_response> put_action();
    asio::awaitable<http_response> get_action();
    asio::awaitable<http_response> delete_action();
    asio::awaitable<http_response> create_identity();
    asio::awaitable<http_response> list_identities();
    asio::awaitable<http_response> get_identity();
    asio::awaitable<http_response> patch_identity();
    asio::awaitable<http_response> delete_identity();
    asio::awaitable<http_response> rotate_signing_key();
    asio::awaitable<http_response> create_api_key();
    asio::awaitable<http_response> list_api_keys();
    asio::awaitable<http_response> api_key_self();
    asio::awaitable<http_response> revoke_api_key();
    asio::awaitable<http_response> list_calls();
    asio::awaitable<bool> flush_calls();
    asio::awaitable<http_response> get_call();
    asio::awaitable<std::optional<http_response>> check_own_handle(std::string handle);
};

api_router::api_router(engine::config_service& service, engine::call_log& calls, asio::any_io_executor workers,
                       api_router_options options)
    : service_(service), calls_(calls), workers_(std::move(workers)), options_(std::move(options))
{
}

asio::awaitable<std::optional<http_response>> api_router::context::authenticate()
{
    std::string_view key = request.header("X-API-Key");
    if (key.empty()) {
        std::string_view auth = request.header("Authorization");
        if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
            key = auth.substr(7);
        while (!key.empty() && key.front() == ' ')
            key.remove_prefix(1);
    }
    if (key.empty())
        co_return net::json_error(401, "Missing API key");
    std::string hash = engine::sha256(key);
    auto cached = service().try_api_key(hash);
    engine::api_key_ptr found;
    if (cached) {
        found = *cached;
    } else {
        auto work = [this, hash] { return service().load_api_key(hash); };
        auto op = net::on_workers(router.workers_, std::move(work));
        auto loaded = co_await std::move(op);
        if (!loaded.ok())
            co_return from_errc(loaded.error);
        found = loaded.value;
    }
    if (!found || found->status != engine::api_key_status::active)
        co_return net::json_error(401, "Invalid API key");
    caller = std::move(found);
    co_return std::nullopt;
}

asio::awaitable<std::optional<http_response>> api_router::context::read_json(json_object& doc)
{
    constexpr std::uint64_t limit = 64 * 1024;
    auto length = request.content_length();
    if (length && *length > limit)
        co_return net::json_error(413, "Request body too large (limit 64 KiB)");
    if (request.has_body()) {
        std::string_view type = request.header("Content-Type");
        type = type.substr(0, type.find(';'));
        while (!type.empty() && type.back() == ' ')
            type.remove_suffix(1);
        bool json = type.size() == 16;
        for (std::size_t i = 0; json && i < 16; ++i)
            json = std::tolower(static_cast<unsigned char>(type[i])) == "application/json"[i];
        if (!json)
            co_return net::json_error(415, "Content-Type must be application/json");
    }
    std::string body;
    auto status = co_await request.read_body(body);
    if (status == net::body_status::too_large)
        co_return net::json_error(413, "Request body too large (limit 64 KiB)");
    if (status == net::body_status::failed) {
        auto r = net::json_error(400, "Request body could not be read");
        r.close = true;
        co_return r;
    }
    if (doc.parse(body) != engine::json_parse_error::ok)
        co_return net::json_error(422, "Invalid JSON body");
    co_return std::nullopt;
}

asio::awaitable<engine::config_result<engine::snapshot_ptr>> api_router::context::snapshot(uuid id)
{
    if (auto cached = service().try_snapshot(id))
        co_return engine::config_result<engine::snapshot_ptr>{config_errc::ok, *cached};
    auto work = [this, id] { return service().load_snapshot(id); };
    auto op = net::on_workers(router.workers_, std::move(work));
    co_return co_await std::move(op);
}

// The identity named by ?agent_identity_id=, with the admin/scoped rules.
std::optional<http_response> api_router::context::resolve_identity_param(std::optional<uuid>& out)
{
    const std::string* given = query.find("agent_identity_id");
    if (given != nullptr && !given->empty()) {
        out = uuid::parse(*given);
        if (!out)
            return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    if (!out) {
        if (admin())
            return net::json_error(422, "agent_identity_id is required");
        out = caller->scoped_identity_id;
    } else if (!admin() && *out != *caller->scoped_identity_id) {
        return net::json_error(403, scope_detail);
    }
    return std::nullopt;
}

asio::awaitable<http_response> api_router::context::put_action()
{
    json_object doc;
    if (auto e = co_await read_json(doc))
        co_return std::move(*e);
    put_action_request parsed;
    std::string detail;
    if (!read_put_action(doc, admin(), router.options_.allow_insecure_urls, parsed, detail))
        co_return net::json_error(422, detail);
    auto& action = parsed.action;
    auto& identity_id = parsed.agent_identity_id;
    if (!admin()) {
        if (identity_id && *identity_id != *caller->scoped_identity_id)
            co_return net::json_error(403, scope_detail);
        identity_id = caller->scoped_identity_id;
    }
    auto id = *identity_id;
    auto start = [this, id, action](auto done) { service().put_action(id, action, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::incoming_call_action>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    json_writer w;
    engine::write_incoming_call_action(w, id, result.value);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::get_action()
{
    std::optional<uuid> id;
    if (auto e = resolve_identity_param(id))
        co_return std::move(*e);
    auto snap = co_await snapshot(*id);
    if (!snap.ok())
        co_return from_errc(snap.error);
    if (!snap.value)
        co_return net::json_error(404, identity_not_found_detail);
    if (!snap.value->action)
        co_return from_errc(config_errc::no_config);
    json_writer w;
    engine::write_incoming_call_action(w, *id, *snap.value->action);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::delete_action()
{
    std::optional<uuid> id;
    if (auto e = resolve_identity_param(id))
        co_return std::move(*e);
    auto target = *id;
    auto start = [this, target](auto done) { service().delete_action(target, std::move(done)); };
    auto op = net::await_callback<config_errc>(std::move(start));
    auto result = co_await std::move(op);
    if (result != config_errc::ok)
        co_return from_errc(result);
    co_return no_content();
}

asio::awaitable<http_response> api_router::context::create_identity()
{
    json_object doc;
    if (auto e = co_await read_json(doc))
        co_return std::move(*e);
    engine::new_identity input;
    std::string detail;
    if (!read_new_identity(doc, input, detail))
        co_return net::json_error(422, detail);
    auto start = [this, input](auto done) { service().create_identity(input, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::identity_record>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    json_writer w;
    engine::write_identity(w, result.value);
    co_return json_response(201, w.take());
}

asio::awaitable<http_response> api_router::context::list_identities()
{
    std::size_t limit = 50, offset = 0;
    if (auto bad = read_page(query, limit, offset))
        co_return net::json_error(422, *bad);
    auto work = [this, limit, offset] {
        return service().list_identities(limit, offset);
    };
    auto op = net::on_workers(router.workers_, std::move(work));
    auto page = co_await std::move(op);
    if (!page.ok())
        co_return from_errc(page.error);
    json_writer w;
    w.begin_object().key("items").begin_array();
    for (const auto& identity : page.value.items)
        engine::write_identity(w, identity);
    w.end_array().field("total", static_cast<std::int64_t>(page.value.total)).end_object();
    co_return json_response(200, w.take());
}

// For a scoped key: 403 unless `handle` is its own identity's.
asio::awaitable<std::optional<http_response>> api_router::context::check_own_handle(std::string handle)
{
    if (admin())
        co_return std::nullopt;
    auto own = co_await snapshot(*caller->scoped_identity_id);
    if (!own.ok())
        co_return from_errc(own.error);
    if (!own.value || own.value->identity.agent_handle != handle)
        co_return net::json_error(403, scope_detail);
    co_return std::nullopt;
}

asio::awaitable<http_response> api_router::context::get_identity()
{
    std::string handle = route.param;
    if (auto e = co_await check_own_handle(handle))
        co_return std::move(*e);
    if (!engine::is_valid_agent_handle(handle))
        co_return net::json_error(404, identity_not_found_detail);
    auto work = [this, handle] {
        return service().load_identity_by_handle(handle);
    };
    auto op = net::on_workers(router.workers_, std::move(work));
    auto found = co_await std::move(op);
    if (!found.ok())
        co_return from_errc(found.error);
    json_writer w;
    engine::write_identity(w, found.value);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::patch_identity()
{
    json_object doc;
    if (auto e = co_await read_json(doc))
        co_return std::move(*e);
    engine::identity_patch patch;
    std::string detail;
    if (!read_identity_patch(doc, patch, detail))
        co_return net::json_error(422, detail);
    std::string handle = route.param;
    if (!engine::is_valid_agent_handle(handle))
        co_return net::json_error(404, identity_not_found_detail);
    auto start = [this, handle, patch](auto done) { service().update_identity(handle, patch, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::identity_record>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    json_writer w;
    engine::write_identity(w, result.value);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::delete_identity()
{
    std::string handle = route.param;
    if (!engine::is_valid_agent_handle(handle))
        co_return net::json_error(404, identity_not_found_detail);
    auto start = [this, handle](auto done) { service().delete_identity(handle, std::move(done)); };
    auto op = net::await_callback<config_errc>(std::move(start));
    auto result = co_await std::move(op);
    if (result != config_errc::ok)
        co_return from_errc(result);
    co_return no_content();
}

asio::awaitable<http_response> api_router::context::rotate_signing_key()
{
    std::string handle = route.param;
    if (auto e = co_await check_own_handle(handle))
        co_return std::move(*e);
    if (!engine::is_valid_agent_handle(handle))
        co_return net::json_error(404, identity_not_found_detail);
    auto start = [this, handle](auto done) { service().rotate_signing_key(handle, std::move(done)); };
    auto op = net::await_callback<engine::config_result<engine::signing_key_record>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    json_writer w;
    w.begin_object()
        .field("signing_key", result.value.key)
        .field("created_at", engine::format_rfc3339(result.value.created_at_us))
        .end_object();
    co_return json_response(201, w.take());
}

asio::awaitable<http_response> api_router::context::create_api_key()
{
    json_object doc;
    if (auto e = co_await read_json(doc))
        co_return std::move(*e);
    new_api_key_request input;
    std::string detail;
    if (!read_new_api_key(doc, input, detail))
        co_return net::json_error(422, detail);
    auto start = [this, input](auto done) {
        service().create_api_key(input.label, input.scoped_identity_id, std::move(done));
    };
    auto op = net::await_callback<engine::config_result<engine::created_api_key>>(std::move(start));
    auto result = co_await std::move(op);
    if (!result.ok())
        co_return from_errc(result.error);
    json_writer w;
    w.begin_object().field("api_key", result.value.api_key).key("record");
    engine::write_api_key(w, result.value.record);
    w.end_object();
    co_return json_response(201, w.take());
}

asio::awaitable<http_response> api_router::context::list_api_keys()
{
    auto work = [this] { return service().list_api_keys(); };
    auto op = net::on_workers(router.workers_, std::move(work));
    auto keys = co_await std::move(op);
    if (!keys.ok())
        co_return from_errc(keys.error);
    json_writer w;
    w.begin_object().key("items").begin_array();
    for (const auto& key : keys.value)
        engine::write_api_key(w, key);
    w.end_array().end_object();
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::api_key_self()
{
    json_writer w;
    engine::write_api_key(w, *caller);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::revoke_api_key()
{
    auto id = uuid::parse(route.param);
    if (!id)
        co_return net::json_error(404, "API key not found");
    auto target = *id;
    auto start = [this, target](auto done) { service().revoke_api_key(target, std::move(done)); };
    auto op = net::await_callback<config_errc>(std::move(start));
    auto result = co_await std::move(op);
    if (result != config_errc::ok)
        co_return from_errc(result);
    co_return no_content();
}

// Waits until every call record queued so far is readable.
asio::awaitable<bool> api_router::context::flush_calls()
{
    auto start = [this](auto done) { router.calls_.flush(done); };
    auto op = net::await_callback<bool>(std::move(start));
    co_return co_await std::move(op);
}

asio::awaitable<http_response> api_router::context::list_calls()
{
    std::size_t limit = 50, offset = 0;
    if (auto bad = read_page(query, limit, offset))
        co_return net::json_error(422, *bad);
    std::optional<uuid> identity;
    if (const auto* given = query.find("agent_identity_id"); given != nullptr && !given->empty()) {
        identity = uuid::parse(*given);
        if (!identity)
            co_return net::json_error(422, "agent_identity_id must be a valid UUID");
    }
    if (!admin()) {
        if (identity && *identity != *caller->scoped_identity_id)
            co_return net::json_error(403, scope_detail);
        identity = caller->scoped_identity_id;
    }
    if (!co_await flush_calls())
        co_return from_errc(config_errc::store_failure);
    auto work = [this, identity, limit, offset] { return router.calls_.list(identity, limit, offset); };
    auto op = net::on_workers(router.workers_, std::move(work));
    auto calls = co_await std::move(op);
    if (!calls.ok())
        co_return from_errc(calls.error);
    json_writer w;
    w.begin_object().key("items").begin_array();
    for (const auto& call : calls.value)
        engine::write_call_record(w, call);
    w.end_array().end_object();
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::context::get_call()
{
    auto id = uuid::parse(route.param);
    if (!id)
        co_return net::json_error(404, "Call not found");
    auto target = *id;
    if (!co_await flush_calls())
        co_return from_errc(config_errc::store_failure);
    auto work = [this, target] { return router.calls_.get(target); };
    auto op = net::on_workers(router.workers_, std::move(work));
    auto call = co_await std::move(op);
    if (call.error == config_errc::no_config)
        co_return net::json_error(404, "Call not found");
    if (!call.ok())
        co_return from_errc(call.error);
    if (!admin() && call.value.agent_identity_id != caller->scoped_identity_id)
        co_return net::json_error(404, "Call not found");
    json_writer w;
    engine::write_call_record(w, call.value);
    co_return json_response(200, w.take());
}

asio::awaitable<http_response> api_router::handle(http_request& request)
{
    context ctx{*this, request, request.method(), {}, {}, nullptr};
    std::string_view target = request.target();
    auto question = target.find('?');
    std::string_view path = target.substr(0, question);
    if (!match_route(path, ctx.route))
        co_return net::json_error(400, "Malformed percent-encoding in path");
    if (ctx.route.id == route_id::none)
        co_return net::json_error(404, "Not Found");
    if (!method_allowed(ctx.route.id, ctx.method)) {
        auto r = net::json_error(405, "Method Not Allowed");
        r.headers.emplace_back("Allow", std::string(allowed_methods(ctx.route.id)));
        co_return r;
    }
    switch (ctx.route.id) {
    case route_id::healthz: co_return json_response(200, "{\"status\":\"ok\"}");
    case route_id::readyz: {
        co_return net::readiness_response(options_.readiness ? options_.readiness() : net::readiness_report{});
    }
    case route_id::metrics: {
        http_response r;
        r.body = options_.render_metrics ? options_.render_metrics() : std::string{};
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        co_return r;
    }
    case route_id::openapi: co_return json_response(200, openapi_document());
    default: break;
    }

    if (auto e = co_await ctx.authenticate())
        co_return std::move(*e);
    if (is_admin_only(ctx.route.id, ctx.method) && !ctx.admin())
        co_return net::json_error(403, "Admin API key required");
    if (question != std::string_view::npos && !parse_query(target.substr(question + 1), ctx.query))
        co_return net::json_error(400, "Malformed percent-encoding in query string");
    for (const auto& [k, v] : ctx.query.items)
        if (!engine::is_valid_utf8(k) || !engine::is_valid_utf8(v))
            co_return net::json_error(422, "Query parameters must be UTF-8");

    std::string_view m = ctx.method;
    switch (ctx.route.id) {
    case route_id::incoming_call_action:
        if (m == "PUT")
            co_return co_await ctx.put_action();
        if (m == "GET")
            co_return co_await ctx.get_action();
        co_return co_await ctx.delete_action();
    case route_id::identities:
        if (m == "POST")
            co_return co_await ctx.create_identity();
        co_return co_await ctx.list_identities();
    case route_id::identity:
        if (m == "GET")
            co_return co_await ctx.get_identity();
        if (m == "PATCH")
            co_return co_await ctx.patch_identity();
        co_return co_await ctx.delete_identity();
    case route_id::signing_key: co_return co_await ctx.rotate_signing_key();
    case route_id::api_keys:
        if (m == "POST")
            co_return co_await ctx.create_api_key();
        co_return co_await ctx.list_api_keys();
    case route_id::api_key_self: co_return co_await ctx.api_key_self();
    case route_id::api_key: co_return co_await ctx.revoke_api_key();
    case route_id::calls: co_return co_await ctx.list_calls();
    case route_id::call: co_return co_await ctx.get_call();
    default: break;
    }
    co_return net::json_error(404, "Not Found");
}

std::vector<route_spec> api_router::routes()
{
    return {
        {"GET", "/incoming-call-action"},     {"PUT", "/incoming-call-action"},
        {"DELETE", "/incoming-call-action"},  {"GET", "/identities"},
        {"POST", "/identities"},              {"GET", "/identities/{agent_handle}"},
        {"PATCH", "/identities/{agent_handle}"}, {"DELETE", "/identities/{agent_handle}"},
        {"POST", "/identities/{agent_handle}/signing-key"},
        {"GET", "/api-keys"},                 {"POST", "/api-keys"},
        {"GET", "/api-keys/self"},            {"DELETE", "/api-keys/{id}"},
        {"GET", "/calls"},                    {"GET", "/calls/{id}"},
        {"GET", "/healthz"},                  {"GET", "/readyz"},
        {"GET", "/metrics"},                  {"GET", "/openapi.json"},
    };
}

} // namespace callgate::config_api
