// The command line and process lifecycle: --help, --version, bad flags and data
// dirs (exit 2, nothing written), admin key bootstrap and rotation while
// running, listen.json, readiness, TLS, and graceful SIGTERM.
#include "api_support.hpp"

#include "callgate/testing/eventually.hpp"
#include "callgate/testing/time_scale.hpp"
#include "callgate/testing/tls_files.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace callgate::testing {
namespace {

namespace fs = std::filesystem;

TEST(command_line, help_and_version)
{
    std::string out;
    EXPECT_EQ(server_process::run_command({"--help"}, out), 0);
    EXPECT_NE(out.find("callgate serve"), std::string::npos);
    EXPECT_EQ(server_process::run_command({"serve", "--help"}, out), 0);
    EXPECT_NE(out.find("--cache-entries"), std::string::npos);
    EXPECT_NE(out.find("CALLGATE_"), std::string::npos);
    EXPECT_EQ(server_process::run_command({"--version"}, out), 0);
    EXPECT_EQ(out.rfind("callgate ", 0), 0u);
}

TEST(command_line, bad_flag_is_one_line_exit_2_and_writes_nothing)
{
    temp_dir dir;
    std::string data = dir.path() + "/data";
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", data, "--bogus"}, out), 2);
    EXPECT_EQ(out, "callgate: unknown flag --bogus (see 'callgate serve --help')\n");
    EXPECT_FALSE(fs::exists(data));
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", data, "--threads", "many"}, out), 2);
    EXPECT_NE(out.find("--threads"), std::string::npos);
    EXPECT_FALSE(fs::exists(data));
    EXPECT_EQ(server_process::run_command({"frobnicate"}, out), 2);
    // A listen address that cannot be bound is a bad flag too: nothing written.
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", data, "--api-listen", "127.0.0.1:99999"}, out), 2);
    EXPECT_NE(out.find("--api-listen"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(data));
}

TEST(command_line, environment_variables_set_flags)
{
    temp_dir dir;
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", dir.path() + "/d"}, out,
                                          {{"CALLGATE_LOG_FORMAT", "yaml"}}),
              2);
    EXPECT_NE(out.find("CALLGATE_LOG_FORMAT"), std::string::npos) << out;
}

