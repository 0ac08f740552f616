#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace callgate::engine {

// Source of wall-clock time, injected so tests can control it.
// now_us() returns microseconds since the Unix epoch; it may be called from any thread.
class clock_source {
public:
    virtual ~clock_source() = default;
    virtual std::int64_t now_us() const = 0;
};

// The real wall clock (CLOCK_REALTIME).
class system_clock_source final : public clock_source {
public:
    std::int64_t now_us() const override;
};

// A clock that only moves when told to; thread-safe.
class manual_clock final : public clock_source {
public:
    explicit manual_clock(std::int64_t start_us) : now_(start_us) {}
    std::int64_t now_us() const override { return now_.load(std::memory_order_relaxed); }
    void set(std::int64_t us) { now_.store(us, std::memory_order_relaxed); }
    void advance(std::int64_t us) { now_.fetch_add(us, std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> now_;
};

// Formats microseconds since the epoch as RFC 3339 UTC with microseconds,
// e.g. "2026-11-27T02:32:21.123456Z".
std::string format_rfc3339(std::int64_t unix_us);

} // namespace callgate::engine
