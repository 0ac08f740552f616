// `callgate serve` against bad settings, as the real binary: every value is
// checked before anything is written, so a bad port, address, size,
// duration, path, file or pair of flags exits 2 with one line naming it, and
// the data dir is not even created. A config file (--config) sets what flags
// set, below the environment and the flags.
#include "callgate/testing/server_process.hpp"

#include "callgate/testing/http_client.hpp"
#include "callgate/testing/temp_dir.hpp"
#include "callgate/testing/tls_files.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace callgate::testing {
namespace {

namespace fs = std::filesystem;

// A loopback port held by a listening socket of this test.
class held_port {
public:
    held_port()
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && ::listen(fd_, 1) == 0 &&
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
            port_ = ntohs(a.sin_port);
    }
    ~held_port() { ::close(fd_); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int fd_ = -1;
    unsigned port_ = 0;
};

std::string write_file(const std::string& path, const std::string& text)
{
    std::ofstream(path) << text;
    return path;
}

TEST(serve_startup, bad_settings_exit_2_with_one_line_and_write_nothing)
{
    temp_dir dir;
    auto pki = make_test_pki(dir.path());
    auto data = dir.path() + "/data";
    held_port taken;
    auto empty_tokens = write_file(dir.path() + "/empty.tokens", "# no token\n\n");
    auto typo = write_file(dir.path() + "/typo.conf", "api-listen = 127.0.0.1:0\nedge-listn = 127.0.0.1:0\n");
    auto bad_size = write_file(dir.path() + "/size.conf", "\nstore-memory = 12 MiB\n");
    write_file(dir.path() + "/a-file", "x");
    struct row {
        std::vector<std::string> args;
        std::string expect;
        std::map<std::string, std::string> env = {};
    };
    const row table[] = {
        // ports and addresses
        {{"--api-listen", "127.0.0.1:99999"}, "invalid value '127.0.0.1:99999' for --api-listen"},
        {{"--edge-listen", "127.0.0.1"}, "for --edge-listen"},
        {{"--api-listen", "192.0.2.1:8080"}, "--api-listen 192.0.2.1:8080: cannot bind"}, // not this machine's
        {{"--edge-listen", taken.address()}, "--edge-listen " + taken.address() + ": cannot bind: Address already in use"},
        {{"--api-listen", "127.0.0.1:18931", "--edge-listen", "127.0.0.1:18931"}, "give them different ports"},
        // sizes and durations
        {{"--store-memory", "1MiB"}, "at least 8MiB"},
        {{"--min-free-disk", "lots"}, "for --min-free-disk"},
        {{"--call-retention", "0d"}, "for --call-retention"},
        {{"--shutdown-delay", "1h"}, "for --shutdown-delay"},
        {{"--webhook-timeout-ms", "50"}, "for --webhook-timeout-ms"},
        // paths and files
        {{"--tls-cert", dir.path() + "/missing.pem", "--tls-key", pki.server_key}, "--tls-cert " + dir.path() + "/missing.pem"},
        {{"--tls-cert", pki.server_cert, "--tls-key", pki.client_key}, "not a PEM private key matching --tls-cert"},
        {{"--ca-file", empty_tokens}, "--ca-file " + empty_tokens},
        {{"--edge-token-file", dir.path() + "/missing.tokens"}, "cannot read edge token file"},
        {{"--edge-token-file", empty_tokens}, "holds no token"},
        {{"--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-ca-file", dir.path() + "/missing.pem"}, "--etcd-ca-file"},
        {{"--data-dir", dir.path() + "/a-file/data"}, "is not a directory"},
        // conflicting flags, URLs, the config file, the environment
        {{"--tls-key", pki.server_key}, "--tls-cert and --tls-key go together"},
        {{"--etcd-endpoints", "http://127.0.0.1:2379/%zz"}, "for --etcd-endpoints"},
        {{"--config", typo}, typo + ":2: unknown key 'edge-listn'"},
        {{"--config", bad_size}, bad_size + ":2: invalid value '12 MiB' for store-memory"},
        {{"--config", dir.path() + "/missing.conf"}, "cannot read config file"},
        {{}, "CALLGATE_ADMIN_KEY must be at least 16 characters", {{"CALLGATE_ADMIN_KEY", "short"}}},
        {{}, "for CALLGATE_THREADS", {{"CALLGATE_THREADS", "0"}}},
    };
    for (const auto& r : table) {
        std::vector<std::string> args{"serve", "--data-dir", data, "--api-listen", "127.0.0.1:0", "--edge-listen",
                                      "127.0.0.1:0"};
        args.insert(args.end(), r.args.begin(), r.args.end());
        std::string out;
        int code = server_process::run_command(args, out, r.env);
        std::string shown = r.args.empty() ? r.env.begin()->first : r.args.front() + " " + r.args.back();
        EXPECT_EQ(code, 2) << shown << "\n" << out;
        EXPECT_NE(out.find(r.expect), std::string::npos) << shown << "\n" << out;
        EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << shown << "\n" << out;
        EXPECT_FALSE(fs::exists(data)) << shown << ": wrote " << data;
        EXPECT_FALSE(fs::exists(dir.path() + "/a-file/data"));
    }
}

TEST(serve_startup, an_existing_data_dir_is_left_as_it_was)
{
    temp_dir dir;
    auto data = dir.path() + "/data";
    fs::create_directory(data);
    std::string out;
    EXPECT_EQ(server_process::run_command({"serve", "--data-dir", data, "--api-listen", "192.0.2.1:0"}, out), 2) << out;
    EXPECT_TRUE(fs::is_empty(data)) << "no admin.key, edge.token or db/";
}

TEST(serve_startup, a_config_file_sets_what_flags_set_below_environment_and_flags)
{
    temp_dir dir;
    auto tokens = write_file(dir.path() + "/edge.tokens", "et_from_the_config_file_0001\n");
    auto config = write_file(dir.path() + "/callgate.conf",
                             "# what an administrator writes\n"
                             "log-format = \"json\"\n"
                             "edge-token-file = " + tokens + "\n"
                             "api-listen = 127.0.0.1:1\n" // the test's flag (port 0) wins
                             "shutdown-delay = 10m\n");  // CALLGATE_SHUTDOWN_DELAY=0 wins
    server_process server(dir.path() + "/data", {"--config", config});
    ASSERT_TRUE(server.start()) << server.log();
    EXPECT_EQ(http_request(server.edge_address(), "GET", "/healthz").status, 200);
    EXPECT_EQ(server.log().rfind("{", 0), 0u) << "log-format json: " << server.log();
    EXPECT_FALSE(fs::exists(dir.path() + "/data/edge.token")) << "edge-token-file from the file";
    EXPECT_EQ(server.stop(SIGTERM), 0); // within the 15 s: the 10 m delay was overridden
}

} // namespace
} // namespace callgate::testing
