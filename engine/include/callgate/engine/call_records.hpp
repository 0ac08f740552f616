#pragma once

#include "callgate/codec/striped_counts.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/records.hpp"
#include "callgate/engine/uuid.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::engine {

class clock_source;
class json_writer;
class store;
class write_txn;

enum class call_status { initiated, ringing, answered, completed, failed, canceled };
// peer_flood: a bridged call ended because a peer queued control frames past the
// relay queue's byte bound (a flood, or a reader that stopped reading). New values go last:
// the byte is stored in records.
enum class hangup_reason { none, local, remote, max_duration, rejected, peer_flood };

std::string_view to_string(call_status s);
std::optional<call_status> parse_call_status(std::string_view text);
std::string_view to_string(hangup_reason r); // "" for none
std::optional<hangup_reason> parse_hangup_reason(std::string_view text);

struct media_counts {
    std::uint64_t frames = 0, bytes = 0, dropped = 0;
};

// One inbound call, as config-api.md's call record object.
struct call_record {
    uuid id;
    std::optional<uuid> agent_identity_id;
    std::optional<std::string> local_phone_number;
    std::string remote_phone_number;
    call_status status = call_status::initiated;
    hangup_reason hangup = hangup_reason::none;
    std::optional<std::string> client_websocket_url;
    bool answered_decision = false; // decision.action: "answer" or "reject"
    std::string decision_source;   // "config", "webhook" or "engine"
    std::optional<std::string> decision_reason;
    std::int64_t decided_in_us = 0;
    bool has_media = false;
    media_counts edge_to_client, client_to_edge;
    std::int64_t started_at_us = 0; // 0: null
    std::int64_t ended_at_us = 0;   // 0: null
    std::int64_t created_at_us = 0;
    std::int64_t updated_at_us = 0;
};

std::string encode(const call_record& r);
bool decode(std::string_view bytes, call_record& out);
// Blocked by a contact rule (reason contact_blocked): hidden from scoped keys.
bool is_blocked(const call_record& r);
// The native call object (config API), and Inkbox's (under /api/v1/phone).
void write_call_record(json_writer& w, const call_record& r);
void write_inkbox_call_record(json_writer& w, const call_record& r);

namespace detail {
// A call record in its identity's index: created time and record key.
struct index_member {
    std::int64_t created_us = 0;
    uuid key;
};
} // namespace detail

// Call records in the store: written without sync by the store's second
// commit thread. Each record lives under a record key, a version 7 id minted
// for its created time, so the `calls` column is itself in time order (newest
// first for the admin's list, oldest first for retention) and a record costs
// two keys: its value and its entry in the per-identity index. A call id
// callgate minted is its own record key; an id the edge supplied gets a
// record key and a third key, call id → record key (column::call_keys).
//
// A data dir from before this layout (every record under its call id, and a
// time index, column::calls_by_time) is converted when the call_log is made
// on a writable store: a one-time pass (about 2 s per 100,000 records that
// move, on a 2-core machine; progress is logged).
// On a store that is read-only then, it is converted once writes are taken
// again; until then the admin's list reads the old time index.
//
// record() only queues the record — no wait and no wake-up per call: a
// writer thread hands what has queued to the store every few milliseconds
// (batch_window, or at once when a thousand are waiting). The queue has a
// part per group of threads (codec::this_thread_stripe()), so the I/O threads
// recording calls at once neither wait for each other's lock nor pass its
// cache line between their cores. flush() completes
// once everything queued before it is readable; readers that must see the
// latest calls call it first. update() sees every record queued before it.
// get()/list()/purge() block on the store: worker threads only. stop()
// writes what is queued and ends the writer; call it before closing the store.
class call_log {
public:
    // Converts an older data dir's call records first (see above). While it
    // does, `on_convert` hears after each 1,000 old records how many have
    // moved so far, and once more with `finished` set.
    using convert_progress = std::function<void(std::size_t moved, bool finished)>;
    call_log(store& db, clock_source& clock, convert_progress on_convert = {});
    ~call_log();
    void stop();

