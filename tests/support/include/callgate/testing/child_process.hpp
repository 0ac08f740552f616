#pragma once

#include <string>
#include <vector>

namespace callgate::testing {

// Starts `argv[0]` (a path) with `argv` and the environment `env` ("NAME=value"
// strings), stdin from /dev/null and stdout and stderr appended to `log_path`.
// Returns the pid, or -1. The caller reaps it (waitpid).
int spawn_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::string& log_path);

// The exit code of a waitpid status: the code, or 128 + the signal.
int exit_code_of(int status);

} // namespace callgate::testing
