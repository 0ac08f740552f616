#include "callgate/net/etcd_client.hpp"

#include "callgate/codec/base64.hpp"
#include "callgate/codec/json_string.hpp"
#include "callgate/net/outbound_client.hpp" // parse_url
#include "tls_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <simdjson.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>

namespace callgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = 16 * 1024;

// ---- request bodies: every string etcd sees is base64 but the credentials ----

class json_body {
public:
    json_body& open(std::string_view name)
    {
        key(name);
        out_ += '{';
        first_ = true;
        return *this;
    }
    json_body& open_array(std::string_view name)
    {
        key(name);
        out_ += '[';
        first_ = true;
        return *this;
    }
    json_body& open_element()
    {
        comma();
        out_ += '{';
        first_ = true;
        return *this;
    }
    json_body& close(char c = '}')
    {
        out_ += c;
        first_ = false;
        return *this;
    }
    json_body& bytes(std::string_view name, std::string_view value)
    {
        key(name);
        out_ += '"';
        out_ += codec::base64_encode(value);
        out_ += '"';
        return *this;
    }
    // int64 as a JSON string, as protobuf's JSON mapping writes it.
    json_body& number(std::string_view name, std::int64_t value)
    {
        key(name);
        out_ += '"';
        out_ += std::to_string(value);
        out_ += '"';
        return *this;
    }
    json_body& flag(std::string_view name, bool value)
    {
        key(name);
        out_ += value ? "true" : "false";
        return *this;
    }
    json_body& text(std::string_view name, std::string_view value)
    {
        key(name);
        out_ += '"';
        codec::append_json_escaped(out_, value);
        out_ += '"';
        return *this;
    }
    // Optional fields are left out when empty or zero, as etcd does.
    json_body& bytes_if(std::string_view name, std::string_view value)
    {
        return value.empty() ? *this : bytes(name, value);
    }
    json_body& number_if(std::string_view name, std::int64_t value) { return value == 0 ? *this : number(name, value); }
    json_body& flag_if(std::string_view name, bool value) { return value ? flag(name, true) : *this; }
    std::string take()
    {
        out_ += '}';
        return std::move(out_);
    }

private:
    void comma()
    {
        if (!first_)
            out_ += ',';
        first_ = false;
    }
    void key(std::string_view name)
    {
        comma();
        out_ += '"';
        out_ += name;
        out_ += "\":";
    }

    std::string out_ = "{";
    bool first_ = true;
};

void write_range_fields(json_body& b, const std::string& key, const std::string& range_end, std::int64_t revision,
                        std::int64_t limit, bool keys_only, bool count_only)
{
    b.bytes("key", key).bytes_if("range_end", range_end).number_if("revision", revision).number_if("limit", limit);
    b.flag_if("keys_only", keys_only).flag_if("count_only", count_only);
}

void write_op(json_body& b, const etcd_op& op)
{
    b.open_element();
    switch (op.what) {
    case etcd_op::kind::put:
        b.open("request_put").bytes("key", op.key).bytes_if("value", op.value).number_if("lease", op.lease).close();
        break;
    case etcd_op::kind::delete_range:
        b.open("request_delete_range").bytes("key", op.key).bytes_if("range_end", op.range_end).close();
        break;
    case etcd_op::kind::range:
        b.open("request_range");
        write_range_fields(b, op.key, op.range_end, op.revision, op.limit, op.keys_only, op.count_only);
        b.close();
        break;
    }
    b.close();
}

void write_compare(json_body& b, const etcd_compare& c)
{
    static constexpr std::string_view results[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
    b.open_element().bytes("key", c.key).bytes_if("range_end", c.range_end);
    b.text("result", results[static_cast<int>(c.op)]);
    switch (c.what) {
    case etcd_compare::target::version: b.text("target", "VERSION").number("version", c.number); break;
    case etcd_compare::target::create_revision: b.text("target", "CREATE").number("create_revision", c.number); break;
    case etcd_compare::target::mod_revision: b.text("target", "MOD").number("mod_revision", c.number); break;
    case etcd_compare::target::value: b.text("target", "VALUE").bytes("value", c.value); break;
    }
    b.close();
}

// ---- reply parsing (simdjson's error-code API; one parser per thread) ----

simdjson::dom::parser& thread_parser()
{
    thread_local simdjson::dom::parser parser;
    return parser;
}

using json_object = simdjson::dom::object;

// Parses `text` (whose capacity may be grown for simdjson's padding).
bool parse_root(std::string& text, json_object& out)
{
    if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING)
        text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element root;
    if (thread_parser().parse(text.data(), text.size(), false).get(root) != simdjson::SUCCESS)
        return false;
    return root.get(out) == simdjson::SUCCESS;
}

// An int64 or uint64 that protobuf's JSON mapping writes as a string
// (numbers are taken too); absent is 0.
template <class Integer>
bool get_integer(json_object o, std::string_view name, Integer& out)
{
    out = 0;
    simdjson::dom::element e;
    if (o.at_key(name).get(e) != simdjson::SUCCESS)
        return true;
    std::string_view text;
    if (e.get(text) == simdjson::SUCCESS) {
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return ec == std::errc{} && ptr == text.data() + text.size();
    }
    return e.get(out) == simdjson::SUCCESS;
}

bool get_int(json_object o, std::string_view name, std::int64_t& out) { return get_integer(o, name, out); }
bool get_uint(json_object o, std::string_view name, std::uint64_t& out) { return get_integer(o, name, out); }

bool get_bool(json_object o, std::string_view name, bool& out)
{
    out = false;
    simdjson::dom::element e;
    if (o.at_key(name).get(e) != simdjson::SUCCESS)
        return true;
    return e.get(out) == simdjson::SUCCESS;
}

bool get_text(json_object o, std::string_view name, std::string_view& out)
{
    out = {};
    simdjson::dom::element e;
    if (o.at_key(name).get(e) != simdjson::SUCCESS)
        return true;
    return e.get(out) == simdjson::SUCCESS;
}

bool get_bytes(json_object o, std::string_view name, std::string& out)
{
    std::string_view text;
    return get_text(o, name, text) && codec::base64_decode(text, out);
}

bool get_object(json_object o, std::string_view name, json_object& out)
{
    return o.at_key(name).get(out) == simdjson::SUCCESS;
}

// The store revision in a reply's header (0 when etcd left it out).
bool get_header_revision(json_object o, std::int64_t& revision)
{
    json_object header;
    revision = 0;
    return !get_object(o, "header", header) || get_int(header, "revision", revision);
}

