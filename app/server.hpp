#pragma once

#include "serve_options.hpp"

namespace callgate::app {

// Runs `callgate serve` until SIGTERM/SIGINT. Returns the process exit code:
// 0 after a clean drain, 1 for a runtime failure, 2 for an unusable data dir.
int run_server(const serve_options& options);

// `callgate admin-key create`: registers and prints a new admin key.
int create_admin_key(const std::string& data_dir);

} // namespace callgate::app
