#pragma once

#include "callgate/engine/store.hpp"
#include "callgate/net/etcd_client.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::cluster {

struct replicated_store_options {
    net::etcd_client_options etcd;
    std::string prefix = "/callgate/";
    std::string node_name;
    std::size_t writer_threads = 8; // config writes in flight to etcd at once
    // A write's budget in etcd (reads, the transaction, retries after a
    // conflicting write): past it the write answers `unavailable`.
    std::chrono::milliseconds write_timeout{2000};
    // After etcd committed a write, how long its caller waits for this node's
    // copy to apply it before the write answers `unavailable`.
    std::chrono::milliseconds apply_timeout{2500};
    // Called after a change made elsewhere (another node, or another write
    // of this node) was written to the local copy, for each local key it
    // changed; and after a full reload replaced the copy. From the applier
    // thread; they must not block.
    std::function<void(engine::column, std::string_view key)> on_applied;
    std::function<void()> on_reloaded;
    // Seconds from a value's commit (its writer's clock) to its local apply.
    std::function<void(double seconds)> on_apply_lag;
};

// Where the local copy stands, for /readyz, /metrics and the node registry.
struct replication_status {
    bool ready = false;      // the copy may serve decisions and reads (see below)
    bool caught_up = false;  // caught up with etcd at least once since start
    bool has_copy = false;   // a local copy existed, or was loaded
    bool etcd_up = false;    // etcd answered within the last few seconds
    bool importing = false;  // `callgate cluster import` holds the prefix
    std::int64_t applied_revision = 0;
    std::int64_t etcd_revision = 0; // the newest revision seen from etcd
};

// A live node as the registry (`<prefix>nodes/<name>`, kept by a lease) shows it.
struct node_entry {
    std::string name;
    std::string api_url;
    std::int64_t applied_revision = 0; // as of the node's last refresh
    std::int64_t etcd_revision = 0;
    std::string last_seen; // RFC 3339 UTC time of that refresh
};

// The config store of a cluster node: etcd is the source of truth, the local
// RocksDB store (`local`) its copy on this node.
//
// Reads (get, scan) are served from the local copy and never wait on etcd.
// A config write (submit) runs its `prepare` on a writer thread against
// etcd's state — every key it reads is read from etcd and compared again in
// one etcd transaction that carries all its writes — then waits until this
// node's watch has applied the transaction's revision to the local copy
// before `complete` runs: read-your-writes. Call records (submit_unsynced)
// stay local.
//
// One watch from the copy's revision feeds the copy: each batch is written
// to the local store with the revision it reaches, in one write. Started on
// an empty copy (or after etcd compacted past its revision) it loads the
// whole prefix at one revision in pages and replaces the copy at once.
class replicated_store : public engine::store {
public:
    // Starts the writer, applier and keeper threads. Throws what
    // net::etcd_client throws for bad options (start-up errors).
    static std::unique_ptr<replicated_store> start(std::unique_ptr<engine::store> local,
                                                   replicated_store_options options);

    // Ready: caught up with etcd once since start, or a local copy exists and
    // etcd cannot be reached (degraded); never while an import runs.
    virtual replication_status status() const = 0;

    // The node registry: from the first call on, this node keeps
    // `<prefix>nodes/<node-name>` (its API URL and revisions) alive with a
    // lease of 10 s, rewritten every 3 s; revoked on close().
    virtual void advertise(std::string api_url) = 0;
    // The live nodes (this one included) as read from etcd at most ~1 s ago;
    // what was last read while etcd is unreachable.
    virtual std::vector<node_entry> nodes() const = 0;
    virtual const std::string& node_name() const = 0;
};

} // namespace callgate::cluster