    // Queues a record for the writer. Records are dropped (and counted) when
    // the thread's part of the queue holds `max_pending` already (about half a
    // second of an I/O thread's decisions at full load) or when the store
    // refuses their write (a full or read-only disk): a call is never held up
    // by its record.
    void record(call_record record);
    // Records lost to a full queue or a refused write, since start.
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    static constexpr std::size_t max_pending = 32 * 1024;
    // How long the writer gathers records after the first of a batch. Each
    // batch costs wake-ups, a RocksDB write group and a WAL write(2) whatever
    // its size, but a longer window makes the store's threads work in longer
    // bursts, which the I/O threads wait behind on a small machine: 5 ms
    // measured no CPU saved per decision beside the noise and decisions'
    // p99 ~6.5 → ~8.1 ms (six alternating rounds each, wrk -t2 -c64). It
    // also bounds what a kill -9 loses of records not yet written on an
    // idle machine.
    static constexpr std::chrono::milliseconds batch_window{2};
    void flush(std::function<void(bool ok)> done);
    // Applies `change` to the stored record (read-modify-write on the commit
    // thread). `change` returns false to leave it unchanged.
    void update(const uuid& call_id, std::function<bool(call_record&)> change,
                std::function<void(config_errc)> done);

    config_result<call_record> get(const uuid& call_id);
    // Newest first; all calls, or one identity's.
    config_result<std::vector<call_record>> list(std::optional<uuid> identity, std::size_t limit,
                                                 std::size_t offset,
                                                 const std::function<bool(const call_record&)>& keep = {});
    // Removes records created before `cutoff_us`; returns how many.
    config_result<std::size_t> purge_older_than(std::int64_t cutoff_us);

    // Whether the store holds this layout (false until an older data dir is converted).
    bool converted() const { return converted_.load(std::memory_order_acquire); }

private:
    // Converts an older data dir's records, when the store takes writes and
    // they are not converted yet; true once they are.
    bool convert();
    // Up to `chunk` records newest first from index position `position` on, all
    // calls or one identity's; `seen` counts the index entries read.
    config_errc newest_first(const std::optional<uuid>& identity, std::size_t position, std::size_t chunk,
                             std::vector<call_record>& out, std::size_t& seen);
    // Moves the queued records into `txn`; returns how many.
    std::size_t write_pending_in(write_txn& txn);
    // A write of queued records completed: counts them as dropped if it failed.
    std::function<void(const store_status&)> count_if_refused(std::shared_ptr<std::size_t> written);

    // Whether any part of the queue holds a record.
    bool any_queued();

    store& db_;
    clock_source& clock_;
    // A part of the queue, on cache lines of its own.
    struct alignas(64) queue_part {
        std::mutex mutex;
        std::vector<call_record> records;
        std::vector<call_record> writing; // only touched in write_pending_in, which the store runs one at a time
    };
    std::array<queue_part, codec::count_stripes> parts_;
    // Where a batch's record sits: its record key, then its part and place
    // there (so records under one key keep their queue order).
    struct keyed_record {
        uuid key;
        std::uint32_t part = 0;
        std::uint32_t at = 0;
        friend auto operator<=>(const keyed_record&, const keyed_record&) = default;
    };
    std::vector<keyed_record> keyed_; // likewise
    // The batch's identity index entries, (identity, (created, record key)); likewise.
    std::vector<std::pair<uuid, detail::index_member>> indexing_;
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;   // under wake_mutex_
    bool batch_full_ = false; // a part reached a batch's worth; under wake_mutex_
    std::atomic<bool> writer_asleep_{false}; // waiting for a first record: the next one wakes it
    std::atomic<std::uint64_t> dropped_{0};
    convert_progress on_convert_;
    std::mutex convert_mutex_;          // one conversion at a time
    std::atomic<bool> converted_{false};
    fast_random keys_;                  // record keys for ids the edge supplied
    std::thread writer_;
};

} // namespace callgate::engine
