#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::net {

// What went wrong with an etcd request. Every failure is one of these, never an exception.
enum class etcd_errc {
    ok,
    unavailable,       // no member answered: none reachable, none with a leader, or the deadline passed
                       // before the request was sent (a write: nothing was done)
    unknown_outcome,   // a write was sent but its reply never came: it may still take effect, once
    compacted,         // the revision asked for has been compacted away
    future_revision,   // the revision asked for is newer than the store's
    auth_failed,       // wrong user name or password, or etcd refused the token again after re-authenticating
    permission_denied, // the etcd user may not touch these keys
    too_many_ops,      // a transaction over etcd's --max-txn-ops (128 by default)
    request_too_large, // a request over etcd's --max-request-bytes
    lease_not_found,   // the lease expired or was revoked
    rejected,          // any other error etcd answered with (the detail says which)
    reply_too_large,   // a reply or a watch frame over the configured cap
    protocol,          // a reply that is not the etcd JSON expected
    cancelled,         // the watch was cancelled by its owner
    timeout,           // etcd_watch::next only: nothing arrived by its deadline (the watch goes on)
};

std::string_view to_string(etcd_errc e);

struct etcd_error {
    etcd_errc code = etcd_errc::ok;
    std::string detail; // in words, for logs; never contains the password or token
    explicit operator bool() const { return code != etcd_errc::ok; }
};

// A value or an error. `value` is meaningful only when `ok()`, except where an
// operation says otherwise.
template <class T>
struct [[nodiscard]] etcd_result {
    etcd_error error;
    T value{};
    bool ok() const { return !error; }
};

struct etcd_key_value {
    std::string key;
    std::string value;
    std::int64_t create_revision = 0;
    std::int64_t mod_revision = 0;
    std::int64_t version = 0;
    std::int64_t lease = 0;
};

// The range_end that covers every key starting with `prefix` ("\0" when the
// prefix is empty or all 0xff: every key from `prefix` on).
std::string etcd_prefix_end(std::string_view prefix);

// The keys [key, range_end), or only `key` when range_end is empty.
struct etcd_range_request {
    std::string key;
    std::string range_end;
    std::int64_t revision = 0; // read at this revision; 0: the latest
    std::int64_t limit = 0;    // at most this many kvs; 0: all
    bool keys_only = false;
    bool count_only = false;

    // Every key starting with `prefix`. To page: the next page starts at the
    // last key + '\0' with the same range_end and the first page's revision.
    static etcd_range_request with_prefix(std::string prefix);
};

struct etcd_range_response {
    std::int64_t revision = 0;       // the store revision the range was read at
    std::vector<etcd_key_value> kvs; // in ascending key order
    bool more = false;               // more keys in the range than `limit`
    std::int64_t count = 0;          // keys in the range (all of them, not only those returned)
};

struct etcd_delete_response {
    std::int64_t revision = 0;
    std::int64_t deleted = 0;
};

// One comparison of a transaction, on `key` (or every key of [key, range_end)).
struct etcd_compare {
    enum class target { version, create_revision, mod_revision, value };
    enum class result { equal, not_equal, greater, less };
    std::string key;
    std::string range_end;
    target what = target::mod_revision;
    result op = result::equal;
    std::int64_t number = 0; // for version and the revisions
    std::string value;       // for value

    static etcd_compare mod_revision(std::string key, result op, std::int64_t revision);
    static etcd_compare create_revision(std::string key, result op, std::int64_t revision);
    static etcd_compare version(std::string key, result op, std::int64_t version);
    static etcd_compare value_is(std::string key, result op, std::string value);
    // True when `key` does not exist (its create revision is 0).
    static etcd_compare absent(std::string key);
};

// One operation of a transaction.
struct etcd_op {
    enum class kind { range, put, delete_range };
    kind what = kind::put;
    std::string key;
    std::string range_end; // range and delete_range
    std::string value;     // put
    std::int64_t lease = 0; // put
    std::int64_t revision = 0; // range
    std::int64_t limit = 0;    // range
    bool keys_only = false;    // range
    bool count_only = false;   // range