bool parse_kv(json_object o, etcd_key_value& kv)
{
    return get_bytes(o, "key", kv.key) && get_bytes(o, "value", kv.value) &&
           get_int(o, "create_revision", kv.create_revision) && get_int(o, "mod_revision", kv.mod_revision) &&
           get_int(o, "version", kv.version) && get_int(o, "lease", kv.lease);
}

bool parse_range(json_object o, etcd_range_response& out)
{
    if (!get_header_revision(o, out.revision) || !get_bool(o, "more", out.more) || !get_int(o, "count", out.count))
        return false;
    simdjson::dom::array kvs;
    auto field = o.at_key("kvs");
    if (field.error() == simdjson::NO_SUCH_FIELD)
        return true;
    if (field.get(kvs) != simdjson::SUCCESS)
        return false;
    out.kvs.reserve(kvs.size());
    for (auto element : kvs) {
        json_object kv_object;
        if (element.get(kv_object) != simdjson::SUCCESS)
            return false;
        etcd_key_value& kv = out.kvs.emplace_back();
        if (!parse_kv(kv_object, kv))
            return false;
    }
    return true;
}

// What each member said when none could serve a call: the error's detail.
struct failure_notes {
    std::string text;
    void add(const std::string& note)
    {
        if (!text.empty())
            text += "; ";
        text += note;
    }
    std::string take() { return text.empty() ? std::string("deadline passed") : std::move(text); }
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// What an error etcd answered with means for the caller, and whether it is
// safe to try another member.
struct etcd_failure {
    etcd_errc code = etcd_errc::rejected;
    bool reauthenticate = false; // a fresh token may help
    bool not_applied = false;    // etcd refused before acting: another member may be tried
};

// etcd's error messages (they carry the meaning; gRPC codes are coarser).
struct known_error {
    std::string_view text;
    etcd_failure failure;
};
constexpr known_error known_errors[] = {
    {"invalid auth token", {etcd_errc::auth_failed, true, true}},
    {"revision of auth store is old", {etcd_errc::auth_failed, true, true}},
    {"user name is empty", {etcd_errc::auth_failed, true, true}},
    {"authentication failed", {etcd_errc::auth_failed, false, true}},
    {"permission denied", {etcd_errc::permission_denied, false, true}},
    {"required revision has been compacted", {etcd_errc::compacted, false, true}},
    {"future revision", {etcd_errc::future_revision, false, true}},
    {"too many operations in txn", {etcd_errc::too_many_ops, false, true}},
    {"request is too large", {etcd_errc::request_too_large, false, true}},
    {"lease not found", {etcd_errc::lease_not_found, false, true}},
    // Refused before a proposal was made: another member (or a later try) may do.
    {"no leader", {etcd_errc::unavailable, false, true}},
    {"not capable", {etcd_errc::unavailable, false, true}},
    {"too many requests", {etcd_errc::unavailable, false, true}},
};

etcd_failure classify(std::string_view message, int grpc_code)
{
    for (const auto& known : known_errors)
        if (contains(message, known.text))
            return known.failure;
    if (message == "connection closed") // the gateway could not reach its own member
        return {etcd_errc::unavailable, false, true};
    // Timed out or lost its leader while proposing: the write may still commit.
    if (grpc_code == 14 || grpc_code == 4 || grpc_code == 1)
        return {etcd_errc::unavailable, false, false};
    return {etcd_errc::rejected, false, true};
}

// ---- connections ----

struct connection {
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    std::unique_ptr<beast::tcp_stream> plain;
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    // Whether the peer closed this idle connection (a pending TLS record, such
    // as a session ticket, is not a close).
    bool closed_by_peer()
    {
        char byte;
        auto n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
};
using connection_ptr = std::unique_ptr<connection>;

struct member {
    std::string url;
    url_target target;
    bool secure = false;
    std::string host_header;
};

// One request on one member, as far as it got.
struct attempt_result {
    enum class stage { not_sent, sent, answered } at = stage::not_sent;
    std::string detail;
    bool too_large = false;
    unsigned status = 0;
    std::string body;
};

template <class Stream>
asio::awaitable<attempt_result> write_and_read(Stream& stream, connection& c, http::request<http::string_body>& req,
                                               std::size_t body_cap, bool& keep_alive)
{
    attempt_result out;
    auto [wec, written] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        // Bytes may have reached the member: count the request as sent.
        out.at = written == 0 && wec != beast::error::timeout ? attempt_result::stage::not_sent
                                                              : attempt_result::stage::sent;
        out.detail = "sending failed: " + wec.message();
        co_return out;
    }
    out.at = attempt_result::stage::sent;
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_cap);
    parser.header_limit(header_limit);
    auto [rec, read] = co_await http::async_read(stream, c.buffer, parser, use_tuple);
    if (rec && rec.category() == asio::error::get_ssl_category()) {
        // A TLS alert instead of a reply (TLS 1.3 refuses a client certificate
        // after the client's first flight): the HTTP server never saw the request.
        out.at = attempt_result::stage::not_sent;
        out.detail = "TLS failed: " + rec.message();
        co_return out;
    }
    if (rec) {
        out.too_large = rec == http::error::body_limit;
        out.detail = (rec == beast::error::timeout ? std::string("no reply by the deadline")
                                                   : "reading the reply failed: " + rec.message());
        co_return out;
    }
    auto& res = parser.get();
    out.at = attempt_result::stage::answered;
    out.status = res.result_int();
    out.body = std::move(res.body());
    keep_alive = res.keep_alive();
    co_return out;
}

} // namespace

std::string_view to_string(etcd_errc e)
{
    switch (e) {
    case etcd_errc::ok: return "ok";
    case etcd_errc::unavailable: return "unavailable";
    case etcd_errc::unknown_outcome: return "unknown_outcome";
    case etcd_errc::compacted: return "compacted";
    case etcd_errc::future_revision: return "future_revision";
    case etcd_errc::auth_failed: return "auth_failed";
    case etcd_errc::permission_denied: return "permission_denied";
    case etcd_errc::too_many_ops: return "too_many_ops";
    case etcd_errc::request_too_large: return "request_too_large";
    case etcd_errc::lease_not_found: return "lease_not_found";
    case etcd_errc::rejected: return "rejected";
    case etcd_errc::reply_too_large: return "reply_too_large";
    case etcd_errc::protocol: return "protocol";
    case etcd_errc::cancelled: return "cancelled";
    case etcd_errc::timeout: return "timeout";
    }
    return "unknown";
}

