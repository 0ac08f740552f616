#include "request_context.hpp"

#include "callgate/engine/validation.hpp"

#include "callgate/engine/secrets.hpp"
#include "callgate/net/async_glue.hpp"

#include <charconv>

namespace callgate::config_api {

namespace asio = boost::asio;
using engine::config_errc;
using net::http_response;

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
    case config_errc::fallback_requires_webhook:
        return net::json_error(
            422, "incoming_call_fallback_action is only valid when incoming_call_action is \"webhook\"");
    case config_errc::fallback_requires_client_url:
        return net::json_error(
            422, "client_websocket_url is required when incoming_call_fallback_action is \"auto_accept\"");
    case config_errc::no_phone_number: return net::json_error(422, "Identity has no phone number");
    case config_errc::rule_not_found: return net::json_error(404, "Contact rule not found");
    case config_errc::too_many_rules:
        return net::json_error(422, "An identity can have at most 100000 contact rules");
    case config_errc::filter_needs_phone: return net::json_error(422, "phone_filter_mode requires a phone number");
    case config_errc::rule_exists: return net::json_error(409, "Contact rule already exists");
    case config_errc::store_failure: return net::json_error(503, "Store unavailable, try again");
    case config_errc::store_full: return net::json_error(507, "Insufficient storage");
    case config_errc::store_read_only: return net::json_error(503, "Config store is read-only");
    case config_errc::store_unavailable: return net::json_error(503, "Config store unavailable");
    case config_errc::ok: break;
    }
    return net::json_error(500, "Internal Server Error");
}

http_response no_content()
{
    http_response r;
    r.status = 204;
    return r;
}

asio::awaitable<std::optional<http_response>> request_context::read_handle(std::string& handle)
{
    handle = path["agent_handle"];
    if (!admin()) {
        auto own = co_await snapshot(*caller->scoped_identity_id);
        if (!own.ok())
            co_return from_errc(own.error);
        if (!own.value || own.value->identity.agent_handle != handle)
            co_return net::json_error(403, scope_detail);
    }
    if (!engine::is_valid_agent_handle(handle))
        co_return net::json_error(404, identity_not_found_detail);
    co_return std::nullopt;
}

std::string_view request_context::api_key() const
{
    std::string_view key = request.header("X-API-Key");
    return key.empty() ? net::bearer_token(request.header("Authorization")) : key;
}

asio::awaitable<std::optional<http_response>> request_context::authenticate()
{
    std::string_view key = api_key();
    if (key.empty())
        co_return net::json_error(401, "Missing API key");
    std::string hash = engine::sha256(key);
    auto cached = service.try_api_key(hash);
    engine::api_key_ptr found;
    if (cached) {
        found = *cached;
    } else {
        auto work = [this, hash] { return service.load_api_key(hash); };
        auto op = net::on_workers(workers, std::move(work));
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

asio::awaitable<std::optional<http_response>> request_context::read_json(engine::json_object& doc)
{
    constexpr std::uint64_t limit = 64 * 1024;
    auto length = request.content_length();
    if (length && *length > limit)
        co_return net::json_error(413, "Request body too large (limit 64 KiB)");
    if (request.has_body()) {
        if (!net::is_json_media_type(request.header("Content-Type")))
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

asio::awaitable<engine::config_result<engine::snapshot_ptr>> request_context::snapshot(engine::uuid id)
{
    if (auto cached = service.try_snapshot(id))
        co_return engine::config_result<engine::snapshot_ptr>{config_errc::ok, *cached};
    auto work = [this, id] { return service.load_snapshot(id); };
    auto op = net::on_workers(workers, std::move(work));
    co_return co_await std::move(op);
}

namespace {

bool parse_number(const std::string& text, std::size_t& out)
{
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size() && !text.empty();
}

} // namespace

std::optional<std::string_view> request_context::read_page(std::size_t& limit, std::size_t& offset,
                                                          std::size_t max_limit) const
{
    if (const auto* v = query.find("limit"); v != nullptr && (!parse_number(*v, limit) || limit < 1 || limit > max_limit))
        return max_limit == 200 ? "limit must be an integer from 1 to 200" : "limit is out of range";
    if (const auto* v = query.find("offset"); v != nullptr && !parse_number(*v, offset))
        return "offset must be a non-negative integer";
    return std::nullopt;
}

std::optional<http_response> request_context::scope_to_caller(std::optional<engine::uuid>& id) const
{
    if (admin())
        return std::nullopt;
    if (id && *id != *caller->scoped_identity_id)
        return net::json_error(403, scope_detail);
    id = caller->scoped_identity_id;
    return std::nullopt;
}

} // namespace callgate::config_api
