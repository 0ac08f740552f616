#pragma once

#include <map>
#include <string>
#include <vector>

namespace callgate::testing {

// The real `callgate` binary, run as a child process for integration tests.
// It listens on port 0 in its own data directory; start() waits (with a
// deadline) for listen.json to appear and reads the bound addresses from it.
// Unless `env` says otherwise, CALLGATE_SHUTDOWN_DELAY is 0: stop() does not
// wait out the production drain delay.
class server_process {
public:
    server_process(std::string data_dir, std::vector<std::string> extra_args = {},
                   std::map<std::string, std::string> env = {});
    ~server_process(); // kill -9 if still running

    // Starts and waits until ready. Returns false (with the log) if it exits or times out.
    bool start();
    // Sends a signal and waits for the exit; returns the exit status (or 128+signal).
    int stop(int signal, int timeout_ms = 15000);
    // Sends a signal and returns at once.
    void send_signal(int signal) const;
    // Waits for the exit; returns the exit status (or 128+signal), or -1 after
    // killing it at the deadline.
    int wait_exit(int timeout_ms = 15000);
    // kill -9 without waiting for anything.
    void kill_hard();
    bool running() const { return pid_ > 0; }
    int pid() const { return pid_; } // -1 when not running

    const std::string& api_address() const { return api_; }
    const std::string& edge_address() const { return edge_; }
    const std::string& data_dir() const { return data_dir_; }
    std::string admin_key() const; // contents of admin.key, or the CALLGATE_ADMIN_KEY given
    std::string edge_token() const; // the first line of <data-dir>/edge.token
    std::string log() const;        // what the process wrote to stderr and stdout so far

    // Runs the binary to completion with these arguments; returns exit code, output in `out`.
    static int run_command(const std::vector<std::string>& args, std::string& out,
                           const std::map<std::string, std::string>& env = {});
    static std::string binary();

private:
    std::string data_dir_;
    std::vector<std::string> args_;
    std::map<std::string, std::string> env_;
    std::string log_path_;
    int pid_ = -1;
    std::string api_, edge_;
};

} // namespace callgate::testing