std::string etcd_prefix_end(std::string_view prefix)
{
    std::string end(prefix);
    while (!end.empty()) {
        auto last = static_cast<unsigned char>(end.back());
        if (last < 0xff) {
            end.back() = static_cast<char>(last + 1);
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');
}

etcd_range_request etcd_range_request::with_prefix(std::string prefix)
{
    etcd_range_request r;
    r.range_end = etcd_prefix_end(prefix);
    r.key = std::move(prefix);
    return r;
}

namespace {

etcd_compare make_compare(std::string key, etcd_compare::target what, etcd_compare::result op, std::int64_t number)
{
    etcd_compare c;
    c.key = std::move(key);
    c.what = what;
    c.op = op;
    c.number = number;
    return c;
}

} // namespace

etcd_compare etcd_compare::mod_revision(std::string key, result op, std::int64_t revision)
{
    return make_compare(std::move(key), target::mod_revision, op, revision);
}
etcd_compare etcd_compare::create_revision(std::string key, result op, std::int64_t revision)
{
    return make_compare(std::move(key), target::create_revision, op, revision);
}
etcd_compare etcd_compare::version(std::string key, result op, std::int64_t version)
{
    return make_compare(std::move(key), target::version, op, version);
}
etcd_compare etcd_compare::value_is(std::string key, result op, std::string value)
{
    etcd_compare c = make_compare(std::move(key), target::value, op, 0);
    c.value = std::move(value);
    return c;
}
etcd_compare etcd_compare::absent(std::string key) { return create_revision(std::move(key), result::equal, 0); }

etcd_op etcd_op::put(std::string key, std::string value, std::int64_t lease)
{
    etcd_op op;
    op.what = kind::put;
    op.key = std::move(key);
    op.value = std::move(value);
    op.lease = lease;
    return op;
}
etcd_op etcd_op::remove(std::string key, std::string range_end)
{
    etcd_op op;
    op.what = kind::delete_range;
    op.key = std::move(key);
    op.range_end = std::move(range_end);
    return op;
}
etcd_op etcd_op::get(etcd_range_request r)
{
    etcd_op op;
    op.what = kind::range;
    op.key = std::move(r.key);
    op.range_end = std::move(r.range_end);
    op.revision = r.revision;
    op.limit = r.limit;
    op.keys_only = r.keys_only;
    op.count_only = r.count_only;
    return op;
}

// ---- the client ----

struct etcd_client::impl {
    etcd_client_options options;
    std::vector<member> members;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    std::atomic<std::size_t> preferred{0};

    std::mutex token_mutex;
    std::string token;     // empty: not authenticated yet
    bool auth_off = false; // etcd said its authentication is not enabled

    std::mutex pool_mutex;
    std::map<std::pair<const void*, std::size_t>, std::vector<connection_ptr>> idle;

    struct call_spec {
        std::string_view op;
        std::string_view path;
        std::string body;
        std::size_t reply_cap;
        bool idempotent;         // safe to send again to another member
        std::ptrdiff_t only = -1; // one member only (status of a given endpoint)
    };
    struct call_result {
        etcd_error error;
        std::string body; // the 200 reply
        std::size_t member = 0;
    };

    bool has_credentials() const { return !options.username.empty(); }

    std::string current_token()
    {
        std::lock_guard lock(token_mutex);
        return token;
    }

    // Whether a call must authenticate before it is sent.
    bool needs_token()
    {
        std::lock_guard lock(token_mutex);
        return has_credentials() && token.empty() && !auth_off;
    }

    // After etcd refused `used`: the next call authenticates again.
    void forget_token(const std::string& used)
    {
        std::lock_guard lock(token_mutex);
        if (token == used)
            token.clear();
        auth_off = false;
    }

    asio::awaitable<connection_ptr> connect(std::size_t m, steady::time_point deadline, std::string& detail);
    asio::awaitable<connection_ptr> acquire(std::size_t m, steady::time_point deadline, std::string& detail);
    void release(std::size_t m, connection_ptr c, const void* context);
    asio::awaitable<attempt_result> attempt(std::size_t m, std::string_view path, const std::string& body,
                                            const std::string& auth, steady::time_point deadline,
                                            std::size_t reply_cap);
    asio::awaitable<etcd_error> authenticate(std::size_t m, steady::time_point deadline);
    asio::awaitable<call_result> call(call_spec spec, steady::time_point deadline);
    asio::awaitable<etcd_result<etcd_watch>> open_watch(etcd_watch_request request, steady::time_point deadline);

    steady::time_point deadline_or_default(steady::time_point deadline) const
    {
        return deadline == steady::time_point{} ? steady::now() + options.request_timeout : deadline;
    }

    void count(std::string_view op, etcd_errc outcome) const
    {
        if (options.on_request)
            options.on_request(op, outcome);
    }
};

asio::awaitable<connection_ptr> etcd_client::impl::connect(std::size_t m, steady::time_point deadline,
                                                           std::string& detail)
{
    const member& target = members[m];
    auto ex = co_await asio::this_coro::executor;
    auto connect_deadline = std::min(deadline, steady::now() + options.connect_timeout);
    std::vector<tcp::endpoint> endpoints;
    beast::error_code ec;
    auto address = asio::ip::make_address(target.target.host, ec);
    const bool host_is_name = static_cast<bool>(ec);
    if (!host_is_name) {
        endpoints.emplace_back(address, target.target.port);
    } else {
        tcp::resolver resolver(ex);
        asio::steady_timer timer(ex, connect_deadline);
        auto result = co_await (resolver.async_resolve(target.target.host, std::to_string(target.target.port),
                                                       use_tuple) ||
                                timer.async_wait(use_tuple));
        if (result.index() == 1) {
            detail = target.url + ": name lookup timed out";
            co_return nullptr;
        }
        auto [rec, results] = std::get<0>(result);
        if (rec) {
            detail = target.url + ": cannot resolve: " + rec.message();
            co_return nullptr;
        }
        for (const auto& entry : results)
            endpoints.push_back(entry.endpoint());
    }

    auto c = std::make_unique<connection>();
    c->plain = std::make_unique<beast::tcp_stream>(ex);
    c->plain->expires_at(connect_deadline);
    auto [cec, ep] = co_await c->plain->async_connect(endpoints, use_tuple);
    if (cec) {
        detail = target.url + ": cannot connect: " + cec.message();
        co_return nullptr;
    }
    c->plain->socket().set_option(tcp::no_delay(true));
    if (!target.secure)
        co_return c;
    c->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*c->plain), tls);
    c->plain.reset();
    detail::verify_server(*c->secure, target.target.host);
    c->lowest().expires_at(connect_deadline);
    auto [hec] = co_await c->secure->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) {
        detail = target.url + ": TLS failed: " + hec.message();
        co_return nullptr;
    }
    co_return c;
}

