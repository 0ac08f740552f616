#include "serve_options.hpp"

#include <gtest/gtest.h>

namespace callgate::app {
namespace {

TEST(serve_options, defaults_match_the_operations_spec)
{
    serve_options o;
    std::string error;
    ASSERT_TRUE(parse_serve_options({}, {}, o, error)) << error;
    EXPECT_EQ(o.data_dir, "./data");
    EXPECT_EQ(o.api_listen, "127.0.0.1:8080");
    EXPECT_EQ(o.edge_listen, "127.0.0.1:8081");
    EXPECT_EQ(o.cache_entries, 1'000'000u);
    EXPECT_EQ(o.webhook_timeout_ms, 4000);
    EXPECT_EQ(o.max_call_duration, std::chrono::hours(4));
    EXPECT_EQ(o.call_retention, std::chrono::hours(24 * 30));
    EXPECT_FALSE(o.allow_insecure_urls);
    EXPECT_EQ(o.shutdown_delay, std::chrono::seconds(5));
}

TEST(serve_options, flags_win_over_environment)
{
    serve_options o;
    std::string error;
    ASSERT_TRUE(parse_serve_options({"--api-listen", "0.0.0.0:9000", "--cache-entries=5"},
                                    {{"CALLGATE_API_LISTEN", "127.0.0.1:1"},
                                     {"CALLGATE_THREADS", "3"},
                                     {"CALLGATE_ALLOW_INSECURE_URLS", "true"}},
                                    o, error))
        << error;
    EXPECT_EQ(o.api_listen, "0.0.0.0:9000");
    EXPECT_EQ(o.cache_entries, 5u);
    EXPECT_EQ(o.threads, 3u);
    EXPECT_TRUE(o.allow_insecure_urls);
}

TEST(serve_options, bad_input_gets_one_clear_line)
{
    struct row {
        std::vector<std::string> args;
        std::string expect;
    };
    const row table[] = {
        {{"--nope"}, "unknown flag --nope"},
        {{"--threads"}, "needs a value"},
        {{"--threads", "0"}, "invalid value '0' for --threads"},
        {{"--cache-entries", "lots"}, "invalid value 'lots'"},
        {{"--max-call-duration", "4x"}, "--max-call-duration"},
        {{"--log-format", "xml"}, "text or json"},
        {{"--tls-cert", "a.pem"}, "--tls-cert and --tls-key go together"},
        {{"stray"}, "unexpected argument"},
        {{"--api-listen", "127.0.0.1:99999"}, "invalid value '127.0.0.1:99999' for --api-listen"},
        {{"--edge-listen", "127.0.0.1"}, "--edge-listen"},
        {{"--edge-listen", "::1:80"}, "--edge-listen"},
        {{"--store-memory", "1MiB"}, "at least 8MiB"},
        {{"--min-free-disk", "12XB"}, "--min-free-disk"},
    };
    for (const auto& r : table) {
        serve_options o;
        std::string error;
        EXPECT_FALSE(parse_serve_options(r.args, {}, o, error));
        EXPECT_NE(error.find(r.expect), std::string::npos) << error;
    }
}

TEST(serve_options, sizes_take_binary_units)
{
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("64MiB"), 64ull << 20);
    EXPECT_EQ(parse_size("64M"), 64ull << 20);
    EXPECT_EQ(parse_size("1GiB"), 1ull << 30);
    EXPECT_EQ(parse_size("2K"), 2048u);
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("MiB"));
    EXPECT_FALSE(parse_size("1TB"));
    EXPECT_FALSE(parse_size("99999999999999999999G"));
    serve_options o;
    std::string error;
    ASSERT_TRUE(parse_serve_options({"--api-listen", "[::1]:0", "--store-memory", "512MiB"}, {}, o, error)) << error;
    EXPECT_EQ(o.api_listen, "[::1]:0");
    EXPECT_EQ(o.store_memory, 512ull << 20);
    EXPECT_EQ(o.min_free_disk, 64ull << 20);
}

TEST(serve_options, durations_take_units)
{
    EXPECT_EQ(parse_duration("90s"), std::chrono::seconds(90));
    EXPECT_EQ(parse_duration("15m"), std::chrono::minutes(15));
    EXPECT_EQ(parse_duration("4h"), std::chrono::hours(4));
    EXPECT_EQ(parse_duration("30d"), std::chrono::hours(720));
    EXPECT_EQ(parse_duration("120"), std::chrono::seconds(120));
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("h"));
    EXPECT_FALSE(parse_duration("-1h"));
}

TEST(serve_options, shutdown_delay_takes_zero_seconds_or_milliseconds)
{
    EXPECT_EQ(parse_duration_ms("250ms"), std::chrono::milliseconds(250));
    EXPECT_EQ(parse_duration_ms("2s"), std::chrono::seconds(2));
    EXPECT_EQ(parse_duration_ms("0"), std::chrono::milliseconds(0));
    EXPECT_FALSE(parse_duration_ms("ms"));
    EXPECT_FALSE(parse_duration_ms("1.5s"));
    serve_options o;
    std::string error;
    ASSERT_TRUE(parse_serve_options({"--shutdown-delay", "0"}, {}, o, error)) << error;
    EXPECT_EQ(o.shutdown_delay, std::chrono::milliseconds(0));
    ASSERT_TRUE(parse_serve_options({}, {{"CALLGATE_SHUTDOWN_DELAY", "750ms"}}, o, error)) << error;
    EXPECT_EQ(o.shutdown_delay, std::chrono::milliseconds(750));
    EXPECT_FALSE(parse_serve_options({"--shutdown-delay", "11m"}, {}, o, error));
    EXPECT_NE(error.find("--shutdown-delay"), std::string::npos) << error;
}

} // namespace
} // namespace callgate::app
