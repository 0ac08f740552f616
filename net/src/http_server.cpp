#include "callgate/net/http_server.hpp"

#include "callgate/codec/striped_counts.hpp"
#include "callgate/net/log.hpp"
#include "callgate/net/request_framing.hpp"
#include "callgate/net/request_id.hpp"
#include "request_reader.hpp"
#include "eager_socket.hpp"
#include "epoll_batch.hpp"
#include "ws_stream_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/container/small_vector.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <system_error>
#include <unordered_map>
#include <mutex>
#include <tuple>

namespace callgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using steady = std::chrono::steady_clock;
// Connections are served on a socket bound to its io_context's own executor type.
using socket_type = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
// A TLS stream reads and writes its socket through an eager_socket (short
// reads mark it drained, writes are sent at once; see eager_socket.hpp).
using tls_stream_type = asio::ssl::stream<detail::eager_socket<socket_type>>;

// What drain() and the deadline sweeper need to reach a connection: its
// executor, its deadline, and ways to cut it. Touched only on `executor`
// (but for `executor` itself, set before the session starts).
struct session_token {
    static constexpr std::size_t no_slot = static_cast<std::size_t>(-1);
    asio::any_io_executor executor;
    bool idle = false;           // waiting for the next request
    std::function<void()> cancel; // cancels the pending read (drain)
    std::function<void()> expire; // closes the socket (the deadline passed)
    std::string remote;          // the client's host:port, for the access log
    steady::time_point deadline = steady::time_point::max();
    std::size_t sweep_slot = no_slot; // its place in its context's deadline_sweeper
    std::list<std::shared_ptr<session_token>>::iterator position; // in http_server::impl::sessions
};

std::string format_endpoint(const tcp::endpoint& ep)
{
    auto addr = ep.address();
    std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
    return host + ":" + std::to_string(ep.port());
}

} // namespace

std::string_view bearer_token(std::string_view authorization)
{
    if (authorization.size() <= 7 || !beast::iequals(authorization.substr(0, 7), "Bearer "))
        return {};
    authorization.remove_prefix(7);
    while (!authorization.empty() && authorization.front() == ' ')
        authorization.remove_prefix(1);
    return authorization;
}

bool is_json_media_type(std::string_view content_type)
{
    auto type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
        type.remove_suffix(1);
    return beast::iequals(type, "application/json");
}