asio::awaitable<connection_ptr> etcd_client::impl::acquire(std::size_t m, steady::time_point deadline,
                                                           std::string& detail)
{
    auto ex = co_await asio::this_coro::executor;
    const void* context = &asio::query(ex, asio::execution::context);
    {
        std::lock_guard lock(pool_mutex);
        auto it = idle.find({context, m});
        while (it != idle.end() && !it->second.empty()) {
            auto c = std::move(it->second.back());
            it->second.pop_back();
            if (!c->closed_by_peer())
                co_return c;
        }
    }
    co_return co_await connect(m, deadline, detail);
}

void etcd_client::impl::release(std::size_t m, connection_ptr c, const void* context)
{
    std::lock_guard lock(pool_mutex);
    auto& pool = idle[{context, m}];
    if (pool.size() < options.max_idle_connections)
        pool.push_back(std::move(c));
}

asio::awaitable<attempt_result> etcd_client::impl::attempt(std::size_t m, std::string_view path,
                                                           const std::string& body, const std::string& auth,
                                                           steady::time_point deadline, std::size_t reply_cap)
{
    attempt_result out;
    if (steady::now() >= deadline) {
        out.detail = "deadline passed";
        co_return out;
    }
    auto c = co_await acquire(m, deadline, out.detail);
    if (!c)
        co_return out;
    const member& target = members[m];
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, target.host_header);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "callgate");
    if (!auth.empty())
        req.set(http::field::authorization, auth);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();

    c->lowest().expires_at(deadline);
    bool keep_alive = false;
    if (c->secure)
        out = co_await write_and_read(*c->secure, *c, req, reply_cap, keep_alive);
    else
        out = co_await write_and_read(*c->plain, *c, req, reply_cap, keep_alive);
    if (out.at != attempt_result::stage::answered) {
        out.detail = target.url + ": " + out.detail;
        co_return out;
    }
    if (keep_alive) {
        c->lowest().expires_never();
        auto ex = co_await asio::this_coro::executor;
        release(m, std::move(c), &asio::query(ex, asio::execution::context));
    }
    co_return out;
}

namespace {

// The error of a non-200 reply: {"error": ..., "code": <gRPC code>, "message": ...}.
etcd_failure reply_failure(attempt_result& r, std::string& detail)
{
    json_object root;
    std::string_view message;
    std::int64_t code = 0;
    if (!r.body.empty() && parse_root(r.body, root) && get_text(root, "message", message) &&
        get_int(root, "code", code) && !message.empty()) {
        detail = std::string(message);
        return classify(message, static_cast<int>(code));
    }
    detail = "HTTP " + std::to_string(r.status);
    if (r.status >= 500)
        return {etcd_errc::unavailable, false, false};
    return {etcd_errc::rejected, false, true};
}

} // namespace

asio::awaitable<etcd_error> etcd_client::impl::authenticate(std::size_t m, steady::time_point deadline)
{
    json_body b;
    b.text("name", options.username).text("password", options.password);
    auto r = co_await attempt(m, "/v3/auth/authenticate", b.take(), {}, deadline, options.max_reply);
    if (r.at != attempt_result::stage::answered)
        co_return etcd_error{etcd_errc::unavailable, r.detail};
    if (r.status != 200) {
        std::string detail;
        auto f = reply_failure(r, detail);
        if (contains(detail, "authentication is not enabled")) {
            std::lock_guard lock(token_mutex);
            token.clear();
            auth_off = true;
            co_return etcd_error{};
        }
        co_return etcd_error{f.code == etcd_errc::rejected ? etcd_errc::auth_failed : f.code,
                             members[m].url + ": " + detail};
    }
    json_object root;
    std::string_view text;
    if (!parse_root(r.body, root) || !get_text(root, "token", text) || text.empty())
        co_return etcd_error{etcd_errc::protocol, members[m].url + ": authenticate reply without a token"};
    std::lock_guard lock(token_mutex);
    token = std::string(text);
    auth_off = false;
    co_return etcd_error{};
}

asio::awaitable<etcd_client::impl::call_result> etcd_client::impl::call(call_spec spec, steady::time_point deadline)
{
    call_result out;
    const std::size_t n = members.size();
    failure_notes notes;
    bool reauthenticated = false;
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
        bool transient = false; // a member answered but could not act now (no leader)
        std::size_t start = spec.only >= 0 ? static_cast<std::size_t>(spec.only) : preferred.load();
        std::size_t tries = spec.only >= 0 ? 1 : n;
        for (std::size_t i = 0; i < tries; ++i) {
            std::size_t m = (start + i) % n;
            if (needs_token()) {
                auto error = co_await authenticate(m, deadline);
                if (error.code == etcd_errc::unavailable) {
                    notes.add(error.detail);
                    continue;
                }
                if (error) {
                    out.error = std::move(error);
                    co_return out;
                }
            }
            std::string used = current_token();
            // A read may go on to the next member if this one hangs, so it gets
            // its share of the time left; a write gets all of it (once sent, it
            // cannot be sent elsewhere).
            auto attempt_deadline = deadline;
            if (spec.idempotent && i + 1 < tries)
                attempt_deadline = steady::now() + (deadline - steady::now()) / static_cast<long>(tries - i);
            auto r = co_await attempt(m, spec.path, spec.body, used, attempt_deadline, spec.reply_cap);
            if (r.too_large) {
                out.error = {etcd_errc::reply_too_large,
                             members[m].url + ": reply over " + std::to_string(spec.reply_cap) + " bytes"};
                co_return out;
            }
            if (r.at == attempt_result::stage::not_sent) {
                notes.add(r.detail);
                continue;
            }
            if (r.at == attempt_result::stage::sent) {
                if (!spec.idempotent) {
                    out.error = {etcd_errc::unknown_outcome, r.detail};
                    co_return out;
                }
                notes.add(r.detail);
                continue;
            }
            if (r.status == 200) {
                if (spec.only < 0)
                    preferred.store(m);
                out.body = std::move(r.body);
                out.member = m;
                co_return out;
            }
            std::string detail;
            auto f = reply_failure(r, detail);
            detail = members[m].url + ": " + detail;
            if (f.reauthenticate && has_credentials() && !reauthenticated) {
                reauthenticated = true;
                forget_token(used);
                --i; // the same member again, authenticating first
                continue;
            }
            if (f.code != etcd_errc::unavailable) {
                if (spec.only < 0)
                    preferred.store(m);
                out.error = {f.code, std::move(detail)};
                co_return out;
            }
            if (!f.not_applied && !spec.idempotent) {
                out.error = {etcd_errc::unknown_outcome, std::move(detail)};
                co_return out;
            }
            transient = transient || f.not_applied;
            notes.add(detail);
        }
        // Every member failed. Go round again only while one of them is up
        // but waiting for a leader, and there is time for it.
        auto ex = co_await asio::this_coro::executor;
        if (!transient || steady::now() + backoff >= deadline)
            break;
        asio::steady_timer pause(ex, backoff);
        co_await pause.async_wait(use_tuple);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(400));
        notes = {};
    }
    out.error = {etcd_errc::unavailable, notes.take()};
    co_return out;
}

