#pragma once

#include "serve_options.hpp"

#include <map>
#include <string>

namespace callgate::app {

// What `callgate serve` checks on this machine after parsing its settings
// and before it writes anything (the data dir, the store, admin.key,
// edge.token): that the data dir is a writable directory or can be created;
// that every file named (TLS, CA, etcd, edge tokens, and an existing
// <data-dir>/edge.token) can be read and holds what it should (certificates
// and keys that load and match, at least one token); that both listen
// addresses resolve and can be bound at once (probed, then released); and
// that CALLGATE_ADMIN_KEY, if set, is long enough. False with one line in
// `error` for the first problem. Blocks (DNS, file reads): call at start-up.
bool check_serve_environment(const serve_options& options, const std::map<std::string, std::string>& env,
                             std::string& error);

} // namespace callgate::app