    static etcd_op put(std::string key, std::string value, std::int64_t lease = 0);
    static etcd_op remove(std::string key, std::string range_end = {});
    static etcd_op get(etcd_range_request request);
};

struct etcd_op_response {
    etcd_op::kind what = etcd_op::kind::put;
    etcd_range_response range; // for a range
    std::int64_t deleted = 0;  // for a delete_range
};

struct etcd_txn_request {
    std::vector<etcd_compare> compare; // all must hold for `success` to run
    std::vector<etcd_op> success;
    std::vector<etcd_op> failure;
};

struct etcd_txn_response {
    bool succeeded = false;                // whether every compare held
    std::int64_t revision = 0;             // the store revision after the transaction
    std::vector<etcd_op_response> responses; // one per op of the branch that ran
};

struct etcd_lease {
    std::int64_t id = 0;
    std::int64_t ttl = 0; // seconds left (granted, or after the keep-alive)
};

// One member's view, from /v3/maintenance/status.
struct etcd_status {
    std::string endpoint;       // the URL that answered
    std::uint64_t member_id = 0;
    std::uint64_t leader = 0;   // the leader's member id; 0: none known
    std::int64_t revision = 0;
    std::int64_t raft_index = 0;
    std::int64_t raft_term = 0;
    std::int64_t db_size = 0;
    std::string version;
    bool is_leader() const { return leader != 0 && leader == member_id; }
};

struct etcd_watch_request {
    std::string key;
    std::string range_end;           // empty: only `key`; etcd_prefix_end(key): the prefix
    std::int64_t start_revision = 0; // 0: from the next change on
    bool progress_notify = false;    // ask etcd for empty batches that report its revision when idle
};

struct etcd_event {
    enum class kind { put, remove };
    kind what = kind::put;
    etcd_key_value kv; // for a remove: key and mod_revision (the deleting revision) only
};

struct etcd_watch_batch {
    std::int64_t revision = 0; // etcd's revision when it sent the batch
    std::vector<etcd_event> events; // in revision order; a revision's events are never split
    std::int64_t compact_revision = 0; // with etcd_errc::compacted: history before it is gone
};

// A live watch: one long-lived streaming HTTP request to one member, read by a
// background coroutine on the executor that opened it into a bounded queue
// (the reader stops reading from the socket while the queue is full).
// Use it only from coroutines on that executor (one thread, or a strand).
// Destroying it cancels it.
class etcd_watch {
public:
    etcd_watch();
    etcd_watch(etcd_watch&&) noexcept;
    etcd_watch& operator=(etcd_watch&&) noexcept;
    ~etcd_watch();

    // The next batch, in order. Errors: `timeout` when nothing arrived by
    // `deadline` (the watch goes on, call again); `compacted` with
    // value.compact_revision when the start revision is gone (reload, then
    // watch anew); `cancelled`; `unavailable` when the stream broke (resume
    // from resume_revision() on any member); `reply_too_large` or `protocol`.
    // Every error but `timeout` ends the watch. One caller at a time.
    boost::asio::awaitable<etcd_result<etcd_watch_batch>> next(std::chrono::steady_clock::time_point deadline);

    // Ends the watch: a waiting or later next() returns `cancelled`.
    void cancel();

    // Where to start a new watch so that nothing is missed or seen twice: one
    // past the last revision handed out by next() (events, or a progress report).
    std::int64_t resume_revision() const;
    // The member streaming this watch.
    const std::string& endpoint() const;

    struct state;
    explicit etcd_watch(std::shared_ptr<state> s);

private:
    std::shared_ptr<state> state_;
};