// ---- operations ----

namespace {

template <class T>
etcd_result<T> failed(etcd_error error)
{
    etcd_result<T> r;
    r.error = std::move(error);
    return r;
}

etcd_error bad_reply(std::string_view op) { return {etcd_errc::protocol, "unexpected " + std::string(op) + " reply"}; }

} // namespace

etcd_client::etcd_client(etcd_client_options options) : impl_(std::make_shared<impl>())
{
    impl_->options = std::move(options);
    auto& o = impl_->options;
    if (o.endpoints.empty())
        throw std::invalid_argument("no etcd endpoints");
    bool any_secure = false;
    for (const auto& url : o.endpoints) {
        member m;
        m.url = url;
        if (!parse_url(url, m.target) || (m.target.scheme != "http" && m.target.scheme != "https") ||
            (m.target.target != "/" && !m.target.target.empty()))
            throw std::invalid_argument("bad etcd endpoint " + url + " (want http:// or https://host:port)");
        m.secure = m.target.scheme == "https";
        any_secure = any_secure || m.secure;
        std::string host = m.target.host.find(':') != std::string::npos ? "[" + m.target.host + "]" : m.target.host;
        m.host_header = host + ":" + std::to_string(m.target.port);
        impl_->members.push_back(std::move(m));
    }
    auto& ctx = impl_->tls;
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    if (!o.ca_file.empty())
        ctx.load_verify_file(o.ca_file, ec);
    else if (any_secure)
        ctx.set_default_verify_paths(ec);
    if (ec)
        throw std::runtime_error("cannot load etcd CA file " + o.ca_file + ": " + ec.message());
    if (o.cert_file.empty() != o.key_file.empty())
        throw std::invalid_argument("an etcd client certificate needs both a cert file and a key file");
    if (!o.cert_file.empty()) {
        ctx.use_certificate_chain_file(o.cert_file, ec);
        if (ec)
            throw std::runtime_error("cannot load etcd cert file " + o.cert_file + ": " + ec.message());
        ctx.use_private_key_file(o.key_file, asio::ssl::context::pem, ec);
        if (ec)
            throw std::runtime_error("cannot load etcd key file " + o.key_file + ": " + ec.message());
    }
}

etcd_client::~etcd_client() = default;

const std::vector<std::string>& etcd_client::endpoints() const { return impl_->options.endpoints; }

std::string etcd_client::preferred_endpoint() const { return impl_->members[impl_->preferred.load()].url; }

asio::awaitable<etcd_result<etcd_range_response>> etcd_client::range(etcd_range_request request,
                                                                     time_point deadline)
{
    auto self = impl_;
    json_body b;
    write_range_fields(b, request.key, request.range_end, request.revision, request.limit, request.keys_only,
                       request.count_only);
    impl::call_spec spec{"range", "/v3/kv/range", b.take(), self->options.max_range_reply, true};
    auto op = self->call(std::move(spec), self->deadline_or_default(deadline));
    auto r = co_await std::move(op);
    etcd_result<etcd_range_response> out;
    json_object root;
    if (r.error)
        out.error = std::move(r.error);
    else if (!parse_root(r.body, root) || !parse_range(root, out.value))
        out.error = bad_reply("range");
    self->count("range", out.error.code);
    co_return out;
}

asio::awaitable<etcd_result<etcd_txn_response>> etcd_client::txn(etcd_txn_request request, time_point deadline)
{
    auto self = impl_;
    json_body b;
    if (!request.compare.empty()) {
        b.open_array("compare");
        for (const auto& c : request.compare)
            write_compare(b, c);
        b.close(']');
    }
    bool writes = false;
    for (auto* branch : {&request.success, &request.failure}) {
        if (branch->empty())
            continue;
        b.open_array(branch == &request.success ? "success" : "failure");
        for (const auto& o : *branch) {
            write_op(b, o);
            writes = writes || o.what != etcd_op::kind::range;
        }
        b.close(']');
    }
    impl::call_spec spec{"txn", "/v3/kv/txn", b.take(), self->options.max_range_reply, !writes};
    auto op = self->call(std::move(spec), self->deadline_or_default(deadline));
    auto r = co_await std::move(op);
    etcd_result<etcd_txn_response> out;
    auto parse = [&]() {
        json_object root;
        if (!parse_root(r.body, root) || !get_header_revision(root, out.value.revision) ||
            !get_bool(root, "succeeded", out.value.succeeded))
            return false;
        simdjson::dom::array responses;
        auto field = root.at_key("responses");
        if (field.error() == simdjson::NO_SUCH_FIELD)
            return true;
        if (field.get(responses) != simdjson::SUCCESS)
            return false;
        for (auto element : responses) {
            json_object response, inner;
            if (element.get(response) != simdjson::SUCCESS)
                return false;
            auto& one = out.value.responses.emplace_back();
            if (response.at_key("response_range").get(inner) == simdjson::SUCCESS) {
                one.what = etcd_op::kind::range;
                if (!parse_range(inner, one.range))
                    return false;
            } else if (response.at_key("response_delete_range").get(inner) == simdjson::SUCCESS) {
                one.what = etcd_op::kind::delete_range;
                if (!get_int(inner, "deleted", one.deleted))
                    return false;
            } else if (response.at_key("response_put").get(inner) == simdjson::SUCCESS) {
                one.what = etcd_op::kind::put;
            } else {
                return false;
            }
        }
        return true;
    };
    if (r.error)
        out.error = std::move(r.error);
    else if (!parse())
        out.error = bad_reply("txn");
    self->count("txn", out.error.code);
    co_return out;
}

namespace {

// Runs a call whose reply carries only what `parse` reads from its root object.
template <class T, class Parse>
asio::awaitable<etcd_result<T>> simple_call(std::shared_ptr<etcd_client::impl> self,
                                            etcd_client::impl::call_spec spec, steady::time_point deadline,
                                            Parse parse)
{
    std::string op_name(spec.op);
    auto op = self->call(std::move(spec), self->deadline_or_default(deadline));
    auto r = co_await std::move(op);
    etcd_result<T> out;
    json_object root;
    if (r.error)
        out.error = std::move(r.error);
    else if (!parse_root(r.body, root) || !parse(root, r.member, out))
        out.error = bad_reply(op_name);
    self->count(op_name, out.error.code);
    co_return out;
}

} // namespace

