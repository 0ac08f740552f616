#pragma once

#include "callgate/engine/records.hpp"
#include "callgate/net/etcd_client.hpp"

#include <string>

namespace callgate::cluster {

// Command-line tools that talk to etcd directly, without a running node.

// Registers an admin key's record under `<prefix>config/admin/` (unless a key
// with that hash is there already). Every node accepts it from its next
// request. False with one line in `error` when etcd refused or was unreachable.
bool register_admin_key(const net::etcd_client_options& etcd, const std::string& prefix,
                        const engine::api_key_record& record, std::string& error);

} // namespace callgate::cluster
