#include "callgate/testing/etcd_cluster.hpp"

#include "callgate/testing/child_process.hpp"
#include "callgate/testing/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace callgate::testing {
namespace {

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr const char* etcdctl_binary = "/usr/bin/etcdctl";
constexpr auto start_timeout = std::chrono::seconds(30);
constexpr auto poll_every = std::chrono::milliseconds(20);

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Ports that were free a moment ago: bound together (so they differ), then
// released for etcd, which cannot bind port 0 itself. Another process may
// take one in between; the caller retries with fresh ports when a member fails.
std::vector<unsigned short> free_ports(std::size_t n)
{
    std::vector<int> fds;
    std::vector<unsigned short> ports;
    for (std::size_t i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
            throw std::runtime_error("cannot find a free port");
        fds.push_back(fd);
        ports.push_back(ntohs(sa.sin_port));
    }
    for (int fd : fds)
        ::close(fd);
    return ports;
}

std::vector<std::string> environment()
{
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        if (entry.rfind("ETCD", 0) != 0) // ETCD_* and ETCDCTL_* would change the members' flags
            env.push_back(entry);
    }
    return env;
}

// The value of "key":"value" in JSON; crude, enough for etcd's flat replies.
std::string string_field(const std::string& json, const std::string& key)
{
    auto at = json.find("\"" + key + "\":\"");
    if (at == std::string::npos)
        return {};
    auto open = at + key.size() + 4;
    auto close = json.find('"', open);
    return close == std::string::npos ? std::string() : json.substr(open, close - open);
}

} // namespace

etcd_cluster::etcd_cluster(etcd_cluster_options options) : options_(std::move(options))
{
    std::random_device random;
    cluster_token_ = "callgate-test-" + std::to_string(random());
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (start_all())
            return;
        for (std::size_t i = 0; i < members_.size(); ++i)
            kill(i);
    }
    std::string logs;
    for (std::size_t i = 0; i < members_.size(); ++i)
        logs += "--- " + members_[i].name + " ---\n" + log(i);
    throw std::runtime_error("etcd members did not become healthy:\n" + logs);
}

etcd_cluster::~etcd_cluster()
{
    for (std::size_t i = 0; i < members_.size(); ++i)
        kill(i);
}

bool etcd_cluster::start_all()
{
    auto n = static_cast<std::size_t>(options_.members);
    auto ports = free_ports(2 * n);
    std::string scheme = options_.tls ? "https" : "http";
    members_.clear();
    std::string initial_cluster;
    static int generation = 0;
    ++generation;
    for (std::size_t i = 0; i < n; ++i) {
        member m;
        m.name = std::string("m").append(std::to_string(i)); // not "m" + ...: a GCC 12 -Wrestrict false positive
        m.data_dir = dir_.path() + "/" + m.name + "-" + std::to_string(generation);
        m.log_path = m.data_dir + ".log";
        m.client_port = ports[2 * i];
        m.client_url = scheme + "://127.0.0.1:" + std::to_string(ports[2 * i]);
        m.peer_url = "http://127.0.0.1:" + std::to_string(ports[2 * i + 1]);
        if (!initial_cluster.empty())
            initial_cluster += ",";
        initial_cluster += m.name + "=" + m.peer_url;
        members_.push_back(m);
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!start(i, initial_cluster, "new"))
            return false;
    auto deadline = std::chrono::steady_clock::now() + start_timeout;
    for (std::size_t i = 0; i < n; ++i) {
        while (!healthy(i)) {
            int status = 0;
            if (::waitpid(members_[i].pid, &status, WNOHANG) == members_[i].pid) {
                members_[i].pid = -1; // exited: a port was taken, most likely
                return false;
            }
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(poll_every);
        }
    }
    return true;
}

