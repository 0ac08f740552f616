// A WebSocket accepted by http_server ends when no message arrives for
// websocket_idle_timeout, and lives on while messages keep coming. The idle
// deadline is the connection's session deadline, moved by every message read
// and enforced by the server's deadline sweeper.

#include "callgate/net/http_server.hpp"
#include "callgate/net/websocket.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <string>
#include <stdexcept>
#include <thread>

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace callgate::net;

namespace {

struct echo_server {
    asio::io_context context;
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(context);
    std::atomic<int> messages{0};
    std::atomic<int> ended{0};
    std::unique_ptr<http_server> server;
    std::thread thread;

    explicit echo_server(std::chrono::milliseconds idle)
    {
        http_server_options options;
        options.name = "test";
        options.listen = "127.0.0.1:0";
        options.access_log = false;
        options.websocket_idle_timeout = idle;
        server = std::make_unique<http_server>(
            std::vector<asio::io_context*>{&context}, options, [this](http_request&) -> asio::awaitable<http_response> {
                http_response r = json_response(200, "{}");
                r.websocket = [this](ws_connection& c) -> asio::awaitable<void> {
                    std::string data;
                    bool binary = false;
                    while (co_await c.read(data, binary) == ws_read_status::ok) {
                        ++messages;
                        if (!co_await c.write(data, binary)) // an echo
                            break;
                    }
                    ++ended;
                };
                co_return r;
            });
        std::string error;
        if (!server->listen(error))
            throw std::runtime_error(error);
        server->start();
        thread = std::thread([this] { context.run(); });
    }

    ~echo_server()
    {
        server->drain();
        server->wait_idle(std::chrono::steady_clock::now() + 10s);
        work.reset();
        context.stop();
        thread.join();
        server.reset();
    }
};

// A client that gives up on a read after 20 s rather than hang the test.
websocket::stream<tcp::socket> connect(asio::io_context& io, const std::string& address)
{
    std::string host, port;
    auto colon = address.rfind(':');
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    websocket::stream<tcp::socket> ws(io);
    tcp::resolver resolver(io);
    asio::connect(ws.next_layer(), resolver.resolve(host, port));
    timeval limit{20, 0};
    ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ws.handshake(host, "/stream");
    return ws;
}

bool wait_for(const std::atomic<int>& value, int wanted, std::chrono::seconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (value.load() < wanted) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::yield();
    }
    return true;
}

} // namespace

TEST(WebSocketIdle, MessagesKeepTheConnectionAndSilenceEndsIt)
{
    echo_server s(600ms);
    asio::io_context io;
    auto ws = connect(io, s.server->local_address());
    // Messages and their echoes back and forth for three idle timeouts: each
    // message moves the deadline on.
    boost::beast::flat_buffer buffer;
    int sent = 0;
    for (auto until = std::chrono::steady_clock::now() + 1800ms; std::chrono::steady_clock::now() < until; ++sent) {
        ws.write(asio::buffer(std::string("frame")));
        buffer.clear();
        ws.read(buffer);
    }
    EXPECT_EQ(s.messages.load(), sent);
    EXPECT_EQ(s.ended.load(), 0) << "a connection with a message every few microseconds was cut";
    // Then nothing: the server cuts the connection, and the client's read ends.
    boost::system::error_code ec;
    ws.read(buffer, ec);
    EXPECT_TRUE(ec) << "the server sent a message instead of closing";
    EXPECT_NE(ec, asio::error::would_block) << "not cut within 20 s";
    EXPECT_NE(ec, asio::error::try_again) << "not cut within 20 s";
    EXPECT_TRUE(wait_for(s.ended, 1, 20s));
}
