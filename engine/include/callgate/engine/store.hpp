#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::engine {

// The record kinds, one RocksDB column family each.
enum class column : int {
    identities,           // identity id (16 bytes) → identity_record
    handles,              // agent_handle → identity id
    phones,               // E.164 → identity id
    actions,              // identity id → incoming_call_action
    signing_keys,         // identity id → signing_key_record
    api_keys,             // SHA-256(key) → api_key_record
    api_key_ids,          // key id → SHA-256(key)
    api_keys_by_identity, // identity id + key id → ""
    calls,                // record key → call record. The record key is a version 7 id minted
                          // for the record's created time, so this column is in time order;
                          // it is the call id itself when callgate minted that (call_records.hpp)
    calls_by_identity,    // identity id + reversed time + record key of a group's newest record →
                          // the group's other records, 24 bytes each ("" for a group of one)
    meta,                 // counters
    calls_by_time,        // created time + call id → "": a data dir's layout before call_keys,
                          // emptied when call_log first opens it
    admin_keys,           // SHA-256(key) → api_key_record of an admin key (cluster mode; one
                          // node keeps its admin keys in <data-dir>/admin_keys instead)
    contact_rules,        // identity id + rule id → contact_rule
    contact_rule_index,   // identity id + 'e'|'p' + target → rule id (uniqueness);
                          // identity id + '#' → the identity's rule count
    settings,             // deployment-wide settings: "organization_id" → its UUID text
    decision_records,     // identity id → the identity, action and signing key values together
                          // (identity_parts): kept by the RocksDB store itself from the three
                          // columns in the same WriteBatch, so a cache miss is one lookup.
                          // Never written by callers, never replicated.
    call_keys,            // call id → record key, for a call whose id is not its record key
                          // (an id the edge supplied)
    count_
};

enum class read_result { found, not_found, error };

// Whether the store takes writes. Reads work in every state but `failed`
// only while a reopen is under way.
enum class store_health {
    ok,        // writable
    full,      // free disk space is under the reserve: writes refused, reads served
    read_only, // the file system is read-only: writes refused, reads served
    failed,    // a write failed for another reason; reopened when the disk allows
    // Cluster mode: the shared config store (etcd) cannot be reached or has no
    // quorum, or a write's outcome is unknown. Local reads go on.
    unavailable,
};

std::string_view to_string(store_health h);

// The result of a store operation: ok, or a message from RocksDB and, for a
// refused or failed write, the store's health that explains it.
struct [[nodiscard]] store_status {
    bool ok = true;
    std::string message;
    store_health fault = store_health::ok;
    static store_status failure(std::string m, store_health fault = store_health::failed)
    {
        return {false, std::move(m), fault};
    }
};

// What a decision needs of one identity, as the columns store it: the
// identity record's value, and its action's and signing key's when it has them.
struct identity_parts {
    std::string identity;
    std::optional<std::string> action;
    std::optional<std::string> signing_key;
};

// The meta key whose presence says column::decision_records is complete: a
// data dir written before the column existed gets it built at open.
inline constexpr std::string_view decision_records_marker = "decision_records.version";

// Reads and writes inside one group commit. Reads see the writes made so far
// in the same group (earlier requests and this one). Only the commit thread
// uses it.
class write_txn {
public:
    virtual ~write_txn() = default;
    virtual read_result get(column c, std::string_view key, std::string& value) = 0;
    virtual void put(column c, std::string_view key, std::string_view value) = 0;
    virtual void del(column c, std::string_view key) = 0;
    // Visits keys starting with `prefix`, as the group's writes have left them.
    virtual read_result scan(column c, std::string_view prefix,
                             const std::function<bool(std::string_view, std::string_view)>& visit) = 0;
    // Deletes every key starting with `prefix` (an identity's rules: up to
    // 100,000). A replicated store makes it one range delete.
    virtual read_result del_prefix(column c, std::string_view prefix)
    {
        std::vector<std::string> keys;
        auto r = scan(c, prefix, [&](std::string_view key, std::string_view) {
            keys.emplace_back(key);
            return true;
        });
        if (r == read_result::error)
            return r;
        for (const auto& key : keys)
            del(c, key);
        return read_result::found;
    }
};

