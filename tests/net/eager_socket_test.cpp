// eager_socket: a short read marks the socket drained, so the next read waits
// for the reactor instead of trying recv first; a write is sent at once and
// completed in place. These tests hold it to what reads and writes must still
// do: never miss bytes that arrive while no read is pending, nor bytes that
// arrive after the read went to wait; deliver every write in order, whether
// the socket takes it at once or only once the peer reads; report a peer
// that is gone.

#include "eager_socket.hpp"
#include "run_until.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using socket_type = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using callgate::net::detail::short_read_buffers;
using callgate::net::detail::eager_socket;

namespace {

struct socket_pair {
    asio::io_context ioc;
    socket_type reader{ioc};
    socket_type writer{ioc};

    socket_pair()
    {
        tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        writer.connect(acceptor.local_endpoint());
        acceptor.accept(reader);
        writer.set_option(tcp::no_delay(true));
    }

    // Runs until `done` or the deadline; false on the deadline (a read that
    // missed its bytes waits for ever).
    template <class Done>
    bool run_until(Done done, std::chrono::seconds limit = std::chrono::seconds(10))
    {
        return callgate::net::testing::run_until(ioc, done, limit);
    }
};

// Reads once with short_read_buffers into `into` (at most `room` bytes).
std::size_t read_once(socket_pair& p, std::string& into, std::size_t room)
{
    std::array<char, 4096> storage;
    bool done = false;
    std::size_t got = 0;
    boost::system::error_code error;
    p.reader.async_read_some(short_read_buffers(asio::buffer(storage.data(), room)),
                             [&](boost::system::error_code ec, std::size_t n) {
                                 error = ec;
                                 got = n;
                                 done = true;
                             });
    EXPECT_TRUE(p.run_until([&] { return done; })) << "a read missed bytes that had arrived";
    EXPECT_FALSE(error) << error.message();
    into.append(storage.data(), got);
    return got;
}

// Reads p.reader into `got` until the connection fails or ends, as the
// context runs (a read is always pending).
class reader_of_everything {
public:
    explicit reader_of_everything(socket_pair& p) : p_(p) { next(); }
    std::string got;

private:
    void next()
    {
        p_.reader.async_read_some(asio::buffer(storage_), [this](boost::system::error_code ec, std::size_t n) {
            if (ec)
                return;
            got.append(storage_.data(), n);
            next();
        });
    }

    socket_pair& p_;
    std::array<char, 65536> storage_;
};

} // namespace

TEST(EagerSocket, BytesThatArriveBetweenReadsAreReadNext)
{
    socket_pair p;
    std::string sent, got;
    for (int round = 0; round < 200; ++round) {
        std::string chunk(1 + round % 97, static_cast<char>('a' + round % 26));
        asio::write(p.writer, asio::buffer(chunk));
        sent += chunk;
        // The first read is short (the whole chunk fits): the socket counts as
        // drained. The next chunk arrives with no read pending.
        while (got.size() < sent.size())
            read_once(p, got, 4096);
    }
    EXPECT_EQ(got, sent);
}

TEST(EagerSocket, BytesThatArriveWhileAReadWaitsCompleteIt)
{
    socket_pair p;
    std::string sent, got;
    std::array<char, 512> storage;
    for (int round = 0; round < 200; ++round) {
        bool done = false;
        std::size_t n = 0;
        p.reader.async_read_some(short_read_buffers(asio::buffer(storage)),
                                 [&](boost::system::error_code ec, std::size_t bytes) {
                                     EXPECT_FALSE(ec) << ec.message();
                                     n = bytes;
                                     done = true;
                                 });
        // Let the read find the socket empty and go to wait, then send.
        p.ioc.restart();
        p.ioc.poll();
        ASSERT_FALSE(done);
        std::string chunk(1 + round % 300, static_cast<char>('A' + round % 26));
        asio::write(p.writer, asio::buffer(chunk));
        sent += chunk;
        ASSERT_TRUE(p.run_until([&] { return done; })) << "a waiting read missed its bytes in round " << round;
        got.append(storage.data(), n);
        while (got.size() < sent.size())
            read_once(p, got, storage.size());
    }
    EXPECT_EQ(got, sent);
}

TEST(EagerSocket, AFullReadLeavesTheRestToTheNext)
{
    socket_pair p;
    std::string sent(10000, 'x');
    for (std::size_t i = 0; i < sent.size(); ++i)
        sent[i] = static_cast<char>('a' + i % 26);
    asio::write(p.writer, asio::buffer(sent));
    std::string got;
    // Reads of 7 bytes fill their buffer: none is short until the last.
    while (got.size() < sent.size())
        read_once(p, got, 7);
    EXPECT_EQ(got, sent);
}

