#include "callgate/testing/webhook_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

namespace callgate::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

std::string received_request::header(const std::string& name) const
{
    for (const auto& [k, v] : headers)
        if (beast::iequals(k, name))
            return v;
    return {};
}

struct webhook_server::impl : std::enable_shared_from_this<impl> {
    asio::io_context ioc{1};
    std::optional<asio::ssl::context> tls;
    tcp::acceptor acceptor{ioc};
    std::thread thread;
    mutable std::mutex mutex;
    std::vector<received_request> received;
    reply_fn reply;
    std::atomic<std::size_t> accepted{0};

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream)
    {
        beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> req;
            auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
            if (ec)
                co_return;
            received_request r{std::string(req.method_string()), std::string(req.target()), {}, req.body()};
            for (const auto& f : req)
                r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            reply_fn fn;
            {
                std::lock_guard lock(mutex);
                received.push_back(r);
                fn = reply;
            }
            canned_reply c = fn ? fn(r) : canned_reply{};
            if (c.hang || c.delay.count() > 0) {
                asio::steady_timer timer(co_await asio::this_coro::executor,
                                         c.hang ? std::chrono::hours(1) : c.delay);
                auto [tec] = co_await timer.async_wait(use_tuple);
                if (c.hang || tec)
                    co_return;
            }
            http::response<http::string_body> res{static_cast<http::status>(c.status), 11};
            res.set(http::field::content_type, "application/json");
            for (const auto& [k, v] : c.headers)
                res.set(k, v);
            res.body() = c.body;
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
            if (wec || !req.keep_alive())
                co_return;
        }
    }

    asio::awaitable<void> session(tcp::socket socket)
    {
        if (tls) {
            beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
            auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
            if (!ec)
                co_await serve(stream);
        } else {
            beast::tcp_stream stream(std::move(socket));
            co_await serve(stream);
        }
    }

    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec)
                co_return;
            accepted.fetch_add(1);
            asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
        }
    }
};

webhook_server::webhook_server(std::string cert_file, std::string key_file, reply_fn reply)
    : impl_(std::make_shared<impl>())
{
    impl_->reply = std::move(reply);
    if (!cert_file.empty()) {
        impl_->tls.emplace(asio::ssl::context::tls_server);
        impl_->tls->use_certificate_chain_file(cert_file);
        impl_->tls->use_private_key_file(key_file, asio::ssl::context::pem);
    }
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([self = impl_] { self->ioc.run(); });
}

webhook_server::~webhook_server()
{
    impl_->ioc.stop();
    impl_->thread.join();
}

unsigned short webhook_server::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string webhook_server::url(const std::string& path, const std::string& host) const
{
    return std::string(impl_->tls ? "https://" : "http://") + host + ":" + std::to_string(port()) + path;
}

std::vector<received_request> webhook_server::requests() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->received;
}

std::size_t webhook_server::connections_accepted() const { return impl_->accepted.load(); }

void webhook_server::set_reply(reply_fn reply)
{
    std::lock_guard lock(impl_->mutex);
    impl_->reply = std::move(reply);
}

} // namespace callgate::testing
