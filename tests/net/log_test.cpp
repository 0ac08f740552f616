#include "callgate/net/log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace callgate::net {
namespace {

// What log() writes to stderr while `body` runs, in the given format.
template <class F>
std::string captured(bool json, F body)
{
    char path[] = "/tmp/callgate-log-test-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    configure_logging(log_level::info, json);
    body();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(fd);
    configure_logging(log_level::info, false);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    ::unlink(path);
    return text;
}

TEST(log, json_lines_carry_msg_and_typed_values)
{
    auto text = captured(true, [] {
        log(log_level::info, "ready", "Serving \"both\" listeners",
            {{"threads", 4}, {"bytes", std::uint64_t{18446744073709551615ull}}, {"delta", -3}, {"ratio", 0.5},
             {"tls", false}, {"name", std::string("api")}, {"path", "/a\\b"}});
    });
    // The time varies; the rest is exact.
    auto at = text.find("\",\"level\"");
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_EQ(text.substr(at),
              "\",\"level\":\"info\",\"event\":\"ready\",\"msg\":\"Serving \\\"both\\\" listeners\",\"threads\":4,"
              "\"bytes\":18446744073709551615,\"delta\":-3,\"ratio\":0.5,\"tls\":false,\"name\":\"api\","
              "\"path\":\"/a\\\\b\"}\n");
    EXPECT_EQ(text.rfind("{\"time\":\"", 0), 0u) << text;
}

TEST(log, text_lines_quote_only_what_needs_it)
{
    auto text = captured(false, [] {
        log(log_level::warn, "drain_timeout", "Connections were still open",
            {{"connections", 2}, {"listener", "api"}, {"error", ""}, {"ok", true}});
    });
    auto at = text.find(" warn ");
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_EQ(text.substr(at),
              " warn drain_timeout msg=\"Connections were still open\" connections=2 listener=api error=\"\" ok=true\n");
}

TEST(log, lines_under_the_threshold_are_not_written)
{
    auto text = captured(false, [] { log(log_level::debug, "noise", "Not shown"); });
    EXPECT_EQ(text, "");
}

} // namespace
} // namespace callgate::net
