// A full or read-only disk is an operating condition, not a crash: on a real
// small file system made by the test (tmpfs, or ext4 on a loop device), config
// writes are refused with 507/503 and change nothing, decisions go on from
// memory and the store's reads, call records are dropped and counted,
// /readyz says "degraded", and when space returns the node takes writes again
// without a restart. A restart on a full disk starts in the same degraded mode.
#include "api_support.hpp"
#include "callgate/testing/eventually.hpp"

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace callgate::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* admin_key = "cg_test_admin_key_0123456789abcdef";

// A small file system mounted on a temp dir for one test, unmounted after it.
class scratch_filesystem {
public:
    // kind "tmpfs": a tmpfs of `megabytes`; kind "ext4": an ext4 image on a
    // loop device, mounted with errors=remount-ro.
    scratch_filesystem(const std::string& kind, int megabytes)
    {
        mount_point_ = dir_.path() + "/mnt";
        fs::create_directories(mount_point_);
        if (kind == "tmpfs") {
            std::string size = "size=" + std::to_string(megabytes) + "m";
            mounted_ = ::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, size.c_str()) == 0;
        } else {
            std::string image = dir_.path() + "/disk.img";
            std::string cmd = "truncate -s " + std::to_string(megabytes) + "M " + image +
                              " && mkfs.ext4 -q -m 0 " + image + " && mount -o loop,errors=remount-ro " + image +
                              " " + mount_point_ + " 2>/dev/null";
            mounted_ = std::system(cmd.c_str()) == 0;
        }
    }
    ~scratch_filesystem()
    {
        if (mounted_)
            ::umount2(mount_point_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }
    const std::string& path() const { return mount_point_; }

    // Free bytes for an unprivileged writer.
    std::uint64_t free_bytes() const
    {
        struct statvfs st {};
        ::statvfs(mount_point_.c_str(), &st);
        return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    }

    // Writes a filler file until at most `leave` bytes are free.
    void fill(std::uint64_t leave = 0)
    {
        int fd = ::open((mount_point_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ASSERT_GE(fd, 0);
        std::string chunk(1 << 20, 'f');
        for (;;) {
            auto free = free_bytes();
            if (free <= leave)
                break;
            auto n = std::min<std::uint64_t>(chunk.size(), free - leave);
            if (::write(fd, chunk.data(), n) <= 0)
                break;
        }
        ::fsync(fd);
        ::close(fd);
    }
    void unfill() { ::unlink((mount_point_ + "/filler").c_str()); }

private:
    temp_dir dir_;
    std::string mount_point_;
    bool mounted_ = false;
};

// A node on the scratch file system with a known admin key.
class disk_faults : public ::testing::Test {
protected:
    void start_node(const std::string& data_dir, const std::string& min_free = "8MiB")
    {
        server_ = std::make_unique<server_process>(
            data_dir, std::vector<std::string>{"--min-free-disk", min_free, "--store-memory", "16MiB"},
            std::map<std::string, std::string>{{"CALLGATE_ADMIN_KEY", admin_key}});
        ASSERT_TRUE(server_->start()) << server_->log();
        api_ = std::make_unique<http_connection>(server_->api_address());
        edge_ = std::make_unique<http_connection>(server_->edge_address());
    }
    void TearDown() override
    {
        api_.reset();
        edge_.reset();
        if (server_ && server_->running())
            EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
    }

    http_reply api(const std::string& method, const std::string& target, const std::string& body = {})
    {
        header_list headers{{"X-API-Key", admin_key}};
        if (!body.empty())
            headers.emplace_back("Content-Type", "application/json");
        return api_->request(method, target, headers, body);
    }
    std::string create_identity(const std::string& handle, const std::string& phone)
    {
        auto r = api("POST", "/identities",
                     "{\"agent_handle\":\"" + handle + "\",\"phone_number\":\"" + phone + "\"}");
        EXPECT_EQ(r.status, 201) << r.body;
        return parse_json(r.body).find("id")->text;
    }
    http_reply put_action(const std::string& id, const std::string& url)
    {
        return api("PUT", "/incoming-call-action",
                   "{\"agent_identity_id\":\"" + id +
                       "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" + url + "\"}");
    }
    // The decision for a call to `number`: "answer <url>" or "reject <reason>".
    std::string decide(const std::string& number)
    {
        auto r = edge_->request("POST", "/v1/calls/decide",
                                {{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}},
                                "{\"local_phone_number\":\"" + number + "\",\"remote_phone_number\":\"+15550199\"}");
        if (r.status != 200)
            return "status " + std::to_string(r.status) + " " + r.body;
        auto d = parse_json(r.body);
        auto* reason = d.find("reason");
        auto* url = d.find("client_websocket_url");
        return d.find("action")->text + " " + (reason ? reason->text : url ? url->text : "");
    }
    std::string metric(const std::string& sample)
    {
        auto r = api_->request("GET", "/metrics");
        auto at = r.body.find("\n" + sample + " ");
        if (at == std::string::npos)
            return "";
        auto start = at + sample.size() + 2;
        return r.body.substr(start, r.body.find('\n', start) - start);
    }

    std::unique_ptr<server_process> server_;
    std::unique_ptr<http_connection> api_;
    std::unique_ptr<http_connection> edge_;
};

TEST_F(disk_faults, full_disk_refuses_writes_keeps_deciding_and_recovers_without_restart)
{
    scratch_filesystem disk("tmpfs", 96);
    if (!disk.mounted())
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
    start_node(disk.path() + "/data");
    auto id = create_identity("full-bot", "+15550100");
    ASSERT_EQ(put_action(id, "wss://agent.example.com/before").status, 200);
    EXPECT_EQ(decide("+15550100"), "answer wss://agent.example.com/before");

    disk.fill();
    auto refused = put_action(id, "wss://agent.example.com/during");
    EXPECT_ERROR(refused, 507, "Insufficient storage");
    EXPECT_ERROR(api("POST", "/identities", "{\"agent_handle\":\"new-bot\"}"), 507, "Insufficient storage");
    EXPECT_ERROR(api("POST", "/identities/full-bot/signing-key"), 507, "Insufficient storage");

    // Nothing changed, reads and decisions go on, the node says it is degraded.
    auto read = api("GET", "/incoming-call-action?agent_identity_id=" + id);
    EXPECT_EQ(read.status, 200);
    EXPECT_NE(read.body.find("/before"), std::string::npos) << read.body;
    EXPECT_EQ(api("GET", "/identities/new-bot").status, 404);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(decide("+15550100"), "answer wss://agent.example.com/before");
    auto ready = api_->request("GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.body, "{\"status\":\"degraded\",\"store\":\"full\"}");
    EXPECT_EQ(edge_->request("GET", "/readyz").body, ready.body);
    EXPECT_EQ(metric("callgate_store_health{state=\"full\"}"), "1");
    EXPECT_TRUE(eventually([&] {
        auto dropped = metric("callgate_call_records_dropped_total");
        return !dropped.empty() && std::stoll(dropped) > 0;
    })) << "call records on a full disk are dropped and counted";

    // Space returns: writes are taken again, without a restart.
    disk.unfill();
    EXPECT_TRUE(eventually([&] { return put_action(id, "wss://agent.example.com/after").status == 200; }))
        << server_->log();
    EXPECT_EQ(decide("+15550100"), "answer wss://agent.example.com/after");
    EXPECT_EQ(api_->request("GET", "/readyz").body, "{\"status\":\"ready\"}");
    EXPECT_EQ(metric("callgate_store_health{state=\"ok\"}"), "1");

    // And what was acknowledged survives a restart.
    ASSERT_EQ(server_->stop(SIGTERM), 0) << server_->log();
    start_node(disk.path() + "/data");
    EXPECT_EQ(decide("+15550100"), "answer wss://agent.example.com/after");
}

// Without the free-space reserve RocksDB itself meets ENOSPC (the finding:
// Debian's RocksDB aborted on its next write). The write is refused with 507,
// the store instance stops taking writes, and is reopened once space returns.
TEST_F(disk_faults, enospc_inside_rocksdb_is_refused_and_the_store_reopens)
{
    scratch_filesystem disk("tmpfs", 96);
    if (!disk.mounted())
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
    start_node(disk.path() + "/data", "0");
    auto id = create_identity("enospc-bot", "+15550103");
    ASSERT_EQ(put_action(id, "wss://agent.example.com/before").status, 200);

    disk.fill();
    // Large enough not to fit in what the WAL preallocated.
    std::string long_url = "wss://agent.example.com/" + std::string(2000, 'x');
    int refused = 0;
    for (int i = 0; i < 20000 && refused == 0; ++i) {
        auto r = put_action(id, long_url + std::to_string(i));
        if (r.status == 200)
            continue;
        EXPECT_ERROR(r, 507, "Insufficient storage");
        ++refused;
    }
    ASSERT_EQ(refused, 1) << "the disk never filled";
    EXPECT_ERROR(put_action(id, "wss://agent.example.com/during"), 507, "Insufficient storage");
    EXPECT_NE(decide("+15550103").find("answer wss://agent.example.com/"), std::string::npos);
    EXPECT_EQ(api_->request("GET", "/readyz").body, "{\"status\":\"degraded\",\"store\":\"full\"}");

    disk.unfill();
    EXPECT_TRUE(eventually([&] { return put_action(id, "wss://agent.example.com/after").status == 200; }))
        << server_->log();
    EXPECT_EQ(decide("+15550103"), "answer wss://agent.example.com/after");
    ASSERT_EQ(server_->stop(SIGTERM), 0) << server_->log();
    start_node(disk.path() + "/data", "0");
    EXPECT_EQ(decide("+15550103"), "answer wss://agent.example.com/after");
}

TEST_F(disk_faults, restart_on_a_full_disk_starts_degraded_and_recovers)
{
    scratch_filesystem disk("tmpfs", 96);
    if (!disk.mounted())
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
    start_node(disk.path() + "/data");
    auto id = create_identity("restart-bot", "+15550101");
    ASSERT_EQ(put_action(id, "wss://agent.example.com/kept").status, 200);
    ASSERT_EQ(server_->stop(SIGTERM), 0) << server_->log();

    // Full but for a few KiB (so that listen.json, which tells the test the ports, fits).
    disk.fill(64 * 1024);
    start_node(disk.path() + "/data");
    EXPECT_EQ(api_->request("GET", "/readyz").body, "{\"status\":\"degraded\",\"store\":\"full\"}");
    // A cold cache: the decision reads the store, opened read-only.
    EXPECT_EQ(decide("+15550101"), "answer wss://agent.example.com/kept");
    EXPECT_ERROR(put_action(id, "wss://agent.example.com/refused"), 507, "Insufficient storage");

    disk.unfill();
    EXPECT_TRUE(eventually([&] { return put_action(id, "wss://agent.example.com/new").status == 200; }))
        << server_->log();
    EXPECT_EQ(decide("+15550101"), "answer wss://agent.example.com/new");
    EXPECT_EQ(api_->request("GET", "/readyz").body, "{\"status\":\"ready\"}");
}

TEST_F(disk_faults, read_only_file_system_refuses_writes_with_503_and_keeps_deciding)
{
    scratch_filesystem disk("ext4", 64);
    if (!disk.mounted())
        GTEST_SKIP() << "cannot mount an ext4 loop device here (needs root and /dev/loop-control)";
    start_node(disk.path() + "/data");
    auto id = create_identity("ro-bot", "+15550102");
    ASSERT_EQ(put_action(id, "wss://agent.example.com/before").status, 200);

    // What an ext4 error does to a live file system: remount read-only under the process.
    std::string device = fs::path(fs::canonical([&] {
                                      std::ifstream mounts("/proc/mounts");
                                      std::string dev, at, rest;
                                      while (mounts >> dev >> at && std::getline(mounts, rest))
                                          if (at == disk.path())
                                              return dev;
                                      return std::string();
                                  }()))
                             .filename();
    ASSERT_FALSE(device.empty());
    std::ofstream("/sys/fs/ext4/" + device + "/trigger_fs_error") << "1";
    ASSERT_TRUE(eventually([&] { return ::access((disk.path() + "/data").c_str(), W_OK) != 0 ||
                                        ::open((disk.path() + "/probe").c_str(), O_CREAT | O_WRONLY, 0600) < 0; }));

    EXPECT_ERROR(put_action(id, "wss://agent.example.com/during"), 503, "Config store is read-only");
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(decide("+15550102"), "answer wss://agent.example.com/before");
    EXPECT_EQ(api_->request("GET", "/readyz").body, "{\"status\":\"degraded\",\"store\":\"read_only\"}");
    auto read = api("GET", "/identities/ro-bot");
    EXPECT_EQ(read.status, 200) << read.body;
    // A restart on it would need an fsck; stopping must still be clean.
    EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
}

} // namespace
} // namespace callgate::testing
