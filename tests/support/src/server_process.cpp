#include "callgate/testing/server_process.hpp"

#include "callgate/testing/child_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace callgate::testing {
namespace {

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string json_string_field(const std::string& json, const std::string& key)
{
    auto at = json.find("\"" + key + "\"");
    if (at == std::string::npos)
        return {};
    auto open = json.find('"', json.find(':', at) + 1);
    auto close = json.find('"', open + 1);
    if (open == std::string::npos || close == std::string::npos)
        return {};
    return json.substr(open + 1, close - open - 1);
}

// Spawns the binary with stdout+stderr to `log_path`; returns the pid or -1.
int spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
          const std::string& log_path)
{
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        auto name = entry.substr(0, entry.find('='));
        if (name.rfind("CALLGATE_", 0) == 0 || env.count(name))
            continue; // the test decides every CALLGATE_* variable
        env_strings.push_back(entry);
    }
    for (const auto& [k, v] : env)
        env_strings.push_back(k + "=" + v);
    std::vector<std::string> argv{server_process::binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return spawn_process(argv, env_strings, log_path);
}

} // namespace

std::string server_process::binary() { return CALLGATE_BINARY; }

server_process::server_process(std::string data_dir, std::vector<std::string> extra_args,
                               std::map<std::string, std::string> env)
    : data_dir_(std::move(data_dir)), args_(std::move(extra_args)), env_(std::move(env))
{
    log_path_ = data_dir_ + ".log";
    // No load balancer to wait for: stop without the production delay, unless the test asks.
    env_.try_emplace("CALLGATE_SHUTDOWN_DELAY", "0");
}

server_process::~server_process()
{
    if (pid_ > 0)
        kill_hard();
}

bool server_process::start()
{
    std::string listen_file = data_dir_ + "/listen.json";
    ::unlink(listen_file.c_str());
    std::vector<std::string> args{"serve", "--data-dir", data_dir_, "--api-listen", "127.0.0.1:0",
                                  "--edge-listen", "127.0.0.1:0"};
    args.insert(args.end(), args_.begin(), args_.end());
    pid_ = spawn(args, env_, log_path_);
    if (pid_ <= 0)
        return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        std::string content = read_file(listen_file);
        if (!content.empty() && content.back() == '\n') {
            api_ = json_string_field(content, "api");
            edge_ = json_string_field(content, "edge");
            return !api_.empty();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill_hard();
    return false;
}

int server_process::stop(int signal, int timeout_ms)
{
    if (pid_ <= 0)
        return -1;
    ::kill(pid_, signal);
    return wait_exit(timeout_ms);
}

void server_process::send_signal(int signal) const
{
    if (pid_ > 0)
        ::kill(pid_, signal);
}

int server_process::wait_exit(int timeout_ms)
{
    if (pid_ <= 0)
        return -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return exit_code_of(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill_hard();
    return -1;
}

void server_process::kill_hard()
{
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string server_process::admin_key() const
{
    if (auto it = env_.find("CALLGATE_ADMIN_KEY"); it != env_.end())
        return it->second;
    std::string key = read_file(data_dir_ + "/admin.key");
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
        key.pop_back();
    return key;
}

std::string server_process::edge_token() const
{
    std::string token = read_file(data_dir_ + "/edge.token");
    return token.substr(0, token.find('\n'));
}

std::string server_process::log() const { return read_file(log_path_); }

int server_process::run_command(const std::vector<std::string>& args, std::string& out,
                                const std::map<std::string, std::string>& env)
{
    char path[] = "/tmp/callgate-cmd-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    int pid = spawn(args, env, path);
    int status = 0;
    if (pid > 0)
        ::waitpid(pid, &status, 0);
    out = read_file(path);
    ::unlink(path);
    return pid > 0 ? exit_code_of(status) : -1;
}

} // namespace callgate::testing
