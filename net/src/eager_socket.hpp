#pragma once

// A stream socket that reads and writes eagerly, the way nginx does. Private to net.
//
// Reads: Asio's epoll reactor registers a socket edge-triggered and, before it
// waits for a read, tries the read at once ("speculatively") unless the last
// read found the socket exhausted. Asio counts only end-of-stream as
// exhausted, so after every read that returned data the next read first calls
// recv, which on a bridged call (one frame every 20 ms) finds nothing almost
// every time: one system call per frame in vain. A read that returns fewer
// bytes than asked for has emptied the socket's receive queue, and any byte
// that arrives later raises a new edge, so it is exhausted too: nginx treats a
// short read the same way. eager_socket passes its reads down as
// short_read_buffers, a buffer type of its own, and the one receive operation
// Asio builds for that type says so. Everything else (the reactor,
// cancellation, handlers) is Asio's.
//
// Writes: a write whose send succeeds at once is still completed through the
// scheduler's queue by Asio, behind the reactor's next turn, which then costs
// an epoll_wait that finds nothing. eager_socket sends at once itself (Asio's
// own non-blocking send, with MSG_DONTWAIT) and, when the send took bytes (or
// failed), completes the write in place through dispatch, as a completion on
// the caller's own executor may be; when the socket is full it leaves the
// write to Asio, which waits for the socket.
// In-place completions nest (a writer that writes again from its completion
// goes one level deeper), so past a few levels they are posted instead.
//
// Writes of several buffers: see initiate_async_write below.
//
// Checked against Boost 1.81's reactor (detail/impl/epoll_reactor.ipp,
// detail/reactive_socket_recv_op.hpp, impl/write.hpp); the static_assert makes
// a new Boost look again.

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/version.hpp>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

static_assert(BOOST_VERSION / 100 == 1081,
              "eager_socket reimplements one of Asio's receive operations and sends through its socket_ops: check it against this Boost");

namespace callgate::net::detail {

// At most two buffers (Beast's read buffers are a pair at most); a read may
// fill fewer buffers than it was given, so the rest are left out.
struct short_read_buffers {
    using value_type = boost::asio::mutable_buffer;
    using const_iterator = const boost::asio::mutable_buffer*;

    template <class MutableBufferSequence>
    explicit short_read_buffers(const MutableBufferSequence& buffers)
    {
        auto end = boost::asio::buffer_sequence_end(buffers);
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end && count < parts.size(); ++it) {
            boost::asio::mutable_buffer b(*it);
            if (b.size() != 0)
                parts[count++] = b;
        }
    }

    const_iterator begin() const noexcept { return parts.data(); }
    const_iterator end() const noexcept { return parts.data() + count; }

    std::array<boost::asio::mutable_buffer, 2> parts{};
    std::size_t count = 0;
};

// Socket (a basic_stream_socket, or a reference to one for a view that does
// not own it) whose reads go down as short_read_buffers and whose writes are
// sent at once (see the top of this file). Everything a Beast or SSL stream
// needs of its next layer is forwarded.
template <class Socket>
class eager_socket {
public:
    using next_layer_type = std::remove_reference_t<Socket>;
    using executor_type = typename next_layer_type::executor_type;
    using lowest_layer_type = typename next_layer_type::lowest_layer_type;

    explicit eager_socket(Socket socket) : socket_(std::forward<Socket>(socket)) {}

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    next_layer_type& next_layer() noexcept { return socket_; }
    lowest_layer_type& lowest_layer() noexcept { return socket_.lowest_layer(); }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token)
    {
        return socket_.async_read_some(short_read_buffers(buffers), std::forward<Token>(token));
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) { start_write(std::move(handler), b); }, token,
            buffers);
    }

    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec)
    {
        return socket_.read_some(buffers, ec);
    }

    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec)
    {
        return socket_.write_some(buffers, ec);
    }