bool etcd_cluster::start(std::size_t i, const std::string& initial_cluster, const std::string& state)
{
    auto& m = members_[i];
    std::vector<std::string> args{etcd_binary,
                                  "--name=" + m.name,
                                  "--data-dir=" + m.data_dir,
                                  "--listen-client-urls=" + m.client_url,
                                  "--advertise-client-urls=" + m.client_url,
                                  "--listen-peer-urls=" + m.peer_url,
                                  "--initial-advertise-peer-urls=" + m.peer_url,
                                  "--initial-cluster=" + initial_cluster,
                                  "--initial-cluster-state=" + state,
                                  "--initial-cluster-token=" + cluster_token_,
                                  // Short elections so failover tests take ~1 s, not ~5 s.
                                  "--heartbeat-interval=50",
                                  "--election-timeout=500"};
    if (options_.tls) {
        args.push_back("--cert-file=" + options_.tls->cert_file);
        args.push_back("--key-file=" + options_.tls->key_file);
        args.push_back("--trusted-ca-file=" + options_.tls->ca_file);
        if (options_.tls->client_cert_auth)
            args.push_back("--client-cert-auth");
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    m.pid = spawn_process(args, environment(), m.log_path);
    return m.pid > 0;
}

bool etcd_cluster::restart(std::size_t i) { return restart_members({i}); }

bool etcd_cluster::restart_all()
{
    std::vector<std::size_t> stopped;
    for (std::size_t i = 0; i < members_.size(); ++i)
        if (!running(i))
            stopped.push_back(i);
    return restart_members(stopped);
}

bool etcd_cluster::restart_members(const std::vector<std::size_t>& which)
{
    std::string initial_cluster;
    for (const auto& m : members_)
        initial_cluster += (initial_cluster.empty() ? "" : ",") + m.name + "=" + m.peer_url;
    // Start them all before waiting: a member alone is not healthy until a
    // quorum is back.
    for (auto i : which)
        if (!running(i) && !start(i, initial_cluster, "existing"))
            return false;
    auto deadline = std::chrono::steady_clock::now() + start_timeout;
    for (auto i : which)
        while (!healthy(i)) {
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(poll_every);
        }
    return true;
}

void etcd_cluster::kill(std::size_t i)
{
    auto& m = members_[i];
    if (m.pid <= 0)
        return;
    ::kill(m.pid, SIGKILL);
    int status = 0;
    ::waitpid(m.pid, &status, 0);
    m.pid = -1;
}

void etcd_cluster::pause(std::size_t i)
{
    if (running(i))
        ::kill(members_[i].pid, SIGSTOP);
}

void etcd_cluster::resume(std::size_t i)
{
    if (running(i))
        ::kill(members_[i].pid, SIGCONT);
}

std::vector<std::string> etcd_cluster::client_urls() const
{
    std::vector<std::string> urls;
    for (const auto& m : members_)
        urls.push_back(m.client_url);
    return urls;
}

std::string etcd_cluster::status_of(std::size_t i)
{
    const auto& tls = options_.tls;
    http_connection c("127.0.0.1:" + std::to_string(members_[i].client_port), tls ? tls->ca_file : std::string(),
                      "127.0.0.1", tls ? tls->client_cert_file : std::string(),
                      tls ? tls->client_key_file : std::string());
    auto reply = c.request("POST", "/v3/maintenance/status", {{"Content-Type", "application/json"}}, "{}",
                           std::chrono::milliseconds(1000));
    return reply.status == 200 ? reply.body : std::string();
}

bool etcd_cluster::healthy(std::size_t i)
{
    // A member serves the v3 API once it knows a leader.
    auto status = status_of(i);
    return !status.empty() && !string_field(status, "leader").empty() && string_field(status, "leader") != "0";
}

int etcd_cluster::leader(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::map<std::string, int> votes;
        std::map<std::string, std::size_t> member_by_id;
        int running_members = 0;
        for (std::size_t i = 0; i < members_.size(); ++i) {
            if (!running(i))
                continue;
            ++running_members;
            auto status = status_of(i);
            auto id = string_field(status, "member_id");
            auto leader = string_field(status, "leader");
            if (!id.empty())
                member_by_id[id] = i;
            if (!leader.empty() && leader != "0")
                ++votes[leader];
        }
        for (const auto& [id, count] : votes)
            if (count == running_members && member_by_id.count(id))
                return static_cast<int>(member_by_id[id]);
        if (std::chrono::steady_clock::now() >= deadline)
            return -1;
        std::this_thread::sleep_for(poll_every);
    }
}

int etcd_cluster::etcdctl(const std::vector<std::string>& args, std::string& out, const std::string& user) const
{
    std::string endpoints;
    for (std::size_t i = 0; i < members_.size(); ++i)
        if (running(i))
            endpoints += (endpoints.empty() ? "" : ",") + members_[i].client_url;
    std::vector<std::string> argv{etcdctl_binary, "--endpoints=" + endpoints, "--dial-timeout=3s",
                                  "--command-timeout=5s"};
    if (options_.tls) {
        argv.push_back("--cacert=" + options_.tls->ca_file);
        if (!options_.tls->client_cert_file.empty()) {
            argv.push_back("--cert=" + options_.tls->client_cert_file);
            argv.push_back("--key=" + options_.tls->client_key_file);
        }
    }
    if (!user.empty())
        argv.push_back("--user=" + user);
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = environment();
    env.push_back("ETCDCTL_API=3");
    std::string path = dir_.path() + "/etcdctl.out";
    ::unlink(path.c_str());
    int pid = spawn_process(argv, env, path);
    int status = 0;
    if (pid > 0)
        ::waitpid(pid, &status, 0);
    out = read_file(path);
    return pid > 0 ? exit_code_of(status) : -1;
}

std::string etcd_cluster::log(std::size_t i) const { return read_file(members_[i].log_path); }

} // namespace callgate::testing
