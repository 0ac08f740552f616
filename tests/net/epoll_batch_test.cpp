// epoll_batch: an epoll set read through Asio, a read being epoll_wait(set, 0)
// and a batch smaller than its room marking the set drained. These tests hold
// it to what a wait must still do: see events that were ready before the read
// started, wake for events that come after it went to wait (also after a
// drained batch, when Asio no longer tries the read at once), hand over more
// ready events than one batch holds across reads, and end with the set's
// descriptor closed.

#include "epoll_batch.hpp"
#include "run_until.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <set>
#include <vector>

namespace asio = boost::asio;
using callgate::net::detail::epoll_batch;

namespace {

// An epoll set, watched through Asio, of `count` socket pairs; their writing
// ends make the reading ends ready (edge-triggered, as the ready lane does).
struct watched_set {
    asio::io_context ioc;
    asio::posix::stream_descriptor set{ioc};
    std::vector<std::array<int, 2>> pairs;

    explicit watched_set(std::size_t count)
    {
        set.assign(::epoll_create1(EPOLL_CLOEXEC));
        for (std::size_t i = 0; i < count; ++i) {
            std::array<int, 2> fds{};
            EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds.data()), 0);
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLET;
            ev.data.u64 = i;
            EXPECT_EQ(::epoll_ctl(set.native_handle(), EPOLL_CTL_ADD, fds[0], &ev), 0);
            pairs.push_back(fds);
        }
    }
    ~watched_set()
    {
        for (auto& p : pairs) {
            ::close(p[0]);
            ::close(p[1]);
        }
    }
    void make_ready(std::size_t i) { ASSERT_EQ(::write(pairs[i][1], "x", 1), 1); }

    // One read of at most `room` events: the ids it reported, or nullopt on the deadline.
    std::optional<std::vector<std::uint64_t>> read_once(std::size_t room)
    {
        std::vector<epoll_event> events(room);
        bool done = false;
        std::size_t got = 0;
        boost::system::error_code error;
        set.async_read_some(epoll_batch(events), [&](boost::system::error_code ec, std::size_t n) {
            error = ec;
            got = n;
            done = true;
        });
        if (!callgate::net::testing::run_until(ioc, [&] { return done; }))
            return std::nullopt;
        EXPECT_FALSE(error) << error.message();
        std::vector<std::uint64_t> ids;
        for (std::size_t i = 0; i < got; ++i)
            ids.push_back(events[i].data.u64);
        return ids;
    }
};

TEST(epoll_batch, reports_the_events_ready_before_the_read)
{
    watched_set w(3);
    w.make_ready(0);
    w.make_ready(2);
    auto ids = w.read_once(8);
    ASSERT_TRUE(ids) << "the read missed events that were ready";
    EXPECT_EQ(std::set<std::uint64_t>(ids->begin(), ids->end()), (std::set<std::uint64_t>{0, 2}));
}

TEST(epoll_batch, a_read_that_went_to_wait_wakes_for_the_next_event_every_time)
{
    watched_set w(2);
    for (int round = 0; round < 5; ++round) {
        // A drained batch before: this read is not tried at once but waits for the reactor.
        std::vector<epoll_event> events(4);
        bool done = false;
        std::size_t got = 0;
        w.set.async_read_some(epoll_batch(events), [&](boost::system::error_code ec, std::size_t n) {
            EXPECT_FALSE(ec);
            got = n;
            done = true;
        });
        w.ioc.restart();
        w.ioc.poll(); // nothing is ready: the read waits
        EXPECT_FALSE(done);
        w.make_ready(static_cast<std::size_t>(round % 2));
        ASSERT_TRUE(callgate::net::testing::run_until(w.ioc, [&] { return done; }))
            << "round " << round << ": the read never woke";
        EXPECT_EQ(got, 1u);
        EXPECT_EQ(events[0].data.u64, static_cast<std::uint64_t>(round % 2));
    }
}

TEST(epoll_batch, more_ready_than_a_batch_holds_come_in_the_next_reads)
{
    watched_set w(10);
    for (std::size_t i = 0; i < 10; ++i)
        w.make_ready(i);
    std::set<std::uint64_t> seen;
    for (int read = 0; read < 4 && seen.size() < 10; ++read) { // 4 + 4 + 2
        auto ids = w.read_once(4);
        ASSERT_TRUE(ids) << "read " << read << " missed events still ready";
        EXPECT_LE(ids->size(), 4u);
        seen.insert(ids->begin(), ids->end());
    }
    EXPECT_EQ(seen.size(), 10u);
}

TEST(epoll_batch, a_read_pending_when_the_set_closes_ends_aborted)
{
    watched_set w(1);
    std::vector<epoll_event> events(4);
    boost::system::error_code error;
    bool done = false;
    w.set.async_read_some(epoll_batch(events), [&](boost::system::error_code ec, std::size_t) {
        error = ec;
        done = true;
    });
    w.ioc.poll();
    w.set.close();
    w.ioc.restart();
    w.ioc.run_for(std::chrono::seconds(5));
    ASSERT_TRUE(done);
    EXPECT_EQ(error, asio::error::operation_aborted);
}

} // namespace