private:
    // How deep in-place write completions may nest on one thread.
    static constexpr int max_nested_writes = 8;
    static inline thread_local int nested_writes = 0;

    template <class Handler, class ConstBufferSequence>
    void start_write(Handler handler, const ConstBufferSequence& buffers)
    {
        using adapter = boost::asio::detail::buffer_sequence_adapter<boost::asio::const_buffer, ConstBufferSequence>;
        if (adapter::all_empty(buffers)) {
            socket_.async_write_some(buffers, std::move(handler)); // nothing to send: Asio completes it
            return;
        }
        adapter pieces(buffers);
        boost::system::error_code ec;
        std::size_t bytes = 0;
        if (!boost::asio::detail::socket_ops::non_blocking_send(socket_.native_handle(), pieces.buffers(),
                                                                pieces.count(), MSG_DONTWAIT, ec, bytes)) {
            socket_.async_write_some(buffers, std::move(handler)); // the socket is full: Asio waits for it
            return;
        }
        auto ex = boost::asio::get_associated_executor(handler, socket_.get_executor());
        if (nested_writes >= max_nested_writes) {
            boost::asio::post(ex, boost::asio::append(std::move(handler), ec, bytes));
            return;
        }
        struct depth {
            depth() { ++nested_writes; }
            ~depth() { --nested_writes; }
        } level;
        boost::asio::dispatch(ex, boost::asio::append(std::move(handler), ec, bytes));
    }

    Socket socket_;
};

// A WebSocket over an eager_socket closes the way one over the bare socket does.
template <class Socket>
void teardown(boost::beast::role_type role, eager_socket<Socket>& socket, boost::system::error_code& ec)
{
    boost::beast::websocket::teardown(role, socket.next_layer(), ec);
}

template <class Socket, class Handler>
void async_teardown(boost::beast::role_type role, eager_socket<Socket>& socket, Handler&& handler)
{
    boost::beast::websocket::async_teardown(role, socket.next_layer(), std::forward<Handler>(handler));
}

} // namespace callgate::net::detail

namespace boost::asio::detail {

// The receive operation for short_read_buffers: Asio's own, except that a
// short read on a stream socket is reported as exhausting it.
template <>
inline reactor_op::status
reactive_socket_recv_op_base<callgate::net::detail::short_read_buffers>::do_perform(reactor_op* base)
{
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const auto& parts = o->buffers_;
    bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    std::size_t wanted = 0;
    bool finished;
    if (parts.count == 1) {
        wanted = parts.parts[0].size();
        finished = socket_ops::non_blocking_recv1(o->socket_, parts.parts[0].data(), wanted, o->flags_, stream,
                                                  o->ec_, o->bytes_transferred_);
    } else {
        socket_ops::buf bufs[2];
        for (std::size_t i = 0; i < parts.count; ++i) {
            socket_ops::init_buf(bufs[i], parts.parts[i].data(), parts.parts[i].size());
            wanted += parts.parts[i].size();
        }
        finished = socket_ops::non_blocking_recv(o->socket_, bufs, parts.count, o->flags_, stream, o->ec_,
                                                 o->bytes_transferred_);
    }
    if (!finished)
        return not_done;
    return stream && o->bytes_transferred_ < wanted ? done_and_exhausted : done;
}

// asio::async_write on an eager_socket. Beast writes a WebSocket frame as a
// buffers_cat_view of four sequences (header, mask, payload pieces), and
// Asio's write operation walks that view through consuming_buffers at every
// step: about 1,900 instructions a frame, more than the rest of the relay.
// A sequence of at most two non-empty buffers (a frame's header and payload)
// is written as a std::array of two instead, for which Asio keeps its place
// with two plain buffers; a longer sequence goes the usual way. What is
// written, and when the handler runs, is the same.
template <class Socket>
class initiate_async_write<callgate::net::detail::eager_socket<Socket>> {
public:
    using stream_type = callgate::net::detail::eager_socket<Socket>;
    using executor_type = typename stream_type::executor_type;

    explicit initiate_async_write(stream_type& stream) : stream_(stream) {}

    executor_type get_executor() const noexcept { return stream_.get_executor(); }

    template <class WriteHandler, class ConstBufferSequence, class CompletionCondition>
    void operator()(WriteHandler&& handler, const ConstBufferSequence& buffers,
                    CompletionCondition&& completion_cond) const
    {
        non_const_lvalue<WriteHandler> handler2(handler);
        non_const_lvalue<CompletionCondition> completion_cond2(completion_cond);
        std::array<const_buffer, 2> two{};
        std::size_t count = 0;
        auto end = buffer_sequence_end(buffers);
        for (auto it = buffer_sequence_begin(buffers); it != end; ++it) {
            const_buffer b(*it);
            if (b.size() == 0)
                continue;
            if (count == two.size()) {
                start_write_op(stream_, buffers, buffer_sequence_begin(buffers), completion_cond2.value,
                               handler2.value);
                return;
            }
            two[count++] = b;
        }
        start_write_op(stream_, two, two.cbegin(), completion_cond2.value, handler2.value);
    }

private:
    stream_type& stream_;
};

} // namespace boost::asio::detail
