#include "callgate/testing/ws_peers.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace callgate::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

void set_receive_timeout(int fd, std::chrono::milliseconds timeout)
{
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

template <class Stream>
class peer final : public ws_peer {
public:
    peer(std::shared_ptr<asio::io_context> ioc, std::unique_ptr<websocket::stream<Stream>> ws,
         std::vector<std::pair<std::string, std::string>> headers)
        : ioc_(std::move(ioc)), ws_(std::move(ws)), headers_(std::move(headers))
    {
    }
    ~peer() override
    {
        beast::error_code ec;
        beast::get_lowest_layer(*ws_).close(ec);
    }

    bool send(const std::string& data, bool binary) override
    {
        std::lock_guard lock(stream_mutex_);
        ws_->binary(binary);
        beast::error_code ec;
        ws_->write(asio::buffer(data), ec);
        return !ec;
    }

    // A test may send from one thread while it reads on another. A stream
    // (TLS above all: its engine's buffers serve both directions) must not be
    // used by two threads at once, so the read runs its io_context in short
    // slices under the stream's mutex, and a send goes in between.
    ws_frame read(std::chrono::milliseconds timeout) override
    {
        // Sync reads would ignore SO_RCVTIMEO (Asio polls again), so read
        // asynchronously and run this peer's own io_context with a deadline.
        ws_frame f;
        beast::flat_buffer buffer;
        beast::error_code ec;
        bool done = false;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        {
            std::lock_guard lock(stream_mutex_);
            ws_->async_read(buffer, [&](beast::error_code e, std::size_t) {
                ec = e;
                done = true;
            });
        }
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (done || left.count() <= 0)
                break;
            {
                std::lock_guard lock(stream_mutex_);
                ioc_->restart();
                ioc_->run_for(std::min(left, std::chrono::milliseconds(10)));
            }
            std::this_thread::yield(); // a sender waiting for the mutex goes first
        }
        std::lock_guard lock(stream_mutex_);
        if (!done) {
            beast::error_code ignored;
            beast::get_lowest_layer(*ws_).close(ignored); // a timed-out peer is finished
            ioc_->restart();
            ioc_->run();
            f.what = ws_frame::kind::timeout;
            return f;
        }
        if (ec) {
            f.what = ws_frame::kind::closed;
            f.close_code = static_cast<std::uint16_t>(ws_->reason().code);
            f.close_reason.assign(ws_->reason().reason.data(), ws_->reason().reason.size());
            return f;
        }
        f.what = ws_frame::kind::data;
        f.data = beast::buffers_to_string(buffer.data());
        f.binary = ws_->got_binary();
        return f;
    }

    void close(std::uint16_t code) override
    {
        std::lock_guard lock(stream_mutex_);
        beast::error_code ec;
        ws_->close(websocket::close_reason(code), ec);
    }

    std::string header(const std::string& name) const override
    {
        for (const auto& [k, v] : headers_)
            if (beast::iequals(k, name))
                return v;
        return {};
    }

private:
    std::shared_ptr<asio::io_context> ioc_;
    std::unique_ptr<websocket::stream<Stream>> ws_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::mutex stream_mutex_; // one thread at a time on ws_ (see read)
};

} // namespace

edge_dial_result dial_edge(const std::string& address, const std::string& target, const std::string& token,
                           int socket_buffer)
{
    edge_dial_result out;
    auto ioc = std::make_shared<asio::io_context>();
    auto colon = address.rfind(':');
    tcp::resolver resolver(*ioc);
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(*ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(address.substr(0, colon), address.substr(colon + 1), ec);
    if (ec)
        return out;
    ec = asio::error::host_not_found;
    for (const auto& entry : endpoints) {
        auto& socket = ws->next_layer();
        socket.close(ec);
        socket.open(entry.endpoint().protocol(), ec);
        if (!ec && socket_buffer > 0)
            socket.set_option(asio::socket_base::receive_buffer_size(socket_buffer), ec);
        if (!ec && socket_buffer > 0)
            socket.set_option(asio::socket_base::send_buffer_size(socket_buffer), ec);
        if (!ec)
            socket.connect(entry.endpoint(), ec);
        if (!ec)
            break;
    }
    if (ec)
        return out;
    set_receive_timeout(ws->next_layer().native_handle(), std::chrono::seconds(10));
    ws->set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        if (!token.empty())
            req.set("X-Edge-Token", token);
    }));
    ws->read_message_max(16 * 1024 * 1024);
    websocket::response_type res;
    ws->handshake(res, address, target, ec);
    out.http_status = static_cast<int>(res.result_int());
    if (ec)
        return out;
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& f : res)
        headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.peer = std::make_unique<peer<tcp::socket>>(ioc, std::move(ws), std::move(headers));
    return out;
}

