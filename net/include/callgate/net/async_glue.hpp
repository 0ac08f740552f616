#pragma once

// Glue between coroutines on I/O threads and work elsewhere: blocking work on
// a worker pool, and callback-style completions from other threads. Include
// only from .cpp files (it pulls in Asio's initiation machinery).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace callgate::net {

// Runs `fn` (which may block) on `workers` and resumes the awaiting coroutine
// on its own executor with the result. Call as
//   auto op = on_workers(pool, fn); auto r = co_await std::move(op);
// (building the awaitable outside the co_await expression sidesteps a GCC 12
// bug with class-type temporaries inside it).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> on_workers(boost::asio::any_io_executor workers, F fn)
{
    using result = std::invoke_result_t<F>;
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(result)>(
        [workers](auto handler, F fn) {
            boost::asio::post(workers, [fn = std::move(fn), handler = std::move(handler)]() mutable {
                auto value = fn();
                auto ex = boost::asio::get_associated_executor(handler);
                boost::asio::post(ex, [handler = std::move(handler), value = std::move(value)]() mutable {
                    std::move(handler)(std::move(value));
                });
            });
        },
        boost::asio::use_awaitable, std::move(fn));
}

// Calls `start(done)`, where `done(R)` may be invoked once from any thread,
// and resumes the awaiting coroutine on its own executor with the value.
template <class R, class Start>
boost::asio::awaitable<R> await_callback(Start start)
{
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
        [](auto handler, Start start) {
            using handler_t = decltype(handler);
            auto shared = std::make_shared<handler_t>(std::move(handler));
            start([shared](R value) {
                auto ex = boost::asio::get_associated_executor(*shared);
                boost::asio::post(ex, [shared, value = std::move(value)]() mutable {
                    std::move(*shared)(std::move(value));
                });
            });
        },
        boost::asio::use_awaitable, std::move(start));
}

} // namespace callgate::net
