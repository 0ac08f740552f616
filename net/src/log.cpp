#include "callgate/net/log.hpp"

#include "callgate/codec/decimal.hpp"
#include "callgate/codec/json_string.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace callgate::net {
namespace {

std::atomic<int> threshold_{static_cast<int>(log_level::info)};
std::atomic<bool> json_{false};
std::mutex write_mutex;

const char* level_name(log_level level)
{
    switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    }
    return "info";
}

bool needs_quotes(std::string_view text)
{
    if (text.empty())
        return true;
    for (char c : text)
        if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20)
            return true;
    return false;
}

// Appends the time as 2026-01-01T00:00:00.000Z. The part up to the seconds
// is formatted once a second per thread.
void append_time(std::string& out)
{
    thread_local std::time_t cached_second = -1;
    thread_local char cached[80];
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_second) {
        std::tm tm{};
        ::gmtime_r(&ts.tv_sec, &tm);
        std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_second = ts.tv_sec;
    }
    out += cached;
    auto ms = static_cast<int>(ts.tv_nsec / 1'000'000);
    char tail[6] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                    static_cast<char>('0' + ms % 10), 'Z', '\0'};
    out += tail;
}

void write_line(std::string_view line)
{
    std::lock_guard lock(write_mutex);
    while (!line.empty()) {
        auto n = ::write(STDERR_FILENO, line.data(), line.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // stderr is gone: nothing sensible to do
        line.remove_prefix(static_cast<std::size_t>(n));
    }
}

} // namespace

void log_value::append_json(std::string& out) const
{
    switch (kind_) {
    case kind::text:
        out += '"';
        codec::append_json_escaped(out, text_);
        out += '"';
        return;
    case kind::signed_integer: codec::append_decimal(out, signed_); return;
    case kind::unsigned_integer: codec::append_decimal(out, unsigned_); return;
    case kind::number:
        if (std::isfinite(number_))
            codec::append_decimal(out, number_);
        else
            out += "null";
        return;
    case kind::boolean: out += unsigned_ != 0 ? "true" : "false"; return;
    }
}

void log_value::append_text(std::string& out) const
{
    if (kind_ != kind::text) {
        append_json(out);
        return;
    }
    if (!needs_quotes(text_)) {
        out += text_;
        return;
    }
    out += '"';
    codec::append_json_escaped(out, text_);
    out += '"';
}

void configure_logging(log_level threshold, bool json)
{
    threshold_.store(static_cast<int>(threshold));
    json_.store(json);
}

bool parse_log_level(std::string_view text, log_level& out)
{
    for (auto level : {log_level::debug, log_level::info, log_level::warn, log_level::error}) {
        if (text == level_name(level)) {
            out = level;
            return true;
        }
    }
    return false;
}

bool log_enabled(log_level level) { return static_cast<int>(level) >= threshold_.load(std::memory_order_relaxed); }

void log(log_level level, std::string_view event, std::string_view msg, std::initializer_list<log_field> fields)
{
    if (!log_enabled(level))
        return;
    thread_local std::string line;
    line.clear();
    if (json_.load(std::memory_order_relaxed)) {
        line += "{\"time\":\"";
        append_time(line);
        line += "\",\"level\":\"";
        line += level_name(level);
        line += "\",\"event\":\"";
        codec::append_json_escaped(line, event);
        line += "\",\"msg\":\"";
        codec::append_json_escaped(line, msg);
        line += '"';
        for (const auto& [key, value] : fields) {
            line += ",\"";
            codec::append_json_escaped(line, key);
            line += "\":";
            value.append_json(line);
        }
        line += "}\n";
    } else {
        append_time(line);
        line += ' ';
        line += level_name(level);
        line += ' ';
        line += event;
        line += " msg=";
        log_value(msg).append_text(line);
        for (const auto& [key, value] : fields) {
            line += ' ';
            line += key;
            line += '=';
            value.append_text(line);
        }
        line += '\n';
    }
    write_line(line);
    if (line.capacity() > 64 * 1024)
        std::string().swap(line); // one huge line does not pin its buffer
}

} // namespace callgate::net