http_response json_response(unsigned status, std::string body)
{
    http_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

http_response json_error(unsigned status, std::string_view detail)
{
    std::string body = "{\"detail\":\"";
    for (char c : detail) {
        if (c == '"' || c == '\\')
            body += '\\';
        body += c;
    }
    body += "\"}";
    return json_response(status, std::move(body));
}

http_response readiness_response(const readiness_report& report)
{
    return json_response(report.ready ? 200 : 503, report.body);
}

bool split_host_port(std::string_view address, std::string& host, std::uint16_t& port)
{
    std::string_view port_text;
    if (!address.empty() && address.front() == '[') {
        auto close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
            return false;
        host = std::string(address.substr(1, close - 1));
        port_text = address.substr(close + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return false;
        host = std::string(address.substr(0, colon));
        port_text = address.substr(colon + 1);
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port_text.empty() ||
        value > 65535)
        return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

namespace {

// The connection deadlines of one io_context. Each connection keeps one
// deadline (session_token::deadline), moved with a store as it goes from
// idle to reading to writing; a timer per context wakes every `tick` and
// closes the sockets whose deadline passed. So a request costs no timer
// operation at all, and a deadline fires between its time and one tick later.
// Touched only on its context's thread (one thread runs each context).
class deadline_sweeper : public std::enable_shared_from_this<deadline_sweeper> {
public:
    deadline_sweeper(asio::io_context& context, steady::duration tick) : timer_(context), tick_(tick) {}

    void add(session_token* token)
    {
        token->sweep_slot = tokens_.size();
        tokens_.push_back(token);
        if (!running_) {
            running_ = true;
            arm();
        }
    }
    void remove(session_token* token)
    {
        if (token->sweep_slot == session_token::no_slot)
            return;
        session_token* last = tokens_.back();
        tokens_[token->sweep_slot] = last;
        last->sweep_slot = token->sweep_slot;
        tokens_.pop_back();
        token->sweep_slot = session_token::no_slot;
    }

private:
    void arm()
    {
        timer_.expires_after(tick_);
        timer_.async_wait([weak = weak_from_this()](const beast::error_code&) {
            if (auto self = weak.lock())
                self->sweep();
        });
    }
    void sweep()
    {
        auto now = steady::now();
        // expire() only closes a socket: the session resumes later and removes
        // itself then, so the list does not change under this loop.
        for (session_token* token : tokens_) {
            if (token->deadline <= now) {
                token->deadline = steady::time_point::max();
                if (token->expire)
                    token->expire();
            }
        }
        if (tokens_.empty())
            running_ = false;
        else
            arm();
    }

    asio::basic_waitable_timer<steady, asio::wait_traits<steady>, asio::io_context::executor_type> timer_;
    steady::duration tick_;
    std::vector<session_token*> tokens_;
    bool running_ = false;
};

// Keeps a session on its context's sweeper for as long as its coroutine lives.
class sweeper_entry {
public:
    sweeper_entry(std::shared_ptr<deadline_sweeper> sweeper, session_token& token)
        : sweeper_(std::move(sweeper)), token_(token)
    {
        sweeper_->add(&token_);
    }
    ~sweeper_entry() { sweeper_->remove(&token_); }
    sweeper_entry(const sweeper_entry&) = delete;
    sweeper_entry& operator=(const sweeper_entry&) = delete;

private:
    std::shared_ptr<deadline_sweeper> sweeper_;
    session_token& token_;
};

// The TCP socket under a (plain or TLS) connection stream.
socket_type& socket_of(socket_type& s) { return s; }
socket_type& socket_of(tls_stream_type& s) { return s.next_layer().next_layer(); }

// What a session reads requests from and writes responses to: a bare socket
// through an eager_socket view, as a TLS stream uses its socket; a TLS stream
// as it is.
template <class Stream>
using session_io = std::conditional_t<std::is_same_v<Stream, socket_type>, detail::eager_socket<socket_type&>, Stream&>;

} // namespace

namespace {
class ready_lane;
// How a connection's coroutine session ended.
enum class session_end {
    closed,   // the connection is to be closed
    upgraded, // a WebSocket session owned and closed the stream
    to_lane,  // waiting for a request again: back to its context's ready_lane
};

// What a coroutine session taking a connection over from its ready_lane starts with.
struct takeover {
    std::string unread{};        // input already read, from the start of a request
    std::string unsent{};        // output to write before anything else
    bool first_declined = false; // answer_now saw the first request in `unread`, and declined it
    bool read_first = false;     // serve a request before giving the connection back
    bool keep = false;           // never give it back (answer_now said `elsewhere`)
};
} // namespace

// Responses by status code, counted by the I/O threads (striped: threads
// adding to one atomic at once would pass its cache line between cores).
class status_tally {
public:
    static constexpr unsigned codes = 600;

    void count(unsigned status)
    {
        if (status < codes)
            counts_.add(status, 1);
    }
    std::uint64_t responses(unsigned status) const { return status < codes ? counts_.value(status) : 0; }

private:
    codec::striped_counts counts_{codes};
};

struct http_server::impl {
    using session_list = std::list<std::shared_ptr<session_token>>;
    std::vector<asio::io_context*> contexts;
    std::vector<std::shared_ptr<deadline_sweeper>> sweepers; // one per context
    http_server_options options;
    http_handler handler;
    std::optional<asio::ssl::context> tls;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::atomic<std::size_t> active{0};
    std::atomic<bool> draining{false};   // not accepting; idle connections close
    std::atomic<bool> keep_alive_off{false}; // every response closes its connection
    status_tally status_counts;
    std::size_t next_context = 0;
    mutable std::mutex sessions_mutex;
    mutable std::condition_variable sessions_gone; // notified when `active` drops to 0
    session_list sessions;
    // One per context when answer_now serves a plain-TCP listener, else none.
    std::vector<std::shared_ptr<ready_lane>> lanes;
    tcp protocol = tcp::v4(); // the listener's, for sockets the lanes hand back

    asio::awaitable<void> accept_loop();
    // Returns whether the connection went back to its ready_lane (so is still open).
    template <class Stream>
    asio::awaitable<bool> run_session(Stream stream, std::shared_ptr<session_token> token,
                                      std::shared_ptr<deadline_sweeper> sweeper, std::size_t context_index,
                                      takeover from_lane);
    template <class Stream>
    asio::awaitable<void> run_websocket(Stream& stream, const detail::request_store& request,
                                        std::function<asio::awaitable<void>(ws_connection&)> session,
                                        std::string_view id, std::string_view route,
                                        std::chrono::steady_clock::time_point started, session_token& token);
    // Serves requests until the connection should close; returns true if it
    // was upgraded to a WebSocket (and `stream` was moved away).
    template <class Stream>
    asio::awaitable<session_end> serve_requests(Stream& stream, session_token& token, const takeover& from_lane);
    void spawn_session(socket_type socket, std::size_t context_index);
    // Counts a connection in (drain() and wait_idle() see it) and out.
    void add_session(const std::shared_ptr<session_token>& token);
    void remove_session(session_token& token);
    // Serves a connection with a coroutine session (`from_lane`: where its
    // ready_lane left it).
    template <class Stream>
    void start_session(Stream stream, std::shared_ptr<session_token> token, std::size_t context_index,
                       takeover from_lane = {});
    // Gives a plain-TCP connection to its context's ready_lane (posted to that context).
    void to_lane(int fd, std::shared_ptr<session_token> token, std::size_t context_index);
    // The access log line and on_request, after a response.
    void finished(std::string_view method, std::string_view route, unsigned status, std::uint64_t bytes_sent,
                  std::chrono::steady_clock::time_point started, std::string_view id, std::string_view remote) const;
    // Whether HEAD on this target (path and query) is answered as its GET.
    bool answers_head(std::string_view target) const
    {
        auto path = target.substr(0, target.find('?'));
        return std::find(options.head_paths.begin(), options.head_paths.end(), path) != options.head_paths.end();
    }
};

namespace {

// What reading from the connection into the parser came to.
enum class read_result {
    ok,
    malformed,    // the parser refused the bytes (parse_error says why)
    header_limit, // the header is over http_server_options::header_limit
    body_limit,   // the body is over the body limit
    closed,       // the peer went away, the deadline passed, or a drain cut the read
};

// Feeds the parser from `buffer`, reading more from `stream` while it needs
// more, until the header (or, with eager parsing, the whole message) is done.
template <class Stream>
asio::awaitable<read_result> parse_from(Stream& stream, beast::flat_buffer& buffer, detail::request_reader& parser,
                                        bool whole_message)
{
    for (;;) {
        if (buffer.size() > 0) {
            beast::error_code ec;
            auto used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (!ec) {
                if (whole_message ? parser.is_done() : parser.is_header_done())
                    co_return read_result::ok;
                if (used > 0)
                    continue;
            } else if (ec == http::error::header_limit) {
                co_return read_result::header_limit;
            } else if (ec == http::error::body_limit) {
                co_return read_result::body_limit;
            } else if (ec != http::error::need_more) {
                co_return read_result::malformed;
            }
        }
        std::size_t room = std::min<std::size_t>(buffer.max_size() - buffer.size(), 16 * 1024);
        if (room == 0)
            co_return parser.is_header_done() ? read_result::body_limit : read_result::header_limit;
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(room), use_tuple);
        if (ec)
            co_return read_result::closed;
        buffer.commit(n);
    }
}

// Whether the request asks for a WebSocket (RFC 6455 §4.2.1), as Beast's
// websocket::is_upgrade decides it.
bool is_upgrade(const detail::request_store& r)
{
    return r.version() >= 11 && r.verb() == http::verb::get &&
           http::token_list(r.header(http::field::connection)).exists("upgrade") &&
           http::token_list(r.header(http::field::upgrade)).exists("websocket");
}

template <class Stream>
class request_view final : public http_request {
public:
    // `as_get`: a HEAD request the handler answers as its GET.
    request_view(Stream& stream, beast::flat_buffer& buffer, detail::request_reader& parser,
                 detail::request_store& store, std::size_t body_limit, bool as_get,
                 const net::request_id& id, bool declined)
        : stream_(stream), buffer_(buffer), parser_(parser), store_(store), body_limit_(body_limit),
          as_get_(as_get), id_(id), declined_(declined)
    {
    }

    bool answer_now_declined() const override { return declined_; }

    std::string_view method() const override { return as_get_ ? "GET" : store_.method(); }
    std::string_view target() const override { return store_.target(); }
    std::string_view header(std::string_view name) const override { return store_.header(name); }
    bool is_websocket_upgrade() const override { return is_upgrade(store_); }
    std::string_view request_id() const override { return id_.view(); }
    bool has_body() const override
    {
        auto length = parser_.content_length();
        return parser_.chunked() || (length && *length > 0);
    }
    std::optional<std::uint64_t> content_length() const override
    {
        auto length = parser_.content_length();
        return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
    }

    asio::awaitable<body_status> read_body(std::string& out) override
    {
        if (state_ != body_state::unread)
            co_return body_status::failed; // handed out already, or failed
        auto length = parser_.content_length();
        if (length && *length > body_limit_) {
            state_ = body_state::failed;
            co_return body_status::too_large;
        }
        if (!parser_.is_done()) {
            if (beast::iequals(header("Expect"), "100-continue")) {
                static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
                auto [ec, n] = co_await asio::async_write(
                    stream_, asio::buffer(interim.data(), interim.size()), use_tuple);
                if (ec) {
                    state_ = body_state::failed;
                    co_return body_status::failed;
                }
            }
            parser_.body_limit(body_limit_);
            parser_.eager(true);
            auto read = co_await parse_from(stream_, buffer_, parser_, true);
            if (read != read_result::ok) {
                state_ = body_state::failed;
                co_return read == read_result::body_limit ? body_status::too_large : body_status::failed;
            }
        }
        state_ = body_state::read;
        out.swap(store_.body()); // the store gets `out`'s old text, cleared for the next request
        store_.body().clear();
        co_return body_status::ok;
    }

    bool body_pending() const { return state_ == body_state::unread && has_body(); }
    bool body_failed() const { return state_ == body_state::failed; }

private:
    enum class body_state { unread, read, failed };
    Stream& stream_;
    beast::flat_buffer& buffer_;
    detail::request_reader& parser_;
    detail::request_store& store_;
    std::size_t body_limit_;
    bool as_get_;
    const net::request_id& id_;
    bool declined_;
    body_state state_ = body_state::unread;
};

// A response head's pieces go to one of two sinks: the first sizes the head,
// the second copies it into the room sized. A header value loses any CR or LF
// on the way (never in one callgate writes), so it can never start another
// header line.
bool has_line_break(std::string_view value)
{
    return value.find('\r') != std::string_view::npos || value.find('\n') != std::string_view::npos;
}

struct head_size {
    std::size_t bytes = 0;
    void piece(std::string_view s) { bytes += s.size(); }
    void value(std::string_view v)
    {
        bytes += has_line_break(v) ? static_cast<std::size_t>(std::count_if(
                                         v.begin(), v.end(), [](char c) { return c != '\r' && c != '\n'; }))
                                   : v.size();
    }
};

struct head_copy {
    char* at;
    void piece(std::string_view s)
    {
        std::memcpy(at, s.data(), s.size());
        at += s.size();
    }
    void value(std::string_view v)
    {
        if (!has_line_break(v))
            return piece(v);
        for (char c : v)
            if (c != '\r' && c != '\n')
                *at++ = c;
    }
};

// The status line and header of `r`, piece by piece, as Beast's serializer
// would write them after prepare_payload and keep_alive(keep): Content-Length
// except for 1xx, 204 and 304, and a Connection header when the version's
// default (HTTP/1.1 keeps, 1.0 closes) is not what happens.
template <class Sink>
void write_head(Sink& out, const http_response& r, unsigned version, bool keep, std::string_view id,
                std::string_view status, std::string_view length)
{
    out.piece(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    out.piece(status);
    out.piece(" ");
    auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
    out.piece({reason.data(), reason.size()});
    out.piece("\r\nServer: callgate\r\nX-Request-ID: ");
    out.piece(id);
    out.piece("\r\n");
    if (!r.body.empty() || r.status != 204) {
        out.piece("Content-Type: ");
        out.value(r.content_type);
        out.piece("\r\n");
    }
    for (const auto& [name, value] : r.headers) {
        out.piece(name);
        out.piece(": ");
        out.value(value);
        out.piece("\r\n");
    }
    if (r.status >= 200 && r.status != 204 && r.status != 304) {
        out.piece("Content-Length: ");
        out.piece(length);
        out.piece("\r\n");
    }
    if (version >= 11 && !keep)
        out.piece("Connection: close\r\n");
    else if (version == 10 && keep)
        out.piece("Connection: keep-alive\r\n");
    out.piece("\r\n");
}

// The head of `r` appended to `out`: sized once, then copied in (it is a
// dozen short pieces; appending each to the string cost more than the copies).
void format_head(std::string& out, const http_response& r, unsigned version, bool keep, std::string_view id)
{
    char status[16], length[24]; // any unsigned, any size_t
    auto status_end = std::to_chars(status, status + sizeof status, r.status).ptr;
    auto length_end = std::to_chars(length, length + sizeof length, r.body.size()).ptr;
    std::string_view status_text(status, static_cast<std::size_t>(status_end - status));
    std::string_view length_text(length, static_cast<std::size_t>(length_end - length));
    head_size size;
    write_head(size, r, version, keep, id, status_text, length_text);
    std::size_t at = out.size();
    out.resize(at + size.bytes);
    head_copy copy{out.data() + at};
    write_head(copy, r, version, keep, id, status_text, length_text);
}

// The framing verdict for a parsed request header (RFC 9112 §6). The usual
// request (one Content-Length, or one Transfer-Encoding) needs no allocation.
framing_verdict check_framing(const detail::request_store& request)
{
    boost::container::small_vector<std::string_view, 4> lengths, codings;
    for (const auto& f : request.fields()) {
        if (f.id == http::field::content_length)
            lengths.push_back(request.value(f));
        else if (f.id == http::field::transfer_encoding)
            codings.push_back(request.value(f));
    }
    if (lengths.empty() && codings.empty())
        return {};
    return check_request_framing(request.version(), std::span(lengths.data(), lengths.size()),
                                 std::span(codings.data(), codings.size()));
}

// An error that ends the connection. The details passed here are fixed ASCII text.
http_response plain_error(unsigned status, std::string_view detail)
{
    http_response r = json_error(status, detail);
    r.close = true;
    return r;
}

// What answer_now sees of a request a ready_lane holds.
class ready_view final : public ready_request {
public:
    ready_view(const detail::request_store& request, const net::request_id& id) : request_(request), id_(id) {}
    std::string_view method() const override { return request_.method(); }
    std::string_view target() const override { return request_.target(); }
    std::string_view header(std::string_view name) const override { return request_.header(name); }
    std::string_view body() const override { return request_.body(); }
    std::string_view request_id() const override { return id_.view(); }

private:
    const detail::request_store& request_;
    const net::request_id& id_;
};

// The plain-TCP connections of one io_context while they wait for a request,
// in an epoll set of its own, below Asio. The set's descriptor is one Asio
// reads (epoll_batch.hpp: a read of it is epoll_wait, with no epoll_ctl per
// batch): each ready connection is read once (a short
// read means drained; with EPOLLET a later byte raises a new event), every
// whole request in what was read goes to answer_now, and the answers go out
// in one send. A request answer_now declines, one not yet whole, or a send
// that would block moves the connection with its unread input and unsent
// output to a coroutine session (start_session), which gives it back when it
// waits for a request again. So a connection is in exactly one of the two at
// a time, and nothing here waits: no partial request is ever held, and the
// only deadline is the idle one (the context's deadline_sweeper).
// Touched only on its context's thread.
class ready_lane : public std::enable_shared_from_this<ready_lane> {
public:
    ready_lane(http_server::impl& server, std::size_t context_index)
        : server_(server),
          context_index_(context_index),
          context_(*server.contexts[context_index]),
          set_(context_),
          in_(std::min<std::size_t>(64 * 1024, server.options.header_limit + server.options.body_limit + 16 * 1024))
    {
        int fd = ::epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "epoll_create1");
        set_.assign(fd);
    }
    ~ready_lane()
    {
        for (auto& [key, c] : connections_) {
            server_.sweepers[context_index_]->remove(c->token.get());
            c->token->cancel = nullptr;
            c->token->expire = nullptr;
            ::close(c->fd);
        }
    }
    ready_lane(const ready_lane&) = delete;
    ready_lane& operator=(const ready_lane&) = delete;

    // Takes over a connected, counted-in socket (on this lane's thread).
    void adopt(int fd, std::shared_ptr<session_token> token)
    {
        auto owned = std::make_unique<connection>(connection{fd, ++adopted_, std::move(token)});
        connection& c = *owned;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = c.serial;
        // A TCP socket has no other file status flag worth keeping.
        if (::fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || ::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &ev) < 0) {
            ::close(fd);
            server_.remove_session(*c.token);
            return;
        }
        connections_.emplace(c.serial, std::move(owned));
        c.token->idle = true;
        c.token->deadline = steady::now() + server_.options.idle_timeout;
        // drain(): the coroutine session closes it, lingering, as it closes its own.
        c.token->cancel = [this, &c] { hand_off(c, {}); };
        // The idle deadline: the set reports the shut socket, and serve() closes it.
        c.token->expire = [fd] { ::shutdown(fd, SHUT_RDWR); };
        server_.sweepers[context_index_]->add(c.token.get());
        if (server_.draining.load())
            hand_off(c, {});
        else if (!waiting_)
            wait();
    }

private:
    struct connection {
        int fd;
        // Its events carry this, not its address: a batch is read before its
        // completion runs, and a connection that left the lane in between
        // (handed off, closed) must not be found through it, nor one adopted
        // since at the same address or with the same descriptor.
        std::uint64_t serial;
        std::shared_ptr<session_token> token;
    };
    // An answer formatted into out_, reported (access log, on_request,
    // status counts) once it is sent.
    struct answered {
        std::string method;
        std::string_view route;
        unsigned status = 0;
        std::size_t end = 0; // where its bytes end in out_
        steady::time_point started;
        request_id id;
    };

    // Full reads of one connection in a row before it goes to its coroutine session.
    static constexpr int max_reads = 8;

    void wait()
    {
        waiting_ = true;
        set_.async_read_some(detail::epoll_batch(events_),
                             [weak = weak_from_this()](const beast::error_code& ec, std::size_t ready) {
                                 auto self = weak.lock();
                                 if (ec || !self)
                                     return;
                                 self->waiting_ = false;
                                 self->on_ready(ready);
                             });
    }

    // One batch, then back to the io_context: whatever else it has to run
    // (accepting, coroutine sessions, timers, posted work) takes its turn
    // before the next batch. A batch that filled events_ left more ready:
    // the next read takes them at once, its completion queued behind the rest.
    void on_ready(std::size_t ready)
    {
        for (std::size_t i = 0; i < ready; ++i)
            if (auto found = connections_.find(events_[i].data.u64); found != connections_.end())
                serve(*found->second, events_[i].events);
        // With no connection left nothing waits, and the context may run out of work.
        if (!connections_.empty())
            wait();
    }

    void serve(connection& c, std::uint32_t events)
    {
        for (int reads = 0;; ++reads) {
            if (reads == max_reads) {
                // A client that keeps the socket full would hold this thread:
                // its coroutine session reads on, taking turns with the others.
                hand_off(c, {.read_first = true});
                return;
            }
            ssize_t n = ::recv(c.fd, in_.data(), in_.size(), 0);
            if (n == 0) {
                close(c);
                return;
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                close(c);
                return;
            }
            std::string_view input(in_.data(), static_cast<std::size_t>(n));
            out_.clear();
            answered_count_ = 0;
            declined_ = false;
            elsewhere_ = false;
            close_after_ = false;
            while (!input.empty() && !close_after_) {
                std::size_t used = answer(c, input);
                if (used == 0)
                    break;
                input.remove_prefix(used);
            }
            std::size_t sent = 0;
            bool failed = false;
            if (!out_.empty()) {
                ssize_t w = ::send(c.fd, out_.data(), out_.size(), MSG_NOSIGNAL);
                if (w >= 0)
                    sent = static_cast<std::size_t>(w);
                else
                    failed = errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
            }
            // What did not go now goes with the coroutine session, which writes it first.
            report(c, failed ? sent : out_.size());
            if (failed || close_after_) {
                close(c);
                return;
            }
            std::string_view unsent = std::string_view(out_).substr(sent);
            if (!input.empty() || !unsent.empty()) {
                hand_off(c, {.unread = std::string(input),
                             .unsent = std::string(unsent),
                             .first_declined = declined_ && !input.empty(),
                             .keep = elsewhere_ && !input.empty()});
                return;
            }
            if (static_cast<std::size_t>(n) < in_.size())
                break; // a short read: the socket is drained
        }
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            close(c); // every request the peer sent before it shut its side is answered
            return;
        }
        c.token->deadline = steady::now() + server_.options.idle_timeout;
    }

    // Answers the request at the start of `input` if it is whole and
    // answer_now takes it; returns the bytes it used, or 0 (declined_ says
    // whether answer_now saw it).
    std::size_t answer(connection& c, std::string_view input)
    {
        const auto& options = server_.options;
        if (server_.keep_alive_off.load(std::memory_order_relaxed))
            return 0; // the coroutine session says Connection: close and closes
        auto started = steady::now();
        auto whole = detail::parse_whole_request(request_, input, options.header_limit, options.body_limit);
        if (whole.used == 0 || whole.chunked || !whole.keep_alive || request_.verb() == http::verb::head ||
            !request_.header(http::field::expect).empty() || is_upgrade(request_))
            return 0;
        if (auto framing = check_framing(request_); framing.status != 0 || framing.close_after)
            return 0;
        if (answered_count_ == answered_.size())
            answered_.emplace_back();
        answered& a = answered_[answered_count_];
        a.id.assign(request_.header("X-Request-ID"));
        http_response response;
        bool keep = true;
        try {
            auto result = options.answer_now(ready_view(request_, a.id), response);
            if (result != ready_result::answered) {
                declined_ = true;
                elsewhere_ = result == ready_result::elsewhere;
                return 0;
            }
        } catch (const std::exception& e) {
            // It may have done part of its work: answering it again could do that twice.
            log(log_level::error, "handler_failed", "A request handler failed; answered 500",
                {{"listener", options.name}, {"request_id", a.id.view()}, {"error", e.what()}});
            response = plain_error(500, "Internal Server Error");
            keep = false;
            close_after_ = true;
        }
        format_head(out_, response, request_.version(), keep, a.id.view());
        out_.append(response.body);
        a.method.assign(request_.method());
        a.route = response.route;
        a.status = response.status;
        a.end = out_.size();
        a.started = started;
        ++answered_count_;
        return whole.used;
    }

    // The access log, on_request and the status counts for the answers of
    // out_ up to `delivered` bytes (the rest were lost with the connection).
    void report(const connection& c, std::size_t delivered)
    {
        std::size_t begin = 0;
        for (std::size_t i = 0; i < answered_count_; ++i) {
            const answered& a = answered_[i];
            std::size_t bytes = std::min(a.end, delivered) - std::min(begin, delivered);
            server_.finished(a.method, a.route, a.status, bytes, a.started, a.id.view(), c.token->remote);
            if (a.end <= delivered)
                server_.status_counts.count(a.status);
            begin = a.end;
        }
    }

    // Moves `c` to a coroutine session (it may come back as a new adopt).
    void hand_off(connection& c, takeover what)
    {
        auto owned = release(c);
        beast::error_code ec;
        socket_type socket(context_.get_executor());
        socket.assign(server_.protocol, owned->fd, ec);
        if (ec) {
            ::close(owned->fd);
            server_.remove_session(*owned->token);
            return;
        }
        server_.start_session(std::move(socket), std::move(owned->token), context_index_, std::move(what));
    }

    void close(connection& c)
    {
        auto owned = release(c);
        ::close(owned->fd);
        server_.remove_session(*owned->token);
    }

    // Takes `c` out of the set, the sweeper and the table.
    std::unique_ptr<connection> release(connection& c)
    {
        ::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, c.fd, nullptr);
        server_.sweepers[context_index_]->remove(c.token.get());
        c.token->cancel = nullptr;
        c.token->expire = nullptr;
        c.token->idle = false;
        auto found = connections_.find(c.serial);
        auto owned = std::move(found->second);
        connections_.erase(found);
        return owned;
    }

    http_server::impl& server_;
    std::size_t context_index_;
    asio::io_context& context_;
    asio::posix::basic_stream_descriptor<asio::io_context::executor_type> set_;
    std::unordered_map<std::uint64_t, std::unique_ptr<connection>> connections_; // by serial
    std::uint64_t adopted_ = 0; // the last serial given
    bool waiting_ = false;
    std::array<epoll_event, 64> events_{};
    std::vector<char> in_;
    std::string out_;
    detail::request_store request_;
    std::vector<answered> answered_; // reused: answered_count_ of them are this read's
    std::size_t answered_count_ = 0;
    bool declined_ = false;    // answer_now saw the request where answering stopped, and declined it
    bool elsewhere_ = false;   // ... and said the connection's traffic is not its own
    bool close_after_ = false; // an answer said Connection: close
};

} // namespace

