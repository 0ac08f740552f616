#pragma once

#include <chrono>
#include <memory>

namespace callgate::app {

// SIGTERM and SIGINT, caught from construction on: build it before telling
// anyone the server is ready, so that an early signal drains instead of
// killing the process. Used by one thread.
class shutdown_signals {
public:
    shutdown_signals();
    ~shutdown_signals();
    shutdown_signals(const shutdown_signals&) = delete;
    shutdown_signals& operator=(const shutdown_signals&) = delete;

    // Blocks until a signal arrives (or one already has); returns its number.
    int wait();
    // Blocks for `delay`, or until another signal arrives; returns false when
    // a signal cut the delay short.
    bool wait_for(std::chrono::milliseconds delay);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace callgate::app
