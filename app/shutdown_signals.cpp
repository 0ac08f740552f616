#include "shutdown_signals.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>

namespace callgate::app {

namespace asio = boost::asio;

struct shutdown_signals::impl {
    asio::io_context context{1};
    asio::signal_set signals{context, SIGTERM, SIGINT};
};

shutdown_signals::shutdown_signals() : impl_(std::make_unique<impl>()) {}

shutdown_signals::~shutdown_signals() = default;

int shutdown_signals::wait()
{
    int received = 0;
    impl_->signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (!ec)
            received = signal;
    });
    impl_->context.restart();
    impl_->context.run();
    return received;
}

bool shutdown_signals::wait_for(std::chrono::milliseconds delay)
{
    if (delay <= std::chrono::milliseconds::zero())
        return true;
    bool interrupted = false;
    asio::steady_timer timer(impl_->context, delay);
    timer.async_wait([&](const boost::system::error_code& ec) {
        if (!ec)
            impl_->signals.cancel();
    });
    impl_->signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
            interrupted = true;
            timer.cancel();
        }
    });
    impl_->context.restart();
    impl_->context.run();
    return !interrupted;
}

} // namespace callgate::app
