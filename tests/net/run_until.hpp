#pragma once

// For the net tests that drive an io_context by hand (eager_socket,
// epoll_batch): run it in short slices until `done()` or the deadline.

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace callgate::net::testing {

// False on the deadline: an operation that missed its event waits for ever.
template <class Done>
bool run_until(boost::asio::io_context& ioc, Done done, std::chrono::seconds limit = std::chrono::seconds(10))
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        ioc.restart();
        ioc.run_for(std::chrono::milliseconds(10));
    }
    return true;
}

} // namespace callgate::net::testing
