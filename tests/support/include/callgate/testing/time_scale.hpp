#pragma once

#include <chrono>
#include <cstdlib>

namespace callgate::testing {

// How much slower than a Release build this one runs: CALLGATE_TEST_TIME_SCALE,
// set by scripts/test for the sanitizer builds (ASan about 5, TSan about 10;
// default 1). Only latency bounds that a test asserts are scaled, never
// deadlines for a correct answer (those are generous already).
inline int time_scale()
{
    const char* v = std::getenv("CALLGATE_TEST_TIME_SCALE");
    int scale = v != nullptr ? std::atoi(v) : 1;
    return scale > 0 ? scale : 1;
}

template <class Rep, class Period>
std::chrono::duration<Rep, Period> scaled(std::chrono::duration<Rep, Period> bound)
{
    return bound * time_scale();
}

} // namespace callgate::testing