struct etcd_client_options {
    std::vector<std::string> endpoints; // http:// or https:// client URLs of the members
    std::string ca_file;                // trust anchors for https:// (default: the system's)
    std::string cert_file;              // client certificate chain (PEM), for --client-cert-auth
    std::string key_file;               // its private key (PEM)
    std::string username;               // etcd authentication, when set
    std::string password;
    std::chrono::milliseconds request_timeout{2000}; // the deadline when a call gives none
    std::chrono::milliseconds connect_timeout{500};  // per member, within the deadline
    std::size_t max_range_reply = 64 * 1024 * 1024;  // range and txn reply bodies
    std::size_t max_reply = 1024 * 1024;             // every other reply body
    std::size_t max_watch_frame = 64 * 1024 * 1024;  // one watch message
    std::size_t watch_queue = 16;                    // batches read ahead per watch
    std::size_t max_idle_connections = 8;            // kept per member and io_context
    // Called once per call (and once per watch opened) when it ends, on the
    // caller's thread: `op` is "range", "txn", "put", "delete_range",
    // "lease_grant", "lease_keepalive", "lease_revoke", "compact", "status" or
    // "watch"; for callgate_etcd_requests_total{op,outcome}.
    std::function<void(std::string_view op, etcd_errc outcome)> on_request;
};

// An etcd v3 client over etcd's JSON gateway (HTTP/1.1, plain or TLS with
// host name checks and an optional client certificate).
//
// Every call runs on the calling coroutine's executor, may be made from any
// I/O thread, never blocks it and completes by its deadline (a default-
// constructed deadline means now + request_timeout). Members are tried in
// turn starting with the last one that answered; a member that cannot be
// reached, or has no leader, is skipped. A request that may have reached
// etcd is retried on another member only when it is a read. With a user
// name, the client authenticates on first use and again when etcd refuses
// its token. Keep-alive connections are pooled per member and io_context;
// the io_contexts must outlive the client.
//
// Await as `auto op = client.range(r); auto result = co_await std::move(op);`,
// never `co_await client.range({...})`: GCC 12 destroys class-type temporaries
// inside a co_await expression wrongly (a crash; see docs/decisions.md).
class etcd_client {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // Throws std::invalid_argument for a bad endpoint list and
    // std::runtime_error when a TLS file cannot be loaded (start-up errors).
    explicit etcd_client(etcd_client_options options);
    ~etcd_client();
    etcd_client(const etcd_client&) = delete;
    etcd_client& operator=(const etcd_client&) = delete;

    boost::asio::awaitable<etcd_result<etcd_range_response>> range(etcd_range_request request,
                                                                   time_point deadline = {});
    // The branch's ops run atomically; `succeeded` says which branch ran.
    boost::asio::awaitable<etcd_result<etcd_txn_response>> txn(etcd_txn_request request, time_point deadline = {});
    // Returns the revision of the write.
    boost::asio::awaitable<etcd_result<std::int64_t>> put(std::string key, std::string value,
                                                          std::int64_t lease = 0, time_point deadline = {});
    boost::asio::awaitable<etcd_result<etcd_delete_response>> delete_range(std::string key,
                                                                           std::string range_end = {},
                                                                           time_point deadline = {});
    boost::asio::awaitable<etcd_result<etcd_lease>> lease_grant(std::int64_t ttl_seconds, time_point deadline = {});
    // One keep-alive round; `lease_not_found` once the lease has expired.
    boost::asio::awaitable<etcd_result<etcd_lease>> lease_keepalive(std::int64_t id, time_point deadline = {});
    // Returns the revision of the revocation (keys attached to the lease are deleted).
    boost::asio::awaitable<etcd_result<std::int64_t>> lease_revoke(std::int64_t id, time_point deadline = {});
    // Compacts history before `revision`; returns the store's revision.
    boost::asio::awaitable<etcd_result<std::int64_t>> compact(std::int64_t revision, time_point deadline = {});
    // The status of the member at `endpoint` (one of the endpoints), or of
    // whichever member answers first when `endpoint` is empty.
    boost::asio::awaitable<etcd_result<etcd_status>> status(std::string endpoint = {}, time_point deadline = {});
    // Opens a watch and returns it once etcd confirmed it (the deadline bounds
    // the opening only). Resume a broken watch with a new one from
    // resume_revision().
    boost::asio::awaitable<etcd_result<etcd_watch>> watch(etcd_watch_request request, time_point deadline = {});

    const std::vector<std::string>& endpoints() const;
    // The member the next call tries first: the last one that answered.
    std::string preferred_endpoint() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace callgate::net