template <class Stream>
asio::awaitable<session_end> http_server::impl::serve_requests(Stream& stream, session_token& token,
                                                               const takeover& from_lane)
{
    beast::flat_buffer buffer(options.header_limit + options.body_limit + 16 * 1024);
    const auto& unread = from_lane.unread;
    buffer.commit(asio::buffer_copy(buffer.prepare(unread.size()), asio::buffer(unread.data(), unread.size())));
    bool first = true; // the first request of this session
    request_id id;
    detail::request_store request; // reused: its storage outlives each request
    std::string out;               // the response, formatted here and written in one piece
    session_io<Stream> io(stream);
    for (;;) {
        if (buffer.size() == 0) {
            if (draining.load())
                co_return session_end::closed;
            if constexpr (std::is_same_v<Stream, socket_type>) {
                if (!lanes.empty() && !from_lane.keep && !(first && from_lane.read_first))
                    co_return session_end::to_lane;
            }
            token.idle = true;
            token.deadline = steady::now() + options.idle_timeout;
            auto [ec, n] = co_await io.async_read_some(buffer.prepare(4096), use_tuple);
            token.idle = false;
            if (ec)
                co_return session_end::closed;
            buffer.commit(n);
        }
        auto started = steady::now(); // the request's first byte is in
        token.deadline = started + options.read_timeout;
        detail::request_reader parser(request);
        parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
        // The body limit applies when the handler reads the body, so that an
        // oversize Content-Length reaches the handler (401 comes before 413).
        parser.body_limit(boost::none);
        parser.eager(false);
        auto read = co_await parse_from(io, buffer, parser, false);
        bool declined = first && from_lane.first_declined; // by answer_now, in the ready lane
        first = false;
        http_response response;
        bool keep = false;
        bool head = false; // HEAD: the status and headers only, never a body (RFC 9110 §9.3.2)
        unsigned version = 11;
        if (read == read_result::header_limit) {
            id.generate();
            response = plain_error(431, "Request headers too large");
        } else if (read == read_result::closed) {
            co_return session_end::closed;
        } else if (read != read_result::ok) {
            id.generate();
            response = plain_error(400, "Malformed HTTP request");
        } else if (auto framing = check_framing(request); framing.status != 0) {
            id.assign(request.header("X-Request-ID"));
            response = plain_error(framing.status, framing.detail);
        } else {
            id.assign(request.header("X-Request-ID"));
            version = request.version();
            head = request.verb() == http::verb::head;
            request_view<std::remove_reference_t<session_io<Stream>>> view(io, buffer, parser, request, options.body_limit,
                                      head && answers_head(request.target()), id, declined);
            try {
                response = co_await handler(view);
            } catch (const std::exception& e) {
                log(log_level::error, "handler_failed", "A request handler failed; answered 500",
                    {{"listener", options.name}, {"request_id", id.view()}, {"error", e.what()}});
                response = plain_error(500, "Internal Server Error");
            }
            if (response.websocket && view.is_websocket_upgrade()) {
                token.deadline = steady::time_point::max(); // the handshake has its own timeout
                co_await run_websocket(stream, request, std::move(response.websocket), id.view(), response.route,
                                       started, token);
                co_return session_end::upgraded;
            }
            keep = parser.keep_alive() && !response.close && !keep_alive_off.load() && !framing.close_after;
            if (view.body_failed()) {
                keep = false;
            } else if (keep && view.body_pending()) {
                // Discard a body the handler did not need, if small enough, to keep the connection.
                auto length = view.content_length();
                if (length && *length <= options.body_limit && !beast::iequals(view.header("Expect"), "100-continue")) {
                    std::string discarded;
                    keep = co_await view.read_body(discarded) == body_status::ok;
                } else {
                    keep = false;
                }
            }
        }
        out.clear();
        format_head(out, response, version, keep, id.view());
        token.deadline = steady::now() + options.read_timeout;
        beast::error_code wec;
        std::size_t wn = 0;
        if (head || response.body.size() <= 64 * 1024) {
            if (!head)
                out.append(response.body);
            std::tie(wec, wn) = co_await asio::async_write(io, asio::buffer(out), use_tuple);
        } else {
            std::array<asio::const_buffer, 2> pieces{asio::buffer(out), asio::buffer(response.body)};
            std::tie(wec, wn) = co_await asio::async_write(io, pieces, use_tuple);
        }
        finished(request.method(), response.route, response.status, wn, started, id.view(), token.remote);
        if (wec)
            co_return session_end::closed;
        status_counts.count(response.status);
        if (!keep)
            co_return session_end::closed;
        if (out.capacity() > 64 * 1024)
            std::string().swap(out); // a large response's buffer is not kept for the next
    }
}