asio::awaitable<etcd_result<std::int64_t>> etcd_client::put(std::string key, std::string value, std::int64_t lease,
                                                            time_point deadline)
{
    json_body b;
    b.bytes("key", key).bytes_if("value", value).number_if("lease", lease);
    auto op = simple_call<std::int64_t>(impl_, {"put", "/v3/kv/put", b.take(), impl_->options.max_reply, false},
                                        deadline, [](json_object root, std::size_t, etcd_result<std::int64_t>& out) {
                                            return get_header_revision(root, out.value);
                                        });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<etcd_delete_response>> etcd_client::delete_range(std::string key, std::string range_end,
                                                                             time_point deadline)
{
    json_body b;
    b.bytes("key", key).bytes_if("range_end", range_end);
    auto op = simple_call<etcd_delete_response>(
        impl_, {"delete_range", "/v3/kv/deleterange", b.take(), impl_->options.max_reply, false}, deadline,
        [](json_object root, std::size_t, etcd_result<etcd_delete_response>& out) {
            return get_header_revision(root, out.value.revision) && get_int(root, "deleted", out.value.deleted);
        });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<etcd_lease>> etcd_client::lease_grant(std::int64_t ttl_seconds, time_point deadline)
{
    json_body b;
    b.number("TTL", ttl_seconds);
    auto op = simple_call<etcd_lease>(impl_, {"lease_grant", "/v3/lease/grant", b.take(), impl_->options.max_reply,
                                              false},
                                      deadline, [](json_object root, std::size_t, etcd_result<etcd_lease>& out) {
                                          std::string_view error;
                                          if (!get_text(root, "error", error))
                                              return false;
                                          if (!error.empty()) {
                                              out.error = {etcd_errc::rejected, std::string(error)};
                                              return true;
                                          }
                                          return get_int(root, "ID", out.value.id) &&
                                                 get_int(root, "TTL", out.value.ttl) && out.value.id != 0;
                                      });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<etcd_lease>> etcd_client::lease_keepalive(std::int64_t id, time_point deadline)
{
    json_body b;
    b.number("ID", id);
    // A streaming call in gRPC: the gateway answers {"result": {...}} and ends
    // the stream once the request body is read.
    auto op = simple_call<etcd_lease>(
        impl_, {"lease_keepalive", "/v3/lease/keepalive", b.take(), impl_->options.max_reply, true}, deadline,
        [](json_object root, std::size_t, etcd_result<etcd_lease>& out) {
            json_object result, error;
            if (root.at_key("error").get(error) == simdjson::SUCCESS) {
                std::string_view message;
                std::int64_t code = 0;
                (void)get_text(error, "message", message);
                (void)get_int(error, "grpc_code", code);
                out.error = {classify(message, static_cast<int>(code)).code, std::string(message)};
                return true;
            }
            if (root.at_key("result").get(result) != simdjson::SUCCESS || !get_int(result, "ID", out.value.id) ||
                !get_int(result, "TTL", out.value.ttl))
                return false;
            if (out.value.ttl <= 0)
                out.error = {etcd_errc::lease_not_found, "lease " + std::to_string(out.value.id) + " has expired"};
            return true;
        });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<std::int64_t>> etcd_client::lease_revoke(std::int64_t id, time_point deadline)
{
    json_body b;
    b.number("ID", id);
    auto op = simple_call<std::int64_t>(impl_, {"lease_revoke", "/v3/lease/revoke", b.take(),
                                                impl_->options.max_reply, true},
                                        deadline, [](json_object root, std::size_t, etcd_result<std::int64_t>& out) {
                                            return get_header_revision(root, out.value);
                                        });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<std::int64_t>> etcd_client::compact(std::int64_t revision, time_point deadline)
{
    json_body b;
    b.number("revision", revision);
    auto op = simple_call<std::int64_t>(impl_, {"compact", "/v3/kv/compaction", b.take(), impl_->options.max_reply,
                                                true},
                                        deadline, [](json_object root, std::size_t, etcd_result<std::int64_t>& out) {
                                            return get_header_revision(root, out.value);
                                        });
    co_return co_await std::move(op);
}

asio::awaitable<etcd_result<etcd_status>> etcd_client::status(std::string endpoint, time_point deadline)
{
    impl::call_spec spec{"status", "/v3/maintenance/status", "{}", impl_->options.max_reply, true};
    if (!endpoint.empty()) {
        auto& urls = impl_->options.endpoints;
        auto it = std::find(urls.begin(), urls.end(), endpoint);
        if (it == urls.end()) {
            impl_->count("status", etcd_errc::rejected);
            co_return failed<etcd_status>({etcd_errc::rejected, endpoint + " is not one of the endpoints"});
        }
        spec.only = it - urls.begin();
    }
    auto self = impl_;
    auto op = simple_call<etcd_status>(
        impl_, std::move(spec), deadline,
        [self](json_object root, std::size_t member, etcd_result<etcd_status>& out) {
            json_object header;
            std::string_view version;
            auto& s = out.value;
            s.endpoint = self->members[member].url;
            if (!get_object(root, "header", header) || !get_uint(header, "member_id", s.member_id) ||
                !get_int(header, "revision", s.revision) || !get_uint(root, "leader", s.leader) ||
                !get_int(root, "raftIndex", s.raft_index) || !get_int(root, "raftTerm", s.raft_term) ||
                !get_int(root, "dbSize", s.db_size) || !get_text(root, "version", version))
                return false;
            s.version = std::string(version);
            return true;
        });
    co_return co_await std::move(op);
}

// ---- watch ----

struct etcd_watch::state {
    std::shared_ptr<etcd_client::impl> client; // keeps the TLS context alive
    std::string endpoint;
    connection_ptr stream;
    http::response_parser<http::buffer_body> parser;
    std::size_t frame_cap = 0;
    std::size_t queue_cap = 0;
    std::string pending; // bytes read but not yet a whole message

    std::deque<etcd_result<etcd_watch_batch>> queue; // the last entry may be the error that ended the stream
    bool ended = false;     // the reader has stopped; `queue` holds its last word
    bool cancelled = false;
    std::int64_t resume = 0;
    asio::steady_timer wake;  // the consumer waits on it; the reader cancels it
    asio::steady_timer space; // the reader waits on it while the queue is full

    explicit state(asio::any_io_executor ex) : wake(ex), space(ex) {}

    void finish(etcd_errc code, std::string detail, std::int64_t compact_revision = 0)
    {
        if (ended)
            return;
        ended = true;
        etcd_result<etcd_watch_batch> last;
        last.error = {code, std::move(detail)};
        last.value.compact_revision = compact_revision;
        queue.push_back(std::move(last));
        wake.cancel();
    }

    void close()
    {
        if (stream) {
            beast::error_code ignored;
            stream->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream->lowest().close();
        }
    }
};

namespace {

enum class frame_kind { batch, created, ended };

// Turns one watch message into a batch, or the error that ended the watch.
frame_kind parse_watch_frame(std::string& text, etcd_result<etcd_watch_batch>& out)
{
    json_object root, result, error;
    if (!parse_root(text, root)) {
        out.error = {etcd_errc::protocol, "a watch message that is not JSON"};
        return frame_kind::ended;
    }
    if (root.at_key("error").get(error) == simdjson::SUCCESS) {
        std::string_view message;
        (void)get_text(error, "message", message);
        out.error = {etcd_errc::unavailable, "watch stream failed: " + std::string(message)};
        return frame_kind::ended;
    }
    bool created = false, canceled = false;
    std::string_view reason;
    auto& batch = out.value;
    if (root.at_key("result").get(result) != simdjson::SUCCESS || !get_bool(result, "created", created) ||
        !get_bool(result, "canceled", canceled) || !get_text(result, "cancel_reason", reason) ||
        !get_int(result, "compact_revision", batch.compact_revision) ||
        !get_header_revision(result, batch.revision)) {
        out.error = {etcd_errc::protocol, "unexpected watch message"};
        return frame_kind::ended;
    }
    if (batch.compact_revision != 0) {
        out.error = {etcd_errc::compacted,
                     "history before revision " + std::to_string(batch.compact_revision) + " is compacted"};
        return frame_kind::ended;
    }
    if (canceled) {
        auto f = classify(reason, 0);
        out.error = {f.code == etcd_errc::rejected ? etcd_errc::unavailable : f.code,
                     "watch cancelled by etcd: " + std::string(reason)};
        return frame_kind::ended;
    }
    simdjson::dom::array events;
    if (result.at_key("events").get(events) == simdjson::SUCCESS) {
        batch.events.reserve(events.size());
        for (auto element : events) {
            json_object event, kv;
            std::string_view type;
            auto& e = batch.events.emplace_back();
            if (element.get(event) != simdjson::SUCCESS || !get_text(event, "type", type) ||
                !get_object(event, "kv", kv) || !parse_kv(kv, e.kv)) {
                out.error = {etcd_errc::protocol, "unexpected watch event"};
                return frame_kind::ended;
            }
            e.what = type == "DELETE" ? etcd_event::kind::remove : etcd_event::kind::put;
        }
    }
    return created ? frame_kind::created : frame_kind::batch;
}

// Reads what the stream has into `s.pending`; false when it ended or failed
// (then the error is in `error`).
template <class Stream>
asio::awaitable<bool> read_some(Stream& stream, etcd_watch::state& s, std::vector<char>& chunk, etcd_error& error)
{
    auto& body = s.parser.get().body();
    body.data = chunk.data();
    body.size = chunk.size();
    auto [ec, n] = co_await http::async_read_some(stream, s.stream->buffer, s.parser, use_tuple);
    if (ec == http::error::need_buffer)
        ec = {};
    s.pending.append(chunk.data(), chunk.size() - body.size);
    if (ec) {
        error = {etcd_errc::unavailable, "watch stream from " + s.endpoint + " broke: " + ec.message()};
        co_return false;
    }
    if (s.parser.is_done()) {
        error = {etcd_errc::unavailable, "watch stream from " + s.endpoint + " ended"};
        co_return false;
    }
    co_return true;
}

// The next whole message of the stream, waiting for more bytes as needed.
asio::awaitable<bool> next_frame(etcd_watch::state& s, std::vector<char>& chunk, std::string& frame, etcd_error& error)
{
    for (;;) {
        auto newline = s.pending.find('\n');
        if (newline != std::string::npos) {
            frame.assign(s.pending, 0, newline);
            s.pending.erase(0, newline + 1);
            if (frame.find_first_not_of(" \r\t") == std::string::npos)
                continue;
            co_return true;
        }
        if (s.pending.size() > s.frame_cap) {
            error = {etcd_errc::reply_too_large,
                     "a watch message over " + std::to_string(s.frame_cap) + " bytes from " + s.endpoint};
            co_return false;
        }
        bool more = s.stream->secure ? co_await read_some(*s.stream->secure, s, chunk, error)
                                     : co_await read_some(*s.stream->plain, s, chunk, error);
        if (!more) {
            if (error.code == etcd_errc::unavailable && !s.pending.empty() &&
                s.pending.find_first_not_of(" \r\t\n") != std::string::npos) {
                frame = std::move(s.pending); // the last message, without its newline
                s.pending.clear();
                co_return true;
            }
            co_return false;
        }
    }
}

asio::awaitable<void> run_watch_reader(std::shared_ptr<etcd_watch::state> s)
{
    std::vector<char> chunk(64 * 1024);
    std::string frame;
    while (!s->cancelled && !s->ended) {
        etcd_error error;
        bool got = co_await next_frame(*s, chunk, frame, error);
        if (s->cancelled)
            break;
        if (!got) {
            s->finish(error.code, std::move(error.detail));
            break;
        }
        etcd_result<etcd_watch_batch> batch;
        auto kind = parse_watch_frame(frame, batch);
        if (kind == frame_kind::ended) {
            s->finish(batch.error.code, std::move(batch.error.detail), batch.value.compact_revision);
            break;
        }
        if (kind == frame_kind::created)
            continue;
        s->queue.push_back(std::move(batch));
        s->wake.cancel();
        while (s->queue.size() >= s->queue_cap && !s->cancelled) {
            s->space.expires_at(steady::time_point::max());
            co_await s->space.async_wait(use_tuple);
        }
    }
    s->close();
}

} // namespace

etcd_watch::etcd_watch() = default;
etcd_watch::etcd_watch(std::shared_ptr<state> s) : state_(std::move(s)) {}
etcd_watch::etcd_watch(etcd_watch&&) noexcept = default;
etcd_watch& etcd_watch::operator=(etcd_watch&& other) noexcept
{
    if (this != &other) {
        cancel();
        state_ = std::move(other.state_);
    }
    return *this;
}
etcd_watch::~etcd_watch() { cancel(); }

void etcd_watch::cancel()
{
    if (!state_ || state_->cancelled)
        return;
    state_->cancelled = true;
    state_->close();
    state_->wake.cancel();
    state_->space.cancel();
}

std::int64_t etcd_watch::resume_revision() const { return state_ ? state_->resume : 0; }

const std::string& etcd_watch::endpoint() const
{
    static const std::string none;
    return state_ ? state_->endpoint : none;
}

asio::awaitable<etcd_result<etcd_watch_batch>> etcd_watch::next(steady::time_point deadline)
{
    auto s = state_;
    if (!s)
        co_return failed<etcd_watch_batch>({etcd_errc::cancelled, "not a watch"});
    for (;;) {
        if (s->cancelled)
            co_return failed<etcd_watch_batch>({etcd_errc::cancelled, "the watch was cancelled"});
        if (!s->queue.empty()) {
            if (s->queue.front().error)
                co_return s->queue.front(); // it stays queued: every later call sees it too
            auto batch = std::move(s->queue.front());
            {
                s->queue.pop_front();
                s->space.cancel();
                if (!batch.value.events.empty())
                    s->resume = batch.value.events.back().kv.mod_revision + 1;
                else
                    s->resume = std::max(s->resume, batch.value.revision + 1); // a progress report
            }
            co_return batch;
        }
        if (steady::now() >= deadline)
            co_return failed<etcd_watch_batch>({etcd_errc::timeout, "no watch event by the deadline"});
        s->wake.expires_at(deadline);
        co_await s->wake.async_wait(use_tuple);
    }
}

asio::awaitable<etcd_result<etcd_watch>> etcd_client::impl::open_watch(etcd_watch_request request,
                                                                       steady::time_point deadline)
{
    json_body b;
    b.open("create_request").bytes("key", request.key).bytes_if("range_end", request.range_end);
    b.number_if("start_revision", request.start_revision).flag_if("progress_notify", request.progress_notify).close();
    const std::string body = b.take();
    auto ex = co_await asio::this_coro::executor;
    const std::size_t n = members.size();
    failure_notes notes;
    bool reauthenticated = false;
    std::size_t start = preferred.load();
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t m = (start + i) % n;
        if (steady::now() >= deadline)
            break;
        if (needs_token()) {
            auto error = co_await authenticate(m, deadline);
            if (error.code == etcd_errc::unavailable) {
                notes.add(error.detail);
                continue;
            }
            if (error)
                co_return failed<etcd_watch>(std::move(error));
        }
        std::string used = current_token();
        std::string detail;
        auto c = co_await connect(m, deadline, detail); // never pooled: it stays busy
        if (!c) {
            notes.add(detail);
            continue;
        }
        auto s = std::make_shared<etcd_watch::state>(ex);
        s->endpoint = members[m].url;
        s->frame_cap = options.max_watch_frame;
        s->queue_cap = std::max<std::size_t>(options.watch_queue, 1);
        s->resume = request.start_revision;
        s->stream = std::move(c);
        http::request<http::string_body> req{http::verb::post, "/v3/watch", 11};
        req.set(http::field::host, members[m].host_header);
        req.set(http::field::content_type, "application/json");
        req.set(http::field::user_agent, "callgate");
        if (!used.empty())
            req.set(http::field::authorization, used);
        req.body() = body;
        req.prepare_payload();
        s->parser.header_limit(header_limit);
        s->parser.body_limit(boost::none);

        // Send, read the header and the "created" message, all by the deadline.
        auto& lowest = s->stream->lowest();
        lowest.expires_at(deadline);
        beast::error_code ec;
        if (s->stream->secure) {
            std::tie(ec, std::ignore) = co_await http::async_write(*s->stream->secure, req, use_tuple);
            if (!ec)
                std::tie(ec, std::ignore) =
                    co_await http::async_read_header(*s->stream->secure, s->stream->buffer, s->parser, use_tuple);
        } else {
            std::tie(ec, std::ignore) = co_await http::async_write(*s->stream->plain, req, use_tuple);
            if (!ec)
                std::tie(ec, std::ignore) =
                    co_await http::async_read_header(*s->stream->plain, s->stream->buffer, s->parser, use_tuple);
        }
        if (ec) {
            notes.add(members[m].url + ": watch request failed: " + ec.message());
            continue;
        }
        if (s->parser.get().result_int() != 200) {
            // A short error reply: read it whole, within the cap.
            attempt_result r;
            r.status = s->parser.get().result_int();
            std::vector<char> chunk(4096);
            etcd_error read_error;
            while (s->pending.size() <= options.max_reply) {
                bool more = s->stream->secure ? co_await read_some(*s->stream->secure, *s, chunk, read_error)
                                              : co_await read_some(*s->stream->plain, *s, chunk, read_error);
                if (!more)
                    break;
            }
            r.body = std::move(s->pending);
            std::string why;
            auto f = reply_failure(r, why);
            if (f.reauthenticate && has_credentials() && !reauthenticated) {
                reauthenticated = true;
                forget_token(used);
                --i;
                continue;
            }
            if (f.code != etcd_errc::unavailable)
                co_return failed<etcd_watch>({f.code, members[m].url + ": " + why});
            notes.add(members[m].url + ": " + why);
            continue;
        }
        std::vector<char> chunk(64 * 1024);
        std::string frame;
        etcd_error error;
        if (!co_await next_frame(*s, chunk, frame, error)) {
            if (error.code != etcd_errc::unavailable)
                co_return failed<etcd_watch>(std::move(error));
            notes.add(error.detail);
            continue;
        }
        etcd_result<etcd_watch_batch> first;
        auto kind = parse_watch_frame(frame, first);
        if (kind == frame_kind::ended) {
            if (first.error.code == etcd_errc::auth_failed && has_credentials() && !reauthenticated) {
                reauthenticated = true;
                forget_token(used);
                --i;
                continue;
            }
            if (first.error.code == etcd_errc::unavailable) {
                notes.add(members[m].url + ": " + first.error.detail);
                continue;
            }
            if (first.error.code != etcd_errc::compacted)
                co_return failed<etcd_watch>(std::move(first.error));
            s->finish(first.error.code, std::move(first.error.detail), first.value.compact_revision);
        } else if (kind == frame_kind::batch) {
            s->queue.push_back(std::move(first));
        }
        preferred.store(m);
        // From here the stream is long-lived: no deadline, but TCP keep-alive
        // notices a member that vanished without closing (about 10 s).
        lowest.expires_never();
        auto native = lowest.socket().native_handle();
        int on = 1, idle_s = 4, interval_s = 2, probes = 3;
        ::setsockopt(native, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        ::setsockopt(native, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
        ::setsockopt(native, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
        ::setsockopt(native, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
        if (!s->ended)
            asio::co_spawn(ex, run_watch_reader(s), asio::detached);
        co_return etcd_result<etcd_watch>{{}, etcd_watch(std::move(s))};
    }
    co_return failed<etcd_watch>({etcd_errc::unavailable, notes.take()});
}

asio::awaitable<etcd_result<etcd_watch>> etcd_client::watch(etcd_watch_request request, time_point deadline)
{
    auto self = impl_;
    auto op = self->open_watch(std::move(request), self->deadline_or_default(deadline));
    auto out = co_await std::move(op);
    self->count("watch", out.error.code);
    co_return out;
}

} // namespace callgate::net
