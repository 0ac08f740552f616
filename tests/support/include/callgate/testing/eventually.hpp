#pragma once

#include <chrono>
#include <thread>

namespace callgate::testing {

// Polls `condition` every 20 ms until it holds or `deadline` passes; returns
// whether it held. For state another process reaches on its own time (a
// replicated change, a recovered disk) — a deadline, never a fixed sleep.
template <class F>
bool eventually(F condition, std::chrono::milliseconds deadline = std::chrono::seconds(15))
{
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
        if (condition())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

} // namespace callgate::testing
