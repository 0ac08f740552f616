// The floor reference for callgate's stack in `scripts/bench decide`: the
// plainest Boost.Beast HTTP/1.1 server we know how to write, answering every
// request with the same JSON body. One io_context per thread, one coroutine
// per connection, Beast's parser and serializer, no timeouts, no routing, no
// logging. What callgate spends per request above this is its own.
//
//   beast_floor_server <threads> <body-file>
// Listens on 127.0.0.1 port 0 and prints the port on stdout, then serves until killed.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> serve(tcp::socket socket, const std::string& body)
{
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(socket, buffer, req, use_tuple);
        if (ec)
            co_return;
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.body() = body;
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(socket, res, use_tuple);
        if (wec || !req.keep_alive())
            co_return;
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: beast_floor_server <threads> <body-file>\n");
        return 2;
    }
    unsigned threads = static_cast<unsigned>(std::max(1, std::atoi(argv[1])));
    std::ifstream in(argv[2], std::ios::binary);
    const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (unsigned i = 0; i < threads; ++i)
        contexts.push_back(std::make_unique<asio::io_context>(1));
    tcp::acceptor acceptor(*contexts[0], tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::cout << acceptor.local_endpoint().port() << std::endl;

    std::size_t next = 0;
    std::function<void()> accept_one = [&] {
        auto& target = *contexts[next++ % contexts.size()];
        acceptor.async_accept(target, [&](beast::error_code ec, tcp::socket socket) {
            if (ec)
                return;
            socket.set_option(tcp::no_delay(true));
            auto executor = socket.get_executor();
            asio::co_spawn(executor, serve(std::move(socket), body), asio::detached);
            accept_one();
        });
    };
    accept_one();

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) {
        auto* ctx = contexts[i].get();
        pool.emplace_back([ctx] {
            auto guard = asio::make_work_guard(*ctx);
            ctx->run();
        });
    }
    contexts[0]->run();
    for (auto& t : pool)
        t.join();
}