TEST(EagerSocket, TwoBuffersAreFilledInOrder)
{
    socket_pair p;
    asio::write(p.writer, asio::buffer(std::string("hello, world")));
    std::array<char, 5> first;
    std::array<char, 64> second;
    std::array<asio::mutable_buffer, 2> both{asio::buffer(first), asio::buffer(second)};
    bool done = false;
    std::size_t n = 0;
    p.reader.async_read_some(short_read_buffers(both), [&](boost::system::error_code ec, std::size_t bytes) {
        EXPECT_FALSE(ec);
        n = bytes;
        done = true;
    });
    ASSERT_TRUE(p.run_until([&] { return done; }));
    ASSERT_EQ(n, 12u);
    EXPECT_EQ(std::string(first.data(), 5) + std::string(second.data(), 7), "hello, world");
}

TEST(EagerSocket, EndOfStreamIsReported)
{
    socket_pair p;
    asio::write(p.writer, asio::buffer(std::string("bye")));
    p.writer.shutdown(tcp::socket::shutdown_send);
    std::string got;
    read_once(p, got, 4096);
    EXPECT_EQ(got, "bye");
    std::array<char, 16> storage;
    bool done = false;
    boost::system::error_code error;
    p.reader.async_read_some(short_read_buffers(asio::buffer(storage)),
                             [&](boost::system::error_code ec, std::size_t) {
                                 error = ec;
                                 done = true;
                             });
    ASSERT_TRUE(p.run_until([&] { return done; }));
    EXPECT_EQ(error, asio::error::eof);
}

// A WebSocket over it: messages both ways in small pieces, then the closing
// handshake (Beast's teardown through eager_socket's overloads).
TEST(EagerSocket, CarriesAWebSocketToItsClose)
{
    namespace websocket = boost::beast::websocket;
    socket_pair p;
    websocket::stream<eager_socket<socket_type>> server(eager_socket<socket_type>(std::move(p.reader)));
    websocket::stream<eager_socket<socket_type>> client(eager_socket<socket_type>(std::move(p.writer)));
    bool accepted = false, handshaken = false;
    server.async_accept([&](boost::system::error_code ec) { accepted = !ec; });
    client.async_handshake("127.0.0.1", "/", [&](boost::system::error_code ec) { handshaken = !ec; });
    ASSERT_TRUE(p.run_until([&] { return accepted && handshaken; }));

    boost::beast::flat_buffer in;
    for (int i = 0; i < 50; ++i) {
        std::string message(20 + i * 31, static_cast<char>('a' + i % 26));
        bool written = false, read = false;
        client.async_write(asio::buffer(message), [&](boost::system::error_code ec, std::size_t) { written = !ec; });
        server.async_read(in, [&](boost::system::error_code ec, std::size_t) { read = !ec; });
        ASSERT_TRUE(p.run_until([&] { return written && read; })) << "message " << i;
        EXPECT_EQ(boost::beast::buffers_to_string(in.data()), message);
        in.consume(in.size());
    }

    bool closed = false, saw_close = false;
    client.async_close(websocket::close_code::normal, [&](boost::system::error_code ec) { closed = !ec; });
    server.async_read(in, [&](boost::system::error_code ec, std::size_t) { saw_close = ec == websocket::error::closed; });
    ASSERT_TRUE(p.run_until([&] { return closed && saw_close; }));
    EXPECT_EQ(server.reason().code, websocket::close_code::normal);
}

// Writes: sent at once and completed in place while the socket takes them;
// left to Asio when it is full; an error when the peer is gone.
TEST(EagerSocket, WritesFromTheirOwnCompletionsArriveInOrder)
{
    socket_pair p;
    eager_socket<socket_type> writer(std::move(p.writer));
    // Each write starts the next from its completion: in place, that nests,
    // and past a few levels the completions must be posted, not overflow.
    constexpr int writes = 20000;
    int done = 0;
    std::string sent;
    std::function<void()> next = [&] {
        if (done == writes)
            return;
        std::string piece = std::to_string(done) + ",";
        sent += piece;
        auto held = std::make_shared<std::string>(std::move(piece));
        asio::async_write(writer, asio::buffer(*held), [&, held](boost::system::error_code ec, std::size_t) {
            ASSERT_FALSE(ec) << ec.message();
            ++done;
            next();
        });
    };
    next();
    std::string got;
    std::array<char, 65536> storage;
    std::function<void()> read = [&] {
        p.reader.async_read_some(short_read_buffers(asio::buffer(storage)), [&](boost::system::error_code ec,
                                                                                  std::size_t n) {
            if (ec)
                return;
            got.append(storage.data(), n);
            read();
        });
    };
    read();
    ASSERT_TRUE(p.run_until([&] { return done == writes && got.size() == sent.size(); }))
        << done << " writes done, " << got.size() << " of " << sent.size() << " bytes read";
    EXPECT_EQ(got, sent);
}

