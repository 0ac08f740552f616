#include "serve_options.hpp"

#include "config_file.hpp"

#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

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

std::string write_config(const testing::temp_dir& dir, const std::string& text)
{
    std::string path = dir.path() + "/callgate.conf";
    std::ofstream(path) << text;
    return path;
}

TEST(config_file, takes_toml_strings_bare_values_and_comments)
{
    std::vector<config_entry> entries;
    std::string error;
    ASSERT_TRUE(parse_config_text("# a comment\n"
                                  "; an INI comment\n"
                                  "\n"
                                  "api-listen = \"127.0.0.1:9000\"   # where\n"
                                  "  threads=4\n"
                                  "log-level = warn ; inline\n"
                                  "data-dir = '/var/lib/call#gate'\n"
                                  "etcd-password = \"p\\\"w\\\\\\u00e9\"\r\n"
                                  "node-name = a#b\n",
                                  entries, error))
        << error;
    ASSERT_EQ(entries.size(), 6u);
    EXPECT_EQ(entries[0].key, "api-listen");
    EXPECT_EQ(entries[0].value, "127.0.0.1:9000");
    EXPECT_EQ(entries[0].line, 4);
    EXPECT_EQ(entries[1].value, "4");
    EXPECT_EQ(entries[2].value, "warn");
    EXPECT_EQ(entries[3].value, "/var/lib/call#gate");
    EXPECT_EQ(entries[4].value, "p\"w\\\xc3\xa9");
    EXPECT_EQ(entries[5].value, "a#b"); // '#' starts a comment only after a blank
}

TEST(config_file, refuses_what_it_does_not_understand_naming_the_line)
{
    struct row {
        std::string text;
        std::string expect;
    };
    const row table[] = {
        {"threads = 4\n[serve]\n", "2: sections are not used"},
        {"threads\n", "1: expected key = value"},
        {"= 4\n", "1: a value with no key"},
        {"Threads = 4\n", "1: bad key 'Threads'"},
        {"api_listen = x\n", "1: bad key 'api_listen'"},
        {"threads =\n", "1: no value for threads"},
        {"etcd-endpoints = [\"http://a:1\"]\n", "1: arrays and tables are not used"},
        {"data-dir = \"/x\n", "1: no closing \""},
        {"data-dir = \"/x\" y\n", "1: unexpected text after the closing quote"},
        {"data-dir = \"\\q\"\n", "1: unknown escape \\q"},
        {"data-dir = \"\\u0000\"\n", "1: bad \\u escape"},
        {"threads = 1\n\nthreads = 2\n", "3: threads is set twice (first on line 1)"},
        {"threads = 1\x01\n", "1: a control character"},
    };
    for (const auto& r : table) {
        std::vector<config_entry> entries;
        std::string error;
        EXPECT_FALSE(parse_config_text(r.text, entries, error)) << r.text;
        EXPECT_EQ(error.rfind(r.expect, 0), 0u) << error;
    }
    std::vector<config_entry> entries;
    std::string error;
    EXPECT_FALSE(parse_config_text(std::string(100, '#'), entries, error, 99));
    EXPECT_NE(error.find("over 99 bytes"), std::string::npos) << error;
}

TEST(config_file, every_setting_comes_from_it_below_environment_and_flags)
{
    testing::temp_dir dir;
    auto path = write_config(dir, "api-listen = \"127.0.0.1:7001\"\n"
                                  "edge-listen = 127.0.0.1:7002\n"
                                  "threads = 2\n"
                                  "allow-insecure-urls = true\n"
                                  "store-memory = 64MiB\n"
                                  "max-call-duration = 90m\n"
                                  "etcd-endpoints = \"http://127.0.0.1:2379,https://[::1]:2379/\"\n");
    serve_options o;
    std::string error;
    ASSERT_TRUE(parse_serve_options({"--config", path, "--threads", "5"}, {{"CALLGATE_EDGE_LISTEN", "127.0.0.1:7003"}},
                                    o, error))
        << error;
    EXPECT_EQ(o.config_file, path);
    EXPECT_EQ(o.api_listen, "127.0.0.1:7001");  // the file
    EXPECT_EQ(o.edge_listen, "127.0.0.1:7003"); // the environment over the file
    EXPECT_EQ(o.threads, 5u);                   // the flag over the file
    EXPECT_TRUE(o.allow_insecure_urls);
    EXPECT_EQ(o.store_memory, 64ull << 20);
    EXPECT_EQ(o.max_call_duration, std::chrono::minutes(90));
    ASSERT_EQ(o.etcd_endpoints.size(), 2u);
    EXPECT_EQ(o.webhook_timeout_ms, 4000); // the default

    // CALLGATE_CONFIG names the file too; --config wins over it.
    serve_options from_env;
    ASSERT_TRUE(parse_serve_options({}, {{"CALLGATE_CONFIG", path}}, from_env, error)) << error;
    EXPECT_EQ(from_env.threads, 2u);
    auto other = dir.path() + "/other.conf";
    std::ofstream(other) << "threads = 7\n";
    ASSERT_TRUE(parse_serve_options({"--config=" + other}, {{"CALLGATE_CONFIG", path}}, from_env, error)) << error;
    EXPECT_EQ(from_env.threads, 7u);
}

