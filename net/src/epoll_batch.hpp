#pragma once

// Reading an epoll set's ready events through Asio, without an epoll_ctl per
// wait. Private to net.
//
// The edge listener keeps waiting connections in an epoll set of its own whose
// descriptor Asio's reactor watches (http_server.cpp's ready_lane). An
// async_wait on that descriptor is never tried at once: Asio re-arms the
// descriptor with epoll_ctl(EPOLL_CTL_MOD) for every wait, one system call per
// batch of requests that nginx does not make. A read is different: Asio tries
// it at once ("speculatively") unless the last one found the descriptor
// exhausted, and otherwise queues it on the registration it already has
// (edge-triggered, made once). So the set is read as a stream descriptor whose
// read is epoll_wait(set, 0) into the events array: async_read_some with an
// epoll_batch, for which the one read operation Asio builds does exactly that,
// reporting how many events it took as the bytes read. A batch smaller than
// the array emptied the set's ready list, so it is exhausted: any event after
// it wakes the outer epoll again (a nested epoll set signals its watchers for
// every event it queues). Everything else (the reactor, cancellation,
// handlers) is Asio's.
//
// Checked against Boost 1.81's reactor (detail/impl/epoll_reactor.ipp,
// detail/descriptor_read_op.hpp); the static_assert makes a new Boost look again.

#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/descriptor_read_op.hpp>
#include <boost/asio/error.hpp>
#include <boost/version.hpp>

#include <sys/epoll.h>

#include <cerrno>
#include <cstddef>
#include <span>

static_assert(BOOST_VERSION / 100 == 1081,
              "epoll_batch reimplements one of Asio's descriptor read operations: check it against this Boost");

namespace callgate::net::detail {

// Room for the ready events of an epoll set, as the one buffer of a read.
struct epoll_batch {
    using value_type = boost::asio::mutable_buffer;
    using const_iterator = const boost::asio::mutable_buffer*;

    explicit epoll_batch(std::span<epoll_event> events) : room(events.data(), events.size_bytes()) {}

    const_iterator begin() const noexcept { return &room; }
    const_iterator end() const noexcept { return &room + 1; }

    boost::asio::mutable_buffer room;
};

} // namespace callgate::net::detail

namespace boost::asio::detail {

// The read operation for an epoll_batch: epoll_wait(set, 0) instead of read();
// its byte count is the number of events.
template <>
inline reactor_op::status descriptor_read_op_base<callgate::net::detail::epoll_batch>::do_perform(reactor_op* base)
{
    auto* o = static_cast<descriptor_read_op_base*>(base);
    auto* events = static_cast<epoll_event*>(o->buffers_.room.data());
    int capacity = static_cast<int>(o->buffers_.room.size() / sizeof(epoll_event));
    int n;
    do
        n = ::epoll_wait(o->descriptor_, events, capacity, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
        o->bytes_transferred_ = 0;
        return done;
    }
    if (n == 0)
        return not_done; // nothing ready: wait for the reactor
    o->bytes_transferred_ = static_cast<std::size_t>(n);
    return n < capacity ? done_and_exhausted : done;
}

} // namespace boost::asio::detail
