#include "callgate/engine/clock.hpp"

#include <ctime>
#include <cstdio>

namespace callgate::engine {

std::int64_t system_clock_source::now_us() const
{
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::string format_rfc3339(std::int64_t unix_us)
{
    std::int64_t secs = unix_us / 1'000'000;
    std::int64_t micros = unix_us % 1'000'000;
    if (micros < 0) {
        micros += 1'000'000;
        --secs;
    }
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(micros));
    return buf;
}

} // namespace callgate::engine