TEST(command_line, unusable_data_dir_is_exit_2)
{
    temp_dir dir;
    std::string file = dir.path() + "/a-file";
    std::ofstream(file) << "x";
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", file, "--api-listen", "127.0.0.1:0"}, out), 2);
    EXPECT_NE(out.find("not a directory"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(command_line, a_data_dir_in_use_is_exit_2)
{
    temp_dir dir;
    server_process first(dir.path() + "/data");
    ASSERT_TRUE(first.start()) << first.log();
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", dir.path() + "/data", "--api-listen", "127.0.0.1:0"},
                                          out),
              2);
    EXPECT_NE(out.find("in use by another callgate"), std::string::npos) << out;
    EXPECT_EQ(first.stop(SIGTERM), 0);
}

TEST(lifecycle, first_start_writes_an_admin_key_with_mode_0600)
{
    temp_dir dir;
    server_process server(dir.path() + "/data");
    ASSERT_TRUE(server.start()) << server.log();
    struct stat st{};
    ASSERT_EQ(::stat((dir.path() + "/data/admin.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    // Nothing in the data dir is readable by others: it holds signing keys.
    ASSERT_EQ(::stat((dir.path() + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0077, 0u);
    for (const auto& entry : fs::recursive_directory_iterator(dir.path() + "/data/db")) {
        ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0077, 0u) << entry.path();
    }
    ASSERT_EQ(::stat((dir.path() + "/data/db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);
    auto key = server.admin_key();
    EXPECT_EQ(key.rfind("cg_", 0), 0u);
    http_connection c(server.api_address());
    EXPECT_EQ(c.request("GET", "/identities", {{"X-API-Key", key}}).status, 200);
    EXPECT_EQ(server.log().find(key), std::string::npos) << "the admin key leaked into the log";
    // A restart keeps the same key and does not write a new one.
    EXPECT_EQ(server.stop(SIGTERM), 0);
    ASSERT_TRUE(server.start());
    EXPECT_EQ(server.admin_key(), key);
    http_connection again(server.api_address());
    EXPECT_EQ(again.request("GET", "/identities", {{"X-API-Key", key}}).status, 200);
}

TEST(lifecycle, admin_key_create_works_while_the_server_runs)
{
    temp_dir dir;
    server_process server(dir.path() + "/data");
    ASSERT_TRUE(server.start()) << server.log();
    std::string out;
    ASSERT_EQ(server_process::run_command({"admin-key", "create", "--data-dir", dir.path() + "/data"}, out), 0) << out;
    std::string key = out.substr(0, out.find('\n'));
    ASSERT_EQ(key.rfind("cg_", 0), 0u);
    http_connection c(server.api_address());
    auto r = c.request("GET", "/api-keys/self", {{"X-API-Key", key}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(c.request("GET", "/identities", {{"X-API-Key", server.admin_key()}}).status, 200);
}

using namespace std::chrono_literals;

// The first id column of `callgate admin-key list`, oldest first.
std::vector<std::string> admin_key_ids(const std::string& list)
{
    std::vector<std::string> ids;
    std::istringstream lines(list);
    for (std::string line; std::getline(lines, line);)
        if (line.size() > 36 && line[8] == '-' && line[36] == ' ')
            ids.push_back(line.substr(0, 36));
    return ids;
}

TEST(lifecycle, admin_keys_are_listed_without_secrets_and_revoked_while_the_server_runs)
{
    temp_dir dir;
    std::string data = dir.path() + "/data";
    server_process server(data);
    ASSERT_TRUE(server.start()) << server.log();
    std::string first = server.admin_key(), out;
    ASSERT_EQ(server_process::run_command({"admin-key", "create", "--data-dir", data}, out), 0) << out;
    std::string second = out.substr(0, out.find('\n'));

    ASSERT_EQ(server_process::run_command({"admin-key", "list", "--data-dir", data}, out), 0) << out;
    auto ids = admin_key_ids(out);
    ASSERT_EQ(ids.size(), 2u) << out;
    EXPECT_EQ(out.find(first), std::string::npos) << "list shows a key";
    EXPECT_EQ(out.find(second), std::string::npos) << "list shows a key";
    EXPECT_NE(out.find("cg_…" + first.substr(first.size() - 4)), std::string::npos) << out;
    EXPECT_NE(out.find("CREATED"), std::string::npos) << out;

    // Revoke the first (generated) key by a prefix of its id: the running
    // server refuses it within a second, keeps taking the second; admin.key,
    // which held it, goes.
    ASSERT_EQ(server_process::run_command({"admin-key", "revoke", ids[0].substr(0, 8), "--data-dir", data}, out), 0)
        << out;
    EXPECT_NE(out.find("revoked admin key " + ids[0]), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(data + "/admin.key"));
    http_connection c(server.api_address());
    EXPECT_TRUE(eventually([&] { return c.request("GET", "/identities", {{"X-API-Key", first}}).status == 401; },
                           scaled(5s)));
    EXPECT_EQ(c.request("GET", "/identities", {{"X-API-Key", second}}).status, 200);

    // The last key: refused without --force, with the reason; unknown ids and bad prefixes.
    EXPECT_EQ(server_process::run_command({"admin-key", "revoke", ids[1], "--data-dir", data}, out), 1) << out;
    EXPECT_NE(out.find("the last admin key"), std::string::npos) << out;
    EXPECT_NE(out.find("--force"), std::string::npos) << out;
    EXPECT_EQ(c.request("GET", "/identities", {{"X-API-Key", second}}).status, 200);
    EXPECT_EQ(server_process::run_command({"admin-key", "revoke", ids[0], "--data-dir", data}, out), 1) << out;
    EXPECT_NE(out.find("no admin key with id"), std::string::npos) << out;
    EXPECT_EQ(server_process::run_command({"admin-key", "revoke", "xyz", "--data-dir", data}, out), 2) << out;
    EXPECT_EQ(server_process::run_command({"admin-key", "revoke", "--data-dir", data}, out), 2) << out;

    // With --force the last key goes too; a restart then generates a new one.
    ASSERT_EQ(server_process::run_command({"admin-key", "revoke", ids[1], "--force", "--data-dir", data}, out), 0)
        << out;
    EXPECT_TRUE(eventually([&] { return c.request("GET", "/identities", {{"X-API-Key", second}}).status == 401; },
                           scaled(5s)));
    ASSERT_EQ(server_process::run_command({"admin-key", "list", "--data-dir", data}, out), 0) << out;
    EXPECT_TRUE(admin_key_ids(out).empty()) << out;
    EXPECT_EQ(server.stop(SIGTERM), 0);
    ASSERT_TRUE(server.start()) << server.log();
    auto fresh = server.admin_key();
    EXPECT_EQ(fresh.rfind("cg_", 0), 0u);
    http_connection again(server.api_address());
    EXPECT_EQ(again.request("GET", "/identities", {{"X-API-Key", fresh}}).status, 200);
    EXPECT_EQ(again.request("GET", "/identities", {{"X-API-Key", second}}).status, 401);
}

TEST(lifecycle, listen_json_and_readiness)
{
    temp_dir dir;
    server_process server(dir.path() + "/data");
    ASSERT_TRUE(server.start());
    std::ifstream in(dir.path() + "/data/listen.json");
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(content.find("\"api\": \"127.0.0.1:"), std::string::npos) << content;
    http_connection c(server.api_address());
    EXPECT_EQ(c.request("GET", "/readyz").status, 200);
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

TEST(lifecycle, sigterm_finishes_requests_and_exits_0)
{
    temp_dir dir;
    server_process server(dir.path() + "/data", {}, {{"CALLGATE_ADMIN_KEY", "cg_lifecycle_admin_key_0001"}});
    ASSERT_TRUE(server.start());
    http_connection busy(server.api_address());
    ASSERT_EQ(busy.request("GET", "/healthz").status, 200); // an idle keep-alive connection
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    EXPECT_NE(server.log().find("draining"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir.path() + "/data/listen.json"));
}

TEST(lifecycle, metrics_count_requests_and_store_writes)
{
    temp_dir dir;
    server_process server(dir.path() + "/data", {}, {{"CALLGATE_ADMIN_KEY", "cg_lifecycle_admin_key_0001"}});
    ASSERT_TRUE(server.start());
    http_connection c(server.api_address());
    c.request("POST", "/identities", {{"X-API-Key", "cg_lifecycle_admin_key_0001"}, {"Content-Type", "application/json"}},
              R"({"agent_handle":"m"})");
    c.request("GET", "/nope");
    auto m = c.request("GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    EXPECT_EQ(m.header("Content-Type").rfind("text/plain", 0), 0u);
    EXPECT_NE(m.body.find("callgate_http_requests_total{listener=\"api\",code=\"201\"} 1"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("callgate_http_requests_total{listener=\"api\",code=\"404\"} 1"), std::string::npos);
    EXPECT_NE(m.body.find("callgate_store_write_duration_seconds_count 1"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("callgate_cache_entries"), std::string::npos);
}

TEST(lifecycle, tls_listener_serves_verified_https)
{
    temp_dir dir;
    auto pki = make_test_pki(dir.path());
    server_process server(dir.path() + "/data", {"--tls-cert", pki.server_cert, "--tls-key", pki.server_key},
                          {{"CALLGATE_ADMIN_KEY", "cg_lifecycle_admin_key_0001"}});
    ASSERT_TRUE(server.start()) << server.log();
    http_connection c(server.api_address(), pki.ca_cert, "localhost");
    auto r = c.request("GET", "/api-keys/self", {{"X-API-Key", "cg_lifecycle_admin_key_0001"}});
    EXPECT_EQ(r.status, 200) << r.body;
    // A client that trusts another CA refuses the certificate.
    temp_dir other;
    auto other_pki = make_test_pki(other.path());
    http_connection wrong(server.api_address(), other_pki.ca_cert, "localhost");
    EXPECT_EQ(wrong.request("GET", "/healthz").status, 0);
    // Plain HTTP on the TLS port gets nowhere.
    http_connection plain(server.api_address());
    EXPECT_EQ(plain.request("GET", "/healthz", {}, {}, std::chrono::seconds(3)).status, 0);
    EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(lifecycle, bad_tls_files_are_a_clear_error)
{
    temp_dir dir;
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", dir.path() + "/data", "--api-listen", "127.0.0.1:0",
                                           "--tls-cert", dir.path() + "/missing.pem", "--tls-key",
                                           dir.path() + "/missing.key"},
                                          out),
              2);
    EXPECT_NE(out.find("--tls-cert " + dir.path() + "/missing.pem: cannot load"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data")) << "checked before anything is written";
}

} // namespace
} // namespace callgate::testing

namespace callgate::testing {
namespace {

TEST(lifecycle, cache_memory_is_bounded_by_cache_entries)
{
    temp_dir dir;
    const std::string key = "cg_lifecycle_admin_key_0001";
    server_process server(dir.path() + "/data", {"--cache-entries", "40"}, {{"CALLGATE_ADMIN_KEY", key}});
    ASSERT_TRUE(server.start()) << server.log();
    http_connection c(server.api_address());
    header_list h{{"X-API-Key", key}, {"Content-Type", "application/json"}};
    for (int i = 0; i < 400; ++i) {
        auto r = c.request("POST", "/identities", h,
                           "{\"agent_handle\":\"id-" + std::to_string(i) + "\",\"phone_number\":\"+1555" +
                               std::to_string(1000000 + i) + "\"}");
        ASSERT_EQ(r.status, 201) << r.body;
        auto id = parse_json(r.body).find("id")->text;
        ASSERT_EQ(c.request("GET", "/incoming-call-action?agent_identity_id=" + id, h).status, 404);
    }
    auto metrics = c.request("GET", "/metrics").body;
    auto at = metrics.find("\ncallgate_cache_entries ");
    ASSERT_NE(at, std::string::npos) << metrics;
    auto entries = std::stoul(metrics.substr(at + 24));
    EXPECT_GT(entries, 0u);
    EXPECT_LE(entries, 2u * 64u) << "two caches (identity, number) of about 40 entries each";
}

} // namespace
} // namespace callgate::testing

namespace callgate::testing {
namespace {

// listen.json is the readiness signal: a SIGTERM sent the moment it appears
// must already find the handler (it used to be installed just after, and a
// slow start, e.g. under TSan, was killed by the signal's default action).
TEST(lifecycle, sigterm_as_soon_as_listen_json_appears_is_a_graceful_stop)
{
    for (int i = 0; i < 5; ++i) {
        temp_dir dir;
        server_process server(dir.path() + "/data", {}, {{"CALLGATE_ADMIN_KEY", "cg_lifecycle_admin_key_sigterm_early"}});
        ASSERT_TRUE(server.start()) << server.log();
        ASSERT_EQ(server.stop(SIGTERM), 0) << "start " << i << ":\n" << server.log();
    }
}

TEST(lifecycle, json_logs_are_one_object_a_line_without_secrets)
{
    temp_dir dir;
    const std::string key = "cg_lifecycle_admin_key_json_logs";
    server_process server(dir.path() + "/data", {"--log-format", "json"}, {{"CALLGATE_ADMIN_KEY", key}});
    ASSERT_TRUE(server.start()) << server.log();
    EXPECT_EQ(server.stop(SIGTERM), 0);
    auto log = server.log();
    std::size_t lines = 0, start = 0;
    while (start < log.size()) {
        auto end = log.find('\n', start);
        std::string line = log.substr(start, end - start);
        start = end == std::string::npos ? log.size() : end + 1;
        if (line.empty())
            continue;
        ++lines;
        engine::json_object doc;
        ASSERT_EQ(doc.parse(line), engine::json_parse_error::ok) << line;
        EXPECT_NE(doc.find("event"), nullptr) << line;
        EXPECT_NE(doc.find("time"), nullptr) << line;
        EXPECT_NE(doc.find("level"), nullptr) << line;
    }
    EXPECT_GE(lines, 3u); // admin key registered, ready, draining, stopped
    EXPECT_EQ(log.find(key), std::string::npos);
    EXPECT_EQ(log.find(server.edge_token()), std::string::npos);
}

} // namespace
} // namespace callgate::testing