void http_server::impl::finished(std::string_view method, std::string_view route, unsigned status,
                                 std::uint64_t bytes_sent, steady::time_point started, std::string_view id,
                                 std::string_view remote) const
{
    request_summary summary{options.name,
                            method.empty() ? std::string_view("-") : method,
                            route.empty() ? std::string_view("unmatched") : route,
                            status,
                            bytes_sent,
                            steady::now() - started,
                            id,
                            remote};
    if (options.access_log && log_enabled(log_level::info)) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(summary.duration).count();
        char msg[160];
        std::snprintf(msg, sizeof msg, "%.*s %.*s answered %u in %lld us", static_cast<int>(summary.method.size()),
                      summary.method.data(), static_cast<int>(summary.route.size()), summary.route.data(),
                      summary.status, static_cast<long long>(us));
        log(log_level::info, "http_request", msg,
            {{"listener", summary.listener},
             {"method", summary.method},
             {"route", summary.route},
             {"status", summary.status},
             {"bytes_sent", summary.bytes_sent},
             {"duration_us", us},
             {"request_id", summary.request_id},
             {"remote", summary.remote}});
    }
    if (options.on_request)
        options.on_request(summary);
}

template <class Stream>
asio::awaitable<void> http_server::impl::run_websocket(
    Stream& stream, const detail::request_store& request,
    std::function<asio::awaitable<void>(ws_connection&)> session, std::string_view id, std::string_view route,
    steady::time_point started, session_token& token)
{
    namespace websocket = beast::websocket;
    beast::error_code ignored;
    socket_of(stream).set_option(asio::socket_base::send_buffer_size(options.websocket_send_buffer), ignored);
    // The handshake reads the request as Beast's message; an upgrade is rare
    // enough for this copy.
    http::request<http::empty_body> upgrade;
    upgrade.method_string(request.method());
    upgrade.target(request.target());
    upgrade.version(request.version());
    for (const auto& f : request.fields())
        upgrade.insert(request.name(f), request.value(f));
    using layer = std::conditional_t<std::is_same_v<Stream, socket_type>, detail::eager_socket<socket_type>, Stream>;
    websocket::stream<layer> ws(layer(std::move(stream)));
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(5);
    // Idle: the session's deadline, moved by every message read (below).
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    ws.read_message_max(options.websocket_message_limit);
    ws.auto_fragment(false);
    ws.set_option(websocket::stream_base::decorator([id](websocket::response_type& res) {
        res.set(http::field::server, "callgate");
        res.set("X-Request-ID", beast::string_view(id.data(), id.size()));
    }));
    auto [ec] = co_await ws.async_accept(upgrade, use_tuple);
    // A failed handshake has been answered 400 by Beast, or the peer is gone.
    finished(request.method(), route, ec ? 400 : 101, 0, started, id, token.remote);
    if (ec)
        co_return;
    status_counts.count(101);
    detail::ws_stream_connection<layer> connection(std::move(ws));
    // No message for websocket_idle_timeout: the sweeper cuts the connection,
    // and the pending read fails.
    token.deadline = steady::now() + options.websocket_idle_timeout;
    token.expire = [&connection] { connection.abort(); };
    connection.keep_deadline(&token.deadline, options.websocket_idle_timeout);
    struct forget {
        session_token& token;
        ~forget()
        {
            token.expire = nullptr;
            token.deadline = steady::time_point::max();
        }
    } on_exit{token};
    co_await session(connection);
}

