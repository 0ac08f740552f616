#include "callgate/net/log.hpp"

#include "json_escape.hpp"

#include <atomic>
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

} // namespace

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

bool log_enabled(log_level level) { return static_cast<int>(level) >= threshold_.load(); }

void log(log_level level, std::string_view event, std::initializer_list<log_field> fields)
{
    if (!log_enabled(level))
        return;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    ::gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    std::string line;
    if (json_.load()) {
        line = "{\"time\":\"";
        line += when;
        line += "\",\"level\":\"";
        line += level_name(level);
        line += "\",\"event\":\"";
        detail::append_json_escaped(line, event);
        line += '"';
        for (const auto& [key, value] : fields) {
            line += ",\"";
            detail::append_json_escaped(line, key);
            line += "\":\"";
            detail::append_json_escaped(line, value);
            line += '"';
        }
        line += "}\n";
    } else {
        line = when;
        line += ' ';
        line += level_name(level);
        line += ' ';
        line += event;
        for (const auto& [key, value] : fields) {
            line += ' ';
            line += key;
            line += '=';
            if (needs_quotes(value)) {
                line += '"';
                detail::append_json_escaped(line, value);
                line += '"';
            } else {
                line += value;
            }
        }
        line += '\n';
    }
    std::lock_guard lock(write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

namespace detail {

void append_json_escaped(std::string& out, std::string_view text)
{
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        } else {
            out += c;
        }
    }
}

} // namespace detail

} // namespace callgate::net
