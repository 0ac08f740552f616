#pragma once

// The ws_connection over a Beast websocket::stream (plain or TLS). Private to net.

#include "callgate/net/websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <chrono>

namespace callgate::net::detail {

template <class NextLayer>
class ws_stream_connection final : public ws_connection {
public:
    explicit ws_stream_connection(boost::beast::websocket::stream<NextLayer> ws) : ws_(std::move(ws)) {}

    // From now on each message read moves `*deadline` to `idle` from then (a
    // server's deadline sweeper ends the connection when it passes). Cheaper
    // than the stream's own idle timeout, which re-arms a timer per read and
    // so queues the cancelled wait's completion every time.
    void keep_deadline(std::chrono::steady_clock::time_point* deadline, std::chrono::steady_clock::duration idle)
    {
        deadline_ = deadline;
        idle_ = idle;
    }

    boost::asio::awaitable<ws_read_status> read(std::string& out, bool& binary) override
    {
        buffer_.clear();
        auto [ec, n] = co_await ws_.async_read(buffer_, boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return finish_read(ec, out, binary);
    }

    void start_read(std::string& out, bool& binary, ws_handler& handler) override
    {
        buffer_.clear();
        ws_.async_read(buffer_, [this, &out, &binary, &handler](boost::beast::error_code ec, std::size_t) {
            handler.on_read(*this, finish_read(ec, out, binary));
        });
    }

    boost::asio::awaitable<bool> write(std::string_view data, bool binary) override
    {
        ws_.binary(binary);
        auto [ec, n] = co_await ws_.async_write(boost::asio::buffer(data.data(), data.size()),
                                                boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return !ec;
    }

    void start_write(std::string_view data, bool binary, ws_handler& handler) override
    {
        ws_.binary(binary);
        ws_.async_write(boost::asio::buffer(data.data(), data.size()),
                        [this, &handler](boost::beast::error_code ec, std::size_t) { handler.on_written(*this, !ec); });
    }

    boost::asio::awaitable<void> close(std::uint16_t code, std::string reason) override
    {
        if (!ws_.is_open())
            co_return;
        boost::beast::websocket::close_reason why(code);
        why.reason.assign(reason.data(), std::min(reason.size(), why.reason.max_size()));
        auto [ec] = co_await ws_.async_close(why,
                                             boost::asio::as_tuple(boost::asio::use_awaitable));
        (void)ec;
    }

    void abort() override
    {
        boost::beast::error_code ignored;
        auto& lowest = boost::beast::get_lowest_layer(ws_);
        if constexpr (requires { lowest.socket(); }) // beast::tcp_stream
            lowest.socket().close(ignored);
        else // a bare socket
            lowest.close(ignored);
    }

    boost::asio::any_io_executor executor() override { return ws_.get_executor(); }

private:
    // The outcome of a read into buffer_: the message copied into `out`, whose
    // capacity is reused when it still has one (buffer_ is one contiguous
    // flat_buffer).
    ws_read_status finish_read(boost::beast::error_code ec, std::string& out, bool& binary)
    {
        namespace websocket = boost::beast::websocket;
        if (ec) {
            if (ec == websocket::error::message_too_big)
                return ws_read_status::too_big;
            if (ec == boost::beast::error::timeout)
                return ws_read_status::error;
            return ws_read_status::closed;
        }
        if (deadline_ != nullptr)
            *deadline_ = std::chrono::steady_clock::now() + idle_;
        auto data = buffer_.data();
        out.assign(static_cast<const char*>(data.data()), data.size());
        binary = ws_.got_binary();
        return ws_read_status::ok;
    }

    boost::beast::websocket::stream<NextLayer> ws_;
    boost::beast::flat_buffer buffer_;
    std::chrono::steady_clock::time_point* deadline_ = nullptr;
    std::chrono::steady_clock::duration idle_{};
};

} // namespace callgate::net::detail