template <class Stream>
asio::awaitable<bool> http_server::impl::run_session(Stream stream, std::shared_ptr<session_token> token,
                                                     std::shared_ptr<deadline_sweeper> sweeper,
                                                     std::size_t context_index, takeover from_lane)
{
    auto& socket = socket_of(stream);
    token->cancel = [&socket] {
        beast::error_code ignored;
        socket.cancel(ignored);
    };
    token->expire = [&socket] {
        beast::error_code ignored;
        socket.close(ignored);
    };
    sweeper_entry on_sweeper(std::move(sweeper), *token);
    if constexpr (std::is_same_v<Stream, tls_stream_type>) {
        token->deadline = steady::now() + options.read_timeout;
        auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
        if (ec)
            co_return false;
        if (co_await serve_requests(stream, *token, from_lane) == session_end::upgraded)
            co_return false; // the WebSocket session owned and closed the stream
        token->deadline = steady::now() + std::chrono::seconds(2);
        auto [sec] = co_await stream.async_shutdown(use_tuple);
    } else {
        if (!from_lane.unsent.empty()) {
            token->deadline = steady::now() + options.read_timeout;
            auto [ec, n] = co_await asio::async_write(socket, asio::buffer(from_lane.unsent), use_tuple);
            if (ec)
                co_return false;
        }
        auto end = co_await serve_requests(stream, *token, from_lane);
        if (end == session_end::upgraded)
            co_return false; // the WebSocket session owned and closed the stream
        if (end == session_end::to_lane) {
            // The lambdas above point into this frame, which ends now.
            token->cancel = nullptr;
            token->expire = nullptr;
            beast::error_code ec;
            int fd = socket.release(ec);
            if (!ec) {
                to_lane(fd, token, context_index);
                co_return true;
            }
        }
        // Lingering close: stop sending, then read and discard what the client
        // still sends for a moment, so our last response is not lost to a reset.
        beast::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        token->deadline = steady::now() + std::chrono::seconds(1);
        std::array<char, 16 * 1024> sink;
        std::size_t drained = 0;
        while (drained < 1024 * 1024) {
            auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_tuple);
            if (ec)
                break;
            drained += n;
        }
    }
    co_return false;
}