// One durable write. `prepare` runs on the commit thread: it checks what it
// must through the txn and stages writes; returning false discards what it
// staged (e.g. a 404 or 409). `complete` runs on the commit thread after the
// group's WAL sync, with the sync's status; it must not block.
//
// A replicated store (cluster mode) runs `prepare` on one of its writer
// threads against the shared store's state and may run it again from a fresh
// read when another node changed what it read: `prepare` must set its
// results, never accumulate them. Its `complete` runs once the write is
// committed there and applied to the local copy.
struct write_request {
    std::function<bool(write_txn&)> prepare;
    std::function<void(const store_status&)> complete;
    // False when `prepare` only writes. On the unsynced lane such requests
    // share a plain WriteBatch with no read index; a request that reads first
    // commits what is staged, then reads the store.
    bool reads = true;
};

struct store_options {
    // RocksDB's memory: one block cache with a strict capacity that also
    // carries the memtables (at most half of it, through a write buffer manager).
    std::size_t memory_bytes = 256u << 20;
    std::size_t max_group = 512; // requests merged into one synced WriteBatch at most
    // Writes are refused (store_health::full) while the data dir's file system
    // has less free space than this, so RocksDB itself never meets ENOSPC.
    std::uint64_t min_free_disk_bytes = 64u << 20;
    // Called with each group's write-and-sync latency, on the commit thread.
    std::function<void(double seconds, std::size_t requests)> on_group_commit;
    // RocksDB's own messages (warnings and errors) and the store's state
    // changes, as one line each. Called from any thread.
    std::function<void(bool error, std::string_view message)> on_log;
};

// The RocksDB store: one column family per record kind, config writes
// group-committed by one commit thread into synced WriteBatches.
//
// get()/scan() block on disk: call them from worker threads, never from an
// I/O thread. submit() never blocks on disk; it queues the request.
//
// Disk faults are a state, not a crash: before each group the commit threads
// check the file system (read-only, or free space under the reserve) and
// refuse the group's writes with that fault instead of letting RocksDB fail
// half-way; a write RocksDB fails anyway marks the instance unusable for
// writes. A recovery thread reopens the database once the disk allows (the
// WAL replays every acknowledged write), without a restart. Opening on a full
// or read-only disk opens read-only, in the same degraded state.
class store {
public:
    // Opens or creates the database under `path`. On failure returns nullptr
    // and sets `error` to one line a person can act on.
    static std::unique_ptr<store> open(const std::string& path, store_options options,
                                       std::string& error);
    virtual ~store() = default;

    virtual read_result get(column c, std::string_view key, std::string& value) = 0;

    // The identity `id` (its 16-byte key) with its action and signing key.
    // The RocksDB store answers from column::decision_records, one point
    // lookup; this default reads the three columns.
    virtual read_result get_identity_parts(std::string_view id, identity_parts& out);

    // Calls `visit(key, value)` for keys starting with `prefix` in order,
    // skipping the first `skip`; stops when it returns false.
    virtual store_status scan(column c, std::string_view prefix, std::size_t skip,
                              const std::function<bool(std::string_view, std::string_view)>& visit) = 0;

    // Like scan() over a whole column family, from the first key at or after
    // `from` on. This default reads from the start; the RocksDB store seeks.
    virtual store_status scan_from(column c, std::string_view from,
                                   const std::function<bool(std::string_view, std::string_view)>& visit)
    {
        return scan(c, "", 0, [&](std::string_view key, std::string_view value) {
            return key < from || visit(key, value);
        });
    }

    // Like scan() over a whole column family, from the last key backwards.
    virtual store_status scan_reverse(column c, std::size_t skip,
                                      const std::function<bool(std::string_view, std::string_view)>& visit) = 0;

    // Queues a durable write; `complete` is called once it is synced or failed.
    virtual void submit(write_request request) = 0;

    // Queues a write that is not synced (call records): committed in groups by
    // a second thread, readable once `complete` runs, lost only with the
    // machine (not with the process) on a crash.
    virtual void submit_unsynced(write_request request) = 0;

    // Whether writes are taken now. Cheap; any thread.
    virtual store_health health() const = 0;

    // Bytes RocksDB holds in its budget now (blocks and memtables). Any thread.
    virtual std::size_t memory_usage() const = 0;

    // Compacts every column family fully; blocks, for tools and benchmarks.
    virtual store_status compact() = 0;

    // Stops accepting writes, finishes queued ones, flushes.
    virtual void close() = 0;
};

} // namespace callgate::engine
