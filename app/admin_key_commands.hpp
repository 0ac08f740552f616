#pragma once

#include "serve_options.hpp"

#include <string>

namespace callgate::app {

// `callgate admin-key list`: one line per admin key — its id, when it was
// made, and "cg_…" with the key's last four characters; never the key (only
// its hash is stored). From <data-dir>/admin_keys, or etcd in cluster mode.
int list_admin_keys(const serve_options& options);

// `callgate admin-key revoke ID-OR-PREFIX`: removes the admin key whose id is
// `id_or_prefix` or starts with it (at least 4 characters, one key only).
// Refuses the last admin key unless `force`: with none left nobody can use
// the admin API until one is made (`admin-key create`, or a restart, which
// generates one). A running server stops accepting the key within a second
// (single node) or once it applies the change (cluster). Exit code: 0
// revoked, 1 refused or not found, 2 usage.
int revoke_admin_key(const serve_options& options, const std::string& id_or_prefix, bool force);

} // namespace callgate::app