void http_server::impl::add_session(const std::shared_ptr<session_token>& token)
{
    std::lock_guard lock(sessions_mutex);
    token->position = sessions.insert(sessions.end(), token);
    active.fetch_add(1);
}

void http_server::impl::remove_session(session_token& token)
{
    std::lock_guard lock(sessions_mutex);
    sessions.erase(token.position);
    if (active.fetch_sub(1) == 1)
        sessions_gone.notify_all();
}

template <class Stream>
void http_server::impl::start_session(Stream stream, std::shared_ptr<session_token> token, std::size_t context_index,
                                      takeover from_lane)
{
    auto finished = [this, token](std::exception_ptr e, bool to_lane) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(log_level::error, "session_failed", "A connection's session failed; it was closed",
                    {{"listener", options.name}, {"error", ex.what()}});
            }
        } else if (to_lane) {
            return; // still open, now in its ready_lane
        }
        remove_session(*token);
    };
    auto executor = token->executor;
    asio::co_spawn(executor,
                   run_session(std::move(stream), token, sweepers[context_index], context_index, std::move(from_lane)),
                   std::move(finished));
}

void http_server::impl::to_lane(int fd, std::shared_ptr<session_token> token, std::size_t context_index)
{
    std::weak_ptr<ready_lane> lane = lanes[context_index];
    asio::post(*contexts[context_index], [lane, fd, token = std::move(token)]() mutable {
        if (auto l = lane.lock())
            l->adopt(fd, std::move(token));
        else
            ::close(fd); // the server is going away
    });
}