TEST(config_file, an_unknown_key_or_bad_value_names_the_file_and_line)
{
    testing::temp_dir dir;
    struct row {
        std::string text;
        std::string expect;
    };
    const row table[] = {
        {"threads = 2\napi-listn = 1.2.3.4:5\n", ":2: unknown key 'api-listn'"},
        {"config = /etc/other.conf\n", ":1: unknown key 'config'"},
        {"\n\napi-listen = 127.0.0.1:99999\n", ":3: invalid value '127.0.0.1:99999' for api-listen"},
        {"call-retention = forever\n", ":1: invalid value 'forever' for call-retention"},
        {"store-memory = 1KiB\n", ":1: invalid value '1KiB' for store-memory"},
        {"allow-insecure-urls = maybe\n", ":1: invalid value 'maybe' for allow-insecure-urls"},
        {"tls-cert = a.pem\n", "--tls-cert and --tls-key go together"},
    };
    for (const auto& r : table) {
        auto path = write_config(dir, r.text);
        serve_options o;
        std::string error;
        EXPECT_FALSE(parse_serve_options({"--config", path}, {}, o, error)) << r.text;
        EXPECT_NE(error.find(r.expect), std::string::npos) << error;
        if (r.expect.front() == ':')
            EXPECT_EQ(error.rfind(path + ":", 0), 0u) << error;
    }
    serve_options o;
    std::string error;
    EXPECT_FALSE(parse_serve_options({"--config", dir.path() + "/missing.conf"}, {}, o, error));
    EXPECT_NE(error.find("cannot read config file"), std::string::npos) << error;
    EXPECT_FALSE(parse_serve_options({"--config", dir.path()}, {}, o, error));
    EXPECT_NE(error.find("cannot read config file"), std::string::npos) << error;
}

TEST(serve_options, conflicting_settings_are_refused)
{
    serve_options o;
    std::string error;
    EXPECT_FALSE(parse_serve_options({"--api-listen", "127.0.0.1:9000", "--edge-listen", "127.0.0.1:9000"}, {}, o, error));
    EXPECT_NE(error.find("give them different ports"), std::string::npos) << error;
    EXPECT_TRUE(parse_serve_options({"--api-listen", "127.0.0.1:0", "--edge-listen", "127.0.0.1:0"}, {}, o, error));
    EXPECT_FALSE(parse_serve_options({"--etcd-username", "u"}, {}, o, error));
    EXPECT_NE(error.find("--etcd-username and --etcd-password go together"), std::string::npos) << error;
}

TEST(serve_options, urls_follow_rfc_3986)
{
    serve_options o;
    std::string error;
    EXPECT_TRUE(parse_serve_options({"--etcd-endpoints", "http://[::1]:2379,https://etcd.example:2379/"}, {}, o, error))
        << error;
    for (const char* bad : {"http://h", "ftp://h:2379", "http://h:2379/v3", "http://u@h:2379", "http://h:2379,",
                            "http://h%zz:2379", "http://h:0"}) {
        EXPECT_FALSE(parse_serve_options({"--etcd-endpoints", bad}, {}, o, error)) << bad;
        EXPECT_NE(error.find("--etcd-endpoints"), std::string::npos) << error;
    }
    EXPECT_TRUE(parse_serve_options({"--advertise-api", "https://node1.example:8443"}, {}, o, error)) << error;
    EXPECT_FALSE(parse_serve_options({"--advertise-api", "https://node1.example:8443/%zz"}, {}, o, error));
}

// The packaged /etc/callgate/callgate.conf: with every commented-out setting
// switched on it is still valid (the documented defaults parse), and it
// names every flag of `serve --help`.
TEST(config_file, the_packaged_file_lists_every_flag_with_a_valid_value)
{
    std::ifstream in(CALLGATE_PACKAGED_CONFIG);
    ASSERT_TRUE(in) << CALLGATE_PACKAGED_CONFIG;
    std::string text, line;
    const std::regex setting(R"(^#?([a-z][a-z0-9-]*) = (.*)$)");
    std::set<std::string> keys;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, setting)) {
            keys.insert(m[1]);
            line = line.front() == '#' ? line.substr(1) : line;
        }
        text += line + "\n";
    }
    testing::temp_dir dir;
    auto path = write_config(dir, text);
    serve_options o;
    std::string error;
    EXPECT_TRUE(parse_serve_options({"--config", path}, {}, o, error)) << error;
    const std::regex flag(R"(--([a-z][a-z0-9-]*))");
    std::string help = serve_help();
    for (std::sregex_iterator it(help.begin(), help.end(), flag), end; it != end; ++it) {
        std::string name = (*it)[1];
        if (name != "config" && name != "help" && name != "client-cert-auth") // (etcd's flag, in the help's prose)
            EXPECT_TRUE(keys.count(name)) << "callgate.conf does not mention " << name;
    }
}

} // namespace
} // namespace callgate::app
