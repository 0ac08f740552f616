#pragma once

#include "callgate/engine/records.hpp"
#include "callgate/net/etcd_client.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace callgate::engine {
class store;
}

namespace callgate::cluster {

// Command-line tools that talk to etcd directly, without a running node.

// Registers an admin key's record under `<prefix>config/admin/` (unless a key
// with that hash is there already). Every node accepts it from its next
// request. False with one line in `error` when etcd refused or was unreachable.
bool register_admin_key(const net::etcd_client_options& etcd, const std::string& prefix,
                        const engine::api_key_record& record, std::string& error);

// Every admin key record under `<prefix>config/admin/` (hashes only).
bool list_admin_keys(const net::etcd_client_options& etcd, const std::string& prefix,
                     std::vector<engine::api_key_record>& out, std::string& error);

enum class revoke_result { revoked, not_found, last_key, failed };
// Deletes the admin key record with this hash, in one transaction that also
// checks the key is still there and — unless `allow_last` — that another
// admin key still is (so two revokes at once cannot remove the last two).
// Every node stops accepting the key once it applies the delete.
revoke_result revoke_admin_key(const net::etcd_client_options& etcd, const std::string& prefix,
                               const std::string& hash, bool allow_last, std::string& error);

struct import_report {
    std::size_t records = 0;       // etcd keys written
    std::size_t transactions = 0;
    std::int64_t revision = 0;     // etcd's revision once the import was complete
    bool refused = false;          // the prefix was not empty: nothing was written
};

// Copies a stopped single-node store (every replicated record) and its admin
// keys into an empty `<prefix>config/`, in transactions of at most
// `batch` operations: the first checks that the prefix is empty and sets the
// import marker (nodes stay not ready while it is there), the last removes
// it. `progress(done, total)` after each transaction. False with `error` (and
// report.refused when the prefix held anything).
bool import_store(engine::store& local, const std::vector<engine::api_key_record>& admin_keys,
                  const net::etcd_client_options& etcd, const std::string& prefix,
                  const std::function<void(std::size_t done, std::size_t total)>& progress, import_report& report,
                  std::string& error, std::size_t batch = 100);

} // namespace callgate::cluster