void http_server::impl::spawn_session(socket_type socket, std::size_t context_index)
{
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto token = std::make_shared<session_token>();
    token->executor = socket.get_executor();
    if (options.access_log) {
        auto peer = socket.remote_endpoint(ignored);
        if (!ignored)
            token->remote = format_endpoint(peer);
    }
    add_session(token);
    if (tls) {
        start_session(tls_stream_type(detail::eager_socket(std::move(socket)), *tls), std::move(token), context_index);
        return;
    }
    if (!lanes.empty()) {
        beast::error_code ec;
        int fd = socket.release(ec);
        if (!ec) {
            to_lane(fd, std::move(token), context_index);
            return;
        }
    }
    start_session(std::move(socket), std::move(token), context_index);
}

asio::awaitable<void> http_server::impl::accept_loop()
{
    asio::steady_timer backoff(acceptor->get_executor());
    for (;;) {
        auto index = next_context++ % contexts.size();
        auto [ec, socket] = co_await acceptor->async_accept(*contexts[index], use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor->is_open())
            co_return;
        if (ec) {
            // Out of descriptors or similar: say so, wait a little, keep serving.
            log(log_level::warn, "accept_failed", "Could not accept a connection; retrying in 50 ms",
                {{"listener", options.name}, {"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds(50));
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        spawn_session(std::move(socket), index);
    }
}

http_server::http_server(std::vector<asio::io_context*> contexts, http_server_options options,
                         http_handler handler)
    : impl_(std::make_unique<impl>()), options_(options)
{
    impl_->contexts = std::move(contexts);
    impl_->options = std::move(options);
    // Deadlines fire within a tenth of the shortest timeout (5 ms to 100 ms) of their time.
    auto shortest = std::min(impl_->options.read_timeout, impl_->options.idle_timeout);
    auto tick = std::clamp<std::chrono::milliseconds>(shortest / 10, std::chrono::milliseconds(5),
                                                      std::chrono::milliseconds(100));
    for (auto* context : impl_->contexts)
        impl_->sweepers.push_back(std::make_shared<deadline_sweeper>(*context, tick));
    impl_->handler = std::move(handler);
    if (impl_->options.answer_now && !impl_->options.tls)
        for (std::size_t i = 0; i < impl_->contexts.size(); ++i)
            impl_->lanes.push_back(std::make_shared<ready_lane>(*impl_, i));
}

http_server::~http_server() = default;

bool http_server::listen(std::string& error)
{
    auto& o = impl_->options;
    std::string host;
    std::uint16_t port = 0;
    if (!split_host_port(o.listen, host, port)) {
        error = "invalid listen address '" + o.listen + "' (expected host:port)";
        return false;
    }
    if (o.tls) {
        try {
            impl_->tls.emplace(asio::ssl::context::tls_server);
            auto& ctx = *impl_->tls;
            ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
            ctx.use_certificate_chain_file(o.tls->cert_file);
            ctx.use_private_key_file(o.tls->key_file, asio::ssl::context::pem);
        } catch (const std::exception& e) {
            error = "cannot load TLS certificate or key (" + o.tls->cert_file + ", " +
                    o.tls->key_file + "): " + e.what();
            return false;
        }
    }
    auto& ioc = *impl_->contexts.front();
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        error = "cannot resolve listen address '" + o.listen + "': " + ec.message();
        return false;
    }
    tcp::endpoint endpoint = results.begin()->endpoint();
    auto acceptor = std::make_unique<tcp::acceptor>(ioc);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec)
        acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor->bind(endpoint, ec);
    if (!ec)
        acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error = "cannot listen on " + o.listen + ": " + ec.message();
        return false;
    }
    impl_->acceptor = std::move(acceptor);
    impl_->protocol = endpoint.protocol();
    return true;
}

std::string http_server::local_address() const
{
    beast::error_code ec;
    auto ep = impl_->acceptor->local_endpoint(ec);
    return ec ? std::string{} : format_endpoint(ep);
}

void http_server::start()
{
    auto* self = impl_.get();
    asio::co_spawn(impl_->acceptor->get_executor(), self->accept_loop(), [](std::exception_ptr) {});
}

void http_server::stop_keep_alive() { impl_->keep_alive_off.store(true); }

void http_server::drain()
{
    auto* self = impl_.get();
    self->keep_alive_off.store(true);
    self->draining.store(true);
    asio::post(self->acceptor->get_executor(), [self] {
        beast::error_code ignored;
        self->acceptor->close(ignored);
    });
    std::lock_guard lock(self->sessions_mutex);
    for (auto& token : self->sessions) {
        asio::post(token->executor, [token] {
            // A lane's cancel hands the connection over, and the new owner sets its own.
            if (token->idle && token->cancel) {
                auto cancel = token->cancel;
                cancel();
            }
        });
    }
}

std::size_t http_server::active_connections() const { return impl_->active.load(); }

bool http_server::wait_idle(std::chrono::steady_clock::time_point deadline) const
{
    std::unique_lock lock(impl_->sessions_mutex);
    return impl_->sessions_gone.wait_until(lock, deadline, [this] { return impl_->active.load() == 0; });
}

std::uint64_t http_server::responses_with_status(unsigned status) const
{
    return impl_->status_counts.responses(status);
}

} // namespace callgate::net