struct ws_test_server::impl {
    std::shared_ptr<asio::io_context> ioc = std::make_shared<asio::io_context>();
    asio::ssl::context tls{asio::ssl::context::tls_server};
    tcp::acceptor acceptor{*ioc};
    std::vector<std::pair<std::string, std::string>> response_headers;
    std::thread thread;
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::unique_ptr<ws_peer>> accepted;
    bool stopping = false;

    void serve()
    {
        for (;;) {
            // Each connection gets an io_context of its own, so each peer can
            // be driven from its own test thread.
            auto peer_ioc = std::make_shared<asio::io_context>();
            tcp::socket socket(*peer_ioc);
            beast::error_code ec;
            acceptor.accept(socket, ec);
            if (ec)
                return;
            set_receive_timeout(socket.native_handle(), std::chrono::seconds(10));
            using stream_t = beast::ssl_stream<tcp::socket>;
            auto ws = std::make_unique<websocket::stream<stream_t>>(std::move(socket), tls);
            ws->next_layer().handshake(asio::ssl::stream_base::server, ec);
            if (ec)
                continue;
            beast::flat_buffer buffer;
            http::request<http::string_body> req;
            http::read(ws->next_layer(), buffer, req, ec);
            if (ec)
                continue;
            std::vector<std::pair<std::string, std::string>> headers;
            for (const auto& f : req)
                headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            auto extra = response_headers;
            ws->set_option(websocket::stream_base::decorator([extra](websocket::response_type& res) {
                for (const auto& [k, v] : extra)
                    res.set(k, v);
            }));
            ws->read_message_max(16 * 1024 * 1024);
            ws->accept(req, ec);
            if (ec)
                continue;
            std::lock_guard lock(mutex);
            accepted.push_back(std::make_unique<peer<stream_t>>(peer_ioc, std::move(ws), std::move(headers)));
            ready.notify_all();
        }
    }
};

ws_test_server::ws_test_server(std::string cert_file, std::string key_file,
                               std::vector<std::pair<std::string, std::string>> response_headers, int socket_buffer)
    : impl_(std::make_shared<impl>())
{
    impl_->response_headers = std::move(response_headers);
    impl_->tls.use_certificate_chain_file(cert_file);
    impl_->tls.use_private_key_file(key_file, asio::ssl::context::pem);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    if (socket_buffer > 0) {
        impl_->acceptor.set_option(asio::socket_base::receive_buffer_size(socket_buffer));
        impl_->acceptor.set_option(asio::socket_base::send_buffer_size(socket_buffer));
    }
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    impl_->thread = std::thread([self = impl_] { self->serve(); });
}

ws_test_server::~ws_test_server()
{
    // shutdown() wakes the accept() blocked in the serving thread; the
    // acceptor is closed only once that thread is gone (it still uses it).
    beast::error_code ec;
    ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
    impl_->thread.join();
    impl_->acceptor.close(ec);
}

unsigned short ws_test_server::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string ws_test_server::url(const std::string& path, const std::string& host) const
{
    return "wss://" + host + ":" + std::to_string(port()) + path;
}

std::unique_ptr<ws_peer> ws_test_server::accept(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(impl_->mutex);
    if (!impl_->ready.wait_for(lock, timeout, [this] { return !impl_->accepted.empty(); }))
        return nullptr;
    auto p = std::move(impl_->accepted.front());
    impl_->accepted.pop_front();
    return p;
}

} // namespace callgate::testing