TEST(EagerSocket, AFullSocketTakesTheRestWhenThePeerReads)
{
    socket_pair p;
    eager_socket<socket_type> writer(std::move(p.writer));
    std::string big(16 << 20, '\0'); // more than both sockets' buffers hold
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 23);
    bool written = false;
    asio::async_write(writer, asio::buffer(big), [&](boost::system::error_code ec, std::size_t n) {
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(n, big.size());
        written = true;
    });
    // Nobody reads yet: the socket fills and the write waits.
    p.ioc.restart();
    p.ioc.poll();
    EXPECT_FALSE(written);
    reader_of_everything reader(p);
    const std::string& got = reader.got;
    ASSERT_TRUE(p.run_until([&] { return written && got.size() == big.size(); }, std::chrono::seconds(60)))
        << "written " << written << ", read " << got.size() << " of " << big.size();
    EXPECT_TRUE(got == big);
}

// async_write of a sequence with at most two non-empty buffers goes through a
// flat pair of buffers (see initiate_async_write in eager_socket.hpp), longer
// ones the usual way: either way every byte arrives once, in order, also when
// the socket fills and the write goes on piece by piece as the peer reads.
TEST(EagerSocket, WritesOfSeveralBuffersArriveWholeAndInOrder)
{
    socket_pair p;
    eager_socket<socket_type> writer(std::move(p.writer));
    auto pattern = [](std::size_t size, char first) {
        std::string s(size, '\0');
        for (std::size_t i = 0; i < size; ++i)
            s[i] = static_cast<char>(first + i % 19);
        return s;
    };
    // Each past what both sockets' buffers hold, so each write is partial.
    std::string head = pattern(5 << 20, 'a'), body = pattern(7 << 20, 'A'), tail = pattern(3 << 20, '0');
    std::string empty;
    auto two = boost::beast::buffers_cat(asio::buffer(empty), asio::buffer(head), asio::buffer(empty),
                                         asio::buffer(body));
    auto three = boost::beast::buffers_cat(asio::buffer(head), asio::buffer(body), asio::buffer(empty),
                                           asio::buffer(tail));
    std::string expected = head + body + head + body + tail + body;
    std::vector<std::size_t> written;
    asio::async_write(writer, two, [&](boost::system::error_code ec, std::size_t n) {
        EXPECT_FALSE(ec) << ec.message();
        written.push_back(n);
        asio::async_write(writer, three, [&](boost::system::error_code ec, std::size_t n) {
            EXPECT_FALSE(ec) << ec.message();
            written.push_back(n);
            asio::async_write(writer, asio::buffer(body), [&](boost::system::error_code ec, std::size_t n) {
                EXPECT_FALSE(ec) << ec.message();
                written.push_back(n);
            });
        });
    });
    reader_of_everything reader(p);
    const std::string& got = reader.got;
    ASSERT_TRUE(p.run_until([&] { return written.size() == 3 && got.size() == expected.size(); },
                            std::chrono::seconds(60)))
        << "writes completed " << written.size() << ", read " << got.size() << " of " << expected.size();
    EXPECT_EQ(written, (std::vector<std::size_t>{head.size() + body.size(), head.size() + body.size() + tail.size(), body.size()}));
    EXPECT_TRUE(got == expected);
}

TEST(EagerSocket, AWriteToAPeerThatIsGoneFails)
{
    socket_pair p;
    eager_socket<socket_type> writer(std::move(p.writer));
    boost::system::error_code ignored;
    p.reader.set_option(asio::socket_base::linger(true, 0), ignored);
    p.reader.close(); // a reset: the next sends fail
    boost::system::error_code failure;
    int attempts = 0;
    std::string piece(1024, 'x');
    std::function<void()> next = [&] {
        asio::async_write(writer, asio::buffer(piece), [&](boost::system::error_code ec, std::size_t) {
            if (ec) {
                failure = ec;
                return;
            }
            if (++attempts < 1000)
                next();
        });
    };
    next();
    ASSERT_TRUE(p.run_until([&] { return failure || attempts >= 1000; }));
    EXPECT_TRUE(failure == asio::error::connection_reset || failure == asio::error::broken_pipe) << failure.message();
}
