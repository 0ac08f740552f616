#include "callgate/cluster/replicated_store.hpp"

#include "callgate/cluster/key_layout.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/net/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace callgate::cluster {
namespace {

namespace asio = boost::asio;
using engine::column;
using engine::read_result;
using engine::store_health;
using engine::store_status;
using steady = std::chrono::steady_clock;

constexpr std::string_view revision_key = "cluster.revision"; // in column meta, with the copy
constexpr std::string_view prefix_key = "cluster.prefix";     // the --etcd-prefix the copy is of
constexpr std::string_view identity_count_key = "identities.count";
constexpr std::int64_t load_page = 1000;

std::int64_t now_us()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t parse_int(std::string_view text)
{
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
}

store_status unavailable(std::string message) { return store_status::failure(std::move(message), store_health::unavailable); }

// A change to the local copy: a put (value set) or a delete.
struct local_change {
    column c;
    std::string key;
    std::optional<std::string> value;
};

// One revision's changes, as the watch delivered them.
struct revision_changes {
    std::int64_t revision = 0;
    std::vector<local_change> changes;
};

class replicated_store_impl;

// A config write's view of etcd: every record it reads comes from etcd and
// is compared again when it commits; its writes are staged for one
// transaction. Used by one writer thread.
class etcd_write_txn final : public engine::write_txn {
public:
    etcd_write_txn(replicated_store_impl& owner, steady::time_point deadline) : owner_(owner), deadline_(deadline) {}

    read_result get(column c, std::string_view key, std::string& value) override;
    void put(column c, std::string_view key, std::string_view value) override;
    void del(column c, std::string_view key) override;
    read_result scan(column c, std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) override;
    read_result del_prefix(column c, std::string_view prefix) override;

    // Why a read failed (an unreachable etcd), if one did.
    const std::optional<store_status>& failure() const { return failure_; }
    bool has_writes() const { return !writes_.empty() || !deleted_ranges_.empty(); }
    net::etcd_txn_request transaction() const;
    std::vector<std::pair<column, std::string>> touched() const { return touched_; }

private:
    struct read_entry {
        bool found = false;
        std::string record;
        std::int64_t mod_revision = 0;
    };
    read_result fetch(column c, std::string_view local_key, const std::string& key);
    read_result failed(const net::etcd_error& error);

    replicated_store_impl& owner_;
    steady::time_point deadline_;
    std::map<std::string, read_entry> reads_;
    struct range_read {
        std::string key, end;
        std::int64_t revision;
    };
    std::vector<range_read> ranges_;
    std::map<std::string, std::optional<std::string>> writes_; // etcd key → record (nullopt: delete)
    std::vector<std::pair<std::string, std::string>> deleted_ranges_; // one delete_range op each
    bool in_deleted_range(const std::string& key) const
    {
        for (const auto& [begin, end] : deleted_ranges_)
            if (key >= begin && key < end)
                return true;
        return false;
    }
    // Every read after the first is made at the first one's revision: the
    // checks see one state of etcd, in the order prepare makes them (a 409
    // for the handle before one for the phone number, as on one node).
    std::int64_t revision_ = 0;
    std::vector<std::pair<column, std::string>> touched_;
    std::optional<store_status> failure_;
};

class replicated_store_impl final : public replicated_store {
public:
    replicated_store_impl(std::unique_ptr<engine::store> local, replicated_store_options options)
        : local_(std::move(local)),
          options_(std::move(options)),
          layout_(options_.prefix),
          etcd_(options_.etcd),
          work_(asio::make_work_guard(io_))
    {
        read_local_state();
        io_thread_ = std::thread([this] { io_.run(); });
        for (std::size_t i = 0; i < std::max<std::size_t>(options_.writer_threads, 1); ++i)
            writers_.emplace_back([this] { writer_loop(); });
        applier_ = std::thread([this] { applier_loop(); });
        keeper_ = std::thread([this] { keeper_loop(); });
    }

    ~replicated_store_impl() override { close(); }

    // --- engine::store ---
    read_result get(column c, std::string_view key, std::string& value) override { return local_->get(c, key, value); }
    read_result get_identity_parts(std::string_view id, engine::identity_parts& out) override
    {
        return local_->get_identity_parts(id, out);
    }
    store_status scan(column c, std::string_view prefix, std::size_t skip,
                      const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        return local_->scan(c, prefix, skip, visit);
    }
    store_status scan_from(column c, std::string_view from,
                           const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        return local_->scan_from(c, from, visit);
    }
    store_status scan_reverse(column c, std::size_t skip,
                              const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        return local_->scan_reverse(c, skip, visit);
    }
    void submit(engine::write_request request) override
    {
        {
            std::lock_guard lock(queue_mutex_);
            if (!stopping_) {
                queue_.push_back(std::move(request));
                queue_wake_.notify_one();
                return;
            }
        }
        request.complete(unavailable("the node is shutting down"));
    }
    void submit_unsynced(engine::write_request request) override { local_->submit_unsynced(std::move(request)); }
    store_health health() const override { return local_->health(); }
    std::size_t memory_usage() const override { return local_->memory_usage(); }
    store_status compact() override { return local_->compact(); }

    void close() override
    {
        {
            std::lock_guard lock(queue_mutex_);
            if (closed_)
                return;
            closed_ = stopping_ = true;
            queue_wake_.notify_all();
        }
        {
            std::lock_guard lock(stop_mutex_);
            stop_wake_.notify_all();
        }
        for (auto& t : writers_)
            t.join();
        applier_.join();
        keeper_.join();
        {
            std::lock_guard lock(apply_mutex_);
            for (auto& [revision, w] : waiters_)
                w.complete(unavailable("the node shut down before it applied the write"));
            waiters_.clear();
        }
        work_.reset();
        io_.stop();
        io_thread_.join();
        local_->close();
    }

    void advertise(std::string api_url) override
    {
        std::lock_guard lock(registry_mutex_);
        api_url_ = std::move(api_url);
    }

    std::vector<node_entry> nodes() const override
    {
        std::lock_guard lock(registry_mutex_);
        return nodes_;
    }

    const std::string& node_name() const override { return options_.node_name; }

    replication_status status() const override
    {
        replication_status s;
        s.caught_up = caught_up_.load();
        s.has_copy = has_copy_.load();
        s.etcd_up = etcd_up_.load();
        s.importing = importing_.load();
        s.applied_revision = applied_revision_.load();
        s.etcd_revision = std::max(etcd_revision_.load(), s.applied_revision);
        s.ready = !s.importing && (s.caught_up || (s.has_copy && !s.etcd_up && start_probed_.load()));
        return s;
    }

    // --- etcd, from the store's own threads (never from io_'s) ---
    template <class T, class Make>
    net::etcd_result<T> call(Make make)
    {
        auto future = asio::co_spawn(
            io_,
            [make = std::move(make)]() mutable -> asio::awaitable<net::etcd_result<T>> {
                auto op = make();
                auto result = co_await std::move(op);
                co_return result;
            },
            asio::use_future);
        auto result = future.get();
        if (result.ok())
            etcd_up_.store(true);
        return result;
    }

    net::etcd_result<net::etcd_range_response> range(net::etcd_range_request request, steady::time_point deadline)
    {
        auto r = call<net::etcd_range_response>([this, request = std::move(request), deadline]() mutable {
            return etcd_.range(std::move(request), deadline);
        });
        if (r.ok())
            note_revision(r.value.revision);
        return r;
    }

    net::etcd_result<net::etcd_txn_response> txn(net::etcd_txn_request request, steady::time_point deadline)
    {
        auto r = call<net::etcd_txn_response>([this, request = std::move(request), deadline]() mutable {
            return etcd_.txn(std::move(request), deadline);
        });
        if (r.ok())
            note_revision(r.value.revision);
        return r;
    }

    const key_layout& layout() const { return layout_; }
    engine::store& local() { return *local_; }

private:
    struct waiter {
        std::function<void(const store_status&)> complete;
        std::vector<std::pair<column, std::string>> touched;
        steady::time_point deadline;
    };

    void note_revision(std::int64_t revision)
    {
        auto seen = etcd_revision_.load();
        while (revision > seen && !etcd_revision_.compare_exchange_weak(seen, revision)) {
        }
    }

    bool stopping()
    {
        std::lock_guard lock(queue_mutex_);
        return stopping_;
    }

    // Sleeps up to `d`; false when the store is closing.
    bool pause(std::chrono::milliseconds d)
    {
        std::unique_lock lock(stop_mutex_);
        return !stop_wake_.wait_for(lock, d, [this] {
            std::lock_guard q(queue_mutex_);
            return stopping_;
        });
    }

    void read_local_state()
    {
        std::string value;
        std::int64_t revision = 0;
        if (local_->get(column::meta, prefix_key, value) == read_result::found && value == layout_.prefix() &&
            local_->get(column::meta, revision_key, value) == read_result::found)
            revision = parse_int(value);
        applied_revision_.store(revision);
        has_copy_.store(revision > 0);
    }

    // --- writes ---

    void writer_loop()
    {
        for (;;) {
            engine::write_request request;
            {
                std::unique_lock lock(queue_mutex_);
                queue_wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (queue_.empty())
                    return;
                request = std::move(queue_.front());
                queue_.pop_front();
            }
            run_write(request);
        }
    }

    void run_write(engine::write_request& request)
    {
        auto deadline = steady::now() + options_.write_timeout;
        std::minstd_rand jitter(static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id())));
        for (int attempt = 0;; ++attempt) {
            etcd_write_txn txn(*this, deadline);
            bool proceed = request.prepare(txn);
            if (txn.failure()) {
                request.complete(*txn.failure());
                return;
            }
            if (!proceed) {
                request.complete({});
                return;
            }
            if (!txn.has_writes()) { // only counters, which each node keeps itself
                request.complete({});
                return;
            }
            auto result = this->txn(txn.transaction(), deadline);
            if (!result.ok()) {
                auto code = result.error.code;
                if (code == net::etcd_errc::unavailable || code == net::etcd_errc::unknown_outcome) {
                    if (code == net::etcd_errc::unavailable)
                        etcd_up_.store(false);
                    request.complete(unavailable(result.error.detail));
                } else {
                    net::log(net::log_level::error, "etcd_write_failed", "A config write to etcd failed",
                             {{"error", net::to_string(code)}, {"detail", result.error.detail}});
                    request.complete(store_status::failure(result.error.detail));
                }
                return;
            }
            if (result.value.succeeded) {
                await_apply(result.value.revision, std::move(request.complete), txn.touched());
                return;
            }
            // Another write changed what this one read: run it again from fresh reads.
            if (steady::now() >= deadline) {
                request.complete(unavailable("conflicting writes for the whole write budget"));
                return;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(jitter() % (500u << std::min(attempt, 4))));
        }
    }

    // Runs `complete` once the copy has applied `revision` (on the applier's
    // thread, between revisions), or now if it already has.
    void await_apply(std::int64_t revision, std::function<void(const store_status&)> complete,
                     std::vector<std::pair<column, std::string>> touched)
    {
        std::lock_guard lock(apply_mutex_);
        if (applied_revision_.load() >= revision) {
            finish(revision, complete, touched);
            return;
        }
        waiters_.emplace(revision, waiter{std::move(complete), std::move(touched), steady::now() + options_.apply_timeout});
    }

    // Runs a waiter's completion with apply_mutex_ held. The completion puts
    // what the write made into the caches; if the copy has moved past the
    // write's revision since, what it put may be stale: drop it again.
    void finish(std::int64_t revision, const std::function<void(const store_status&)>& complete,
                const std::vector<std::pair<column, std::string>>& touched)
    {
        complete({});
        if (applied_revision_.load() > revision && options_.on_applied)
            for (const auto& [c, key] : touched)
                options_.on_applied(c, key);
    }

    void expire_waiters()
    {
        std::lock_guard lock(apply_mutex_);
        auto now = steady::now();
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (it->second.deadline <= now) {
                it->second.complete(unavailable("etcd committed the write but this node has not applied it yet"));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
    }

    // --- the local copy ---

    // Writes changes (or a whole new copy) and the revision they reach into
    // the local store in one write; keeps the identity count. Blocks.
    store_status write_local(const std::vector<revision_changes>& batches, std::int64_t revision,
                             const std::vector<local_change>* replacement)
    {
        std::promise<store_status> done;
        auto future = done.get_future();
        bool staged = false;
        local_->submit_unsynced(engine::write_request{
            [&](engine::write_txn& txn) {
                std::string value;
                std::int64_t count = 0;
                if (replacement) {
                    for (int c = 0; c < static_cast<int>(column::count_); ++c) {
                        auto col = static_cast<column>(c);
                        if (key_layout::replicated(col) && txn.del_prefix(col, "") == read_result::error)
                            return false;
                    }
                    for (const auto& change : *replacement) {
                        txn.put(change.c, change.key, *change.value);
                        count += change.c == column::identities;
                    }
                } else {
                    if (txn.get(column::meta, identity_count_key, value) == read_result::found)
                        count = parse_int(value);
                    for (const auto& batch : batches)
                        for (const auto& change : batch.changes) {
                            if (change.c == column::identities) {
                                bool existed = txn.get(change.c, change.key, value) == read_result::found;
                                count += (change.value && !existed) - (!change.value && existed);
                            }
                            if (change.value)
                                txn.put(change.c, change.key, *change.value);
                            else
                                txn.del(change.c, change.key);
                        }
                }
                txn.put(column::meta, identity_count_key, std::to_string(std::max<std::int64_t>(count, 0)));
                txn.put(column::meta, revision_key, std::to_string(revision));
                txn.put(column::meta, prefix_key, layout_.prefix());
                staged = true;
                return true;
            },
            [&](const store_status& status) { done.set_value(status); }});
        auto status = future.get();
        if (status.ok && !staged)
            return store_status::failure("the local copy could not be read");
        return status;
    }

    // write_local() until it succeeds: while the disk refuses it, every
    // second, expiring the writes that wait for it. False when closing.
    bool write_local_retrying(const std::vector<revision_changes>& batches, std::int64_t revision,
                              const std::vector<local_change>* replacement, std::string_view failure_event)
    {
        for (;;) {
            auto status = write_local(batches, revision, replacement);
            if (status.ok)
                return true;
            net::log(net::log_level::error, failure_event, "Could not apply etcd's changes to the local copy; retrying in 1 s",
                     {{"error", status.message}});
            expire_waiters();
            if (!pause(std::chrono::seconds(1)))
                return false;
        }
    }

    // Completes, in revision order, the writes waiting for revisions up to
    // `revision`. apply_mutex_ held.
    void release_waiters(std::int64_t revision)
    {
        for (auto it = waiters_.begin(); it != waiters_.end() && it->first <= revision;) {
            finish(it->first, it->second.complete, it->second.touched);
            it = waiters_.erase(it);
        }
    }

    // Turns watched events into local changes, grouped by revision.
    std::vector<revision_changes> to_changes(const std::vector<net::etcd_event>& events)
    {
        std::vector<revision_changes> out;
        auto now = now_us();
        for (const auto& event : events) {
            if (out.empty() || out.back().revision != event.kv.mod_revision)
                out.push_back({event.kv.mod_revision, {}});
            if (event.kv.key == layout_.import_marker()) {
                importing_.store(event.what == net::etcd_event::kind::put);
                continue;
            }
            auto local = layout_.parse(event.kv.key);
            if (!local)
                continue; // a barrier, or a kind this version does not know
            if (event.what == net::etcd_event::kind::remove) {
                out.back().changes.push_back({local->column, std::move(local->key), std::nullopt});
                continue;
            }
            std::string_view record;
            std::int64_t written_at = 0;
            if (!unwrap_value(event.kv.value, record, written_at)) {
                net::log(net::log_level::error, "etcd_value_corrupt", "Skipped an etcd value that does not decode",
                         {{"key", event.kv.key}});
                continue;
            }
            if (options_.on_apply_lag && written_at > 0)
                options_.on_apply_lag(std::max<double>(0, static_cast<double>(now - written_at) / 1e6));
            out.back().changes.push_back({local->column, std::move(local->key), std::string(record)});
        }
        return out;
    }

    // Applies a watch batch: the local write, then, revision by revision, the
    // caches and the writes waiting for that revision. Retries the local
    // write while the disk refuses it; false when closing.
    bool apply(const std::vector<net::etcd_event>& events)
    {
        auto batches = to_changes(events);
        if (batches.empty())
            return true;
        if (!write_local_retrying(batches, batches.back().revision, nullptr, "cluster_apply_failed"))
            return false;
        std::lock_guard lock(apply_mutex_);
        for (const auto& batch : batches) {
            if (options_.on_applied)
                for (const auto& change : batch.changes)
                    options_.on_applied(change.c, change.key);
            applied_revision_.store(batch.revision);
            release_waiters(batch.revision);
        }
        return true;
    }

    // Loads the whole prefix at one revision and replaces the local copy.
    // False when etcd could not be read (try again later).
    bool full_load()
    {
        std::vector<local_change> all;
        bool importing = false;
        std::int64_t revision = 0;
        auto request = net::etcd_range_request::with_prefix(layout_.config_prefix());
        request.limit = load_page;
        for (;;) {
            auto page = range(request, steady::now() + std::chrono::seconds(5));
            if (!page.ok()) {
                if (page.error.code == net::etcd_errc::compacted && revision != 0) {
                    all.clear(); // the revision paged at went away: start over
                    revision = 0;
                    request = net::etcd_range_request::with_prefix(layout_.config_prefix());
                    request.limit = load_page;
                    continue;
                }
                net::log(net::log_level::warn, "cluster_load_failed", "Could not read the config from etcd",
                         {{"error", net::to_string(page.error.code)}, {"detail", page.error.detail}});
                return false;
            }
            if (revision == 0)
                revision = page.value.revision;
            for (auto& kv : page.value.kvs) {
                if (kv.key == layout_.import_marker()) {
                    importing = true;
                    continue;
                }
                auto local = layout_.parse(kv.key);
                std::string_view record;
                std::int64_t written_at = 0;
                if (!local || !unwrap_value(kv.value, record, written_at))
                    continue;
                all.push_back({local->column, std::move(local->key), std::string(record)});
            }
            if (!page.value.more || page.value.kvs.empty())
                break;
            request.key = page.value.kvs.back().key + '\0';
            request.revision = revision;
            if (stopping())
                return false;
        }
        if (!write_local_retrying({}, revision, &all, "cluster_load_write_failed"))
            return false;
        std::lock_guard lock(apply_mutex_);
        importing_.store(importing);
        applied_revision_.store(revision);
        has_copy_.store(true);
        if (options_.on_reloaded)
            options_.on_reloaded();
        release_waiters(revision);
        net::log(net::log_level::info, "cluster_loaded", "Loaded the whole config from etcd",
                 {{"revision", revision}, {"records", all.size()}});
        return true;
    }

    // A write of our own into the watched range: once the watch has
    // delivered it, everything before it has been applied.
    std::int64_t write_barrier()
    {
        net::etcd_txn_request request;
        request.success.push_back(net::etcd_op::put(layout_.config_prefix() + "sync/" + options_.node_name,
                                                    std::to_string(now_us())));
        auto r = txn(std::move(request), steady::now() + std::chrono::seconds(2));
        return r.ok() ? r.value.revision : 0;
    }

    void applier_loop()
    {
        auto backoff = std::chrono::milliseconds(100);
        auto retry = [&] {
            bool go_on = pause(backoff);
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
            return go_on;
        };
        bool need_load = applied_revision_.load() == 0;
        std::int64_t barrier = 0;
        while (!stopping()) {
            if (need_load) {
                if (!full_load()) {
                    etcd_up_.store(false);
                    start_probed_.store(true);
                    if (!retry())
                        return;
                    continue;
                }
                need_load = false;
                caught_up_.store(true);
            }
            auto start = applied_revision_.load() + 1;
            auto opened = call<net::etcd_watch>([this, start] {
                net::etcd_watch_request request;
                request.key = layout_.config_prefix();
                request.range_end = net::etcd_prefix_end(request.key);
                request.start_revision = start;
                request.progress_notify = true;
                return etcd_.watch(std::move(request), steady::now() + std::chrono::seconds(2));
            });
            if (!opened.ok()) {
                if (opened.error.code == net::etcd_errc::compacted) {
                    net::log(net::log_level::warn, "cluster_compacted",
                             "etcd compacted past this node's revision; loading the whole config again",
                             {{"revision", start - 1}});
                    need_load = true;
                    continue;
                }
                etcd_up_.store(false);
                start_probed_.store(true);
                net::log(net::log_level::warn, "cluster_watch_failed", "Could not open a watch on etcd",
                         {{"error", net::to_string(opened.error.code)}, {"detail", opened.error.detail}});
                if (!retry())
                    return;
                continue;
            }
            auto watch = std::make_shared<net::etcd_watch>(std::move(opened.value));
            watch_restart_.store(false);
            net::log(net::log_level::info, "cluster_watching", "Watching etcd for config changes",
                     {{"from", start}, {"member", watch->endpoint()}});
            {
                std::lock_guard lock(watch_mutex_);
                watch_endpoint_ = watch->endpoint();
            }
            if (!caught_up_.load() && barrier == 0)
                barrier = write_barrier();
            start_probed_.store(true);
            backoff = std::chrono::milliseconds(100);
            need_load = follow(*watch, barrier);
            // The watch is used and destroyed on the I/O thread only.
            asio::post(io_, [watch] { watch->cancel(); });
            if (!need_load && !stopping() && !retry())
                return;
        }
    }

    // Applies batches from `watch` until it ends; true when etcd compacted
    // past what it needs (reload).
    bool follow(net::etcd_watch& watch, std::int64_t& barrier)
    {
        while (!stopping()) {
            expire_waiters();
            if (watch_restart_.load()) {
                net::log(net::log_level::warn, "cluster_watch_restart", "Restarting the etcd watch on another member",
                         {{"member", watch.endpoint()}});
                return false;
            }
            auto batch = call<net::etcd_watch_batch>([&watch] {
                return watch.next(steady::now() + std::chrono::milliseconds(200));
            });
            if (!batch.ok()) {
                switch (batch.error.code) {
                case net::etcd_errc::timeout:
                    if (!caught_up_.load() && barrier == 0)
                        barrier = write_barrier();
                    continue;
                case net::etcd_errc::compacted:
                    net::log(net::log_level::warn, "cluster_compacted",
                             "etcd compacted past this node's revision; loading the whole config again",
                             {{"revision", applied_revision_.load()}, {"compact_revision", batch.value.compact_revision}});
                    return true;
                default:
                    net::log(net::log_level::warn, "cluster_watch_lost", "Lost the etcd watch",
                             {{"error", net::to_string(batch.error.code)}, {"detail", batch.error.detail}});
                    return false;
                }
            }
            note_revision(batch.value.revision);
            if (!apply(batch.value.events))
                return false;
            if (!caught_up_.load() && barrier != 0 && applied_revision_.load() >= barrier) {
                caught_up_.store(true);
                net::log(net::log_level::info, "cluster_caught_up", "The local copy has caught up with etcd",
                         {{"revision", applied_revision_.load()}});
            }
        }
        return false;
    }

    // The registry entry's value: what /cluster/nodes shows of this node.
    std::string registry_value(const std::string& api_url)
    {
        engine::json_writer w;
        w.begin_object()
            .field("name", options_.node_name)
            .field("api_url", api_url)
            .field("applied_revision", applied_revision_.load())
            .field("etcd_revision", std::max(etcd_revision_.load(), applied_revision_.load()))
            .field("last_seen", engine::format_rfc3339(now_us()))
            .end_object();
        return w.take();
    }

    // Keeps this node's registry entry alive and re-reads the live nodes.
    void refresh_registry(int tick)
    {
        std::string api_url;
        {
            std::lock_guard lock(registry_mutex_);
            api_url = api_url_;
        }
        auto deadline = [] { return steady::now() + std::chrono::seconds(1); };
        if (!api_url.empty() && (lease_ == 0 || tick % 3 == 0)) {
            if (lease_ != 0) {
                auto alive = call<net::etcd_lease>([this, deadline] { return etcd_.lease_keepalive(lease_, deadline()); });
                if (!alive.ok() && alive.error.code == net::etcd_errc::lease_not_found)
                    lease_ = 0; // expired while etcd was out of reach: a new one
            }
            if (lease_ == 0) {
                auto granted = call<net::etcd_lease>([this, deadline] { return etcd_.lease_grant(10, deadline()); });
                if (granted.ok())
                    lease_ = granted.value.id;
            }
            if (lease_ != 0) {
                auto put = call<std::int64_t>([this, deadline, value = registry_value(api_url)]() mutable {
                    return etcd_.put(layout_.nodes_prefix() + options_.node_name, std::move(value), lease_, deadline());
                });
                if (!put.ok() && put.error.code == net::etcd_errc::lease_not_found)
                    lease_ = 0;
            }
        }
        auto listed = range(net::etcd_range_request::with_prefix(layout_.nodes_prefix()), deadline());
        if (!listed.ok())
            return;
        std::vector<node_entry> live;
        for (const auto& kv : listed.value.kvs) {
            engine::json_object doc;
            if (doc.parse(kv.value) != engine::json_parse_error::ok)
                continue;
            node_entry n;
            auto text = [&](const char* key) {
                const auto* f = doc.find(key);
                return f != nullptr && f->type == engine::json_type::string ? f->text : std::string();
            };
            auto integer = [&](const char* key) {
                const auto* f = doc.find(key);
                return f != nullptr && f->type == engine::json_type::integer ? f->integer : std::int64_t{0};
            };
            n.name = text("name");
            n.api_url = text("api_url");
            n.applied_revision = integer("applied_revision");
            n.etcd_revision = integer("etcd_revision");
            n.last_seen = text("last_seen");
            if (!n.name.empty())
                live.push_back(std::move(n));
        }
        std::lock_guard lock(registry_mutex_);
        nodes_ = std::move(live);
    }

    // Checks etcd every second: callgate_etcd_up, and a watch whose member
    // stopped answering is moved to another. Keeps the registry.
    void keeper_loop()
    {
        int watch_failures = 0;
        for (int tick = 0; pause(std::chrono::seconds(tick == 0 ? 0 : 1)); ++tick) {
            refresh_registry(tick);
            std::string endpoint;
            {
                std::lock_guard lock(watch_mutex_);
                endpoint = watch_endpoint_;
            }
            auto any = call<net::etcd_status>([this] { return etcd_.status({}, steady::now() + std::chrono::seconds(1)); });
            if (!any.ok())
                etcd_up_.store(false);
            else
                note_revision(any.value.revision);
            if (endpoint.empty())
                continue;
            auto mine = any.ok() && any.value.endpoint == endpoint
                            ? any
                            : call<net::etcd_status>([this, endpoint] {
                                  return etcd_.status(endpoint, steady::now() + std::chrono::seconds(1));
                              });
            watch_failures = mine.ok() && mine.value.leader != 0 ? 0 : watch_failures + 1;
            if (watch_failures >= 2) {
                watch_restart_.store(true);
                watch_failures = 0;
            }
        }
        if (lease_ != 0) // leave the registry at once rather than in 10 s
            (void)call<std::int64_t>([this] {
                return etcd_.lease_revoke(lease_, steady::now() + std::chrono::seconds(1));
            });
    }

    std::unique_ptr<engine::store> local_;
    replicated_store_options options_;
    key_layout layout_;
    asio::io_context io_{1};
    net::etcd_client etcd_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread io_thread_, applier_, keeper_;
    std::vector<std::thread> writers_;

    std::mutex queue_mutex_;
    std::condition_variable queue_wake_;
    std::deque<engine::write_request> queue_;
    bool stopping_ = false, closed_ = false;
    std::mutex stop_mutex_;
    std::condition_variable stop_wake_;

    std::mutex apply_mutex_; // a batch's apply and the completions it releases
    std::multimap<std::int64_t, waiter> waiters_;

    mutable std::mutex registry_mutex_;
    std::string api_url_;
    std::vector<node_entry> nodes_;
    std::int64_t lease_ = 0; // keeper thread only

    std::mutex watch_mutex_;
    std::string watch_endpoint_;
    std::atomic<bool> watch_restart_{false};

    std::atomic<std::int64_t> applied_revision_{0};
    std::atomic<std::int64_t> etcd_revision_{0};
    std::atomic<bool> caught_up_{false}, has_copy_{false}, etcd_up_{false}, importing_{false};
    std::atomic<bool> start_probed_{false}; // the first attempt to reach etcd is over
};

// --- etcd_write_txn ---

read_result etcd_write_txn::failed(const net::etcd_error& error)
{
    if (error.code == net::etcd_errc::unavailable || error.code == net::etcd_errc::unknown_outcome)
        failure_ = unavailable(error.detail);
    else
        failure_ = store_status::failure(error.detail);
    return read_result::error;
}

read_result etcd_write_txn::fetch(column c, std::string_view local_key, const std::string& key)
{
    // An identity's record, action and signing key are read together: one round trip.
    std::vector<std::string> keys{key};
    if (c == column::identities || c == column::actions || c == column::signing_keys) {
        keys.clear();
        for (auto sibling : {column::identities, column::actions, column::signing_keys})
            if (auto k = owner_.layout().key_of(sibling, local_key); k && !reads_.contains(*k))
                keys.push_back(*k);
    }
    net::etcd_txn_request request;
    for (const auto& k : keys) {
        net::etcd_range_request r;
        r.key = k;
        r.revision = revision_;
        request.success.push_back(net::etcd_op::get(std::move(r)));
    }
    auto result = owner_.txn(std::move(request), deadline_);
    if (!result.ok())
        return failed(result.error);
    if (revision_ == 0)
        revision_ = result.value.revision;
    if (result.value.responses.size() != keys.size())
        return failed({net::etcd_errc::protocol, "a read transaction answered with the wrong number of ranges"});
    for (std::size_t i = 0; i < keys.size(); ++i) {
        read_entry entry;
        const auto& kvs = result.value.responses[i].range.kvs;
        if (!kvs.empty()) {
            std::string_view record;
            std::int64_t written_at = 0;
            if (!unwrap_value(kvs.front().value, record, written_at))
                return failed({net::etcd_errc::protocol, "a corrupt value in etcd at " + keys[i]});
            entry.found = true;
            entry.record = std::string(record);
            entry.mod_revision = kvs.front().mod_revision;
        }
        reads_[keys[i]] = std::move(entry);
    }
    return read_result::found;
}

read_result etcd_write_txn::get(column c, std::string_view local_key, std::string& value)
{
    if (!key_layout::replicated(c))
        return owner_.local().get(c, local_key, value); // counters: each node keeps its own
    if (failure_)
        return read_result::error;
    auto key = owner_.layout().key_of(c, local_key);
    if (!key)
        return read_result::error;
    if (in_deleted_range(*key) && !writes_.contains(*key))
        return read_result::not_found;
    if (auto w = writes_.find(*key); w != writes_.end()) {
        if (!w->second)
            return read_result::not_found;
        value = *w->second;
        return read_result::found;
    }
    auto r = reads_.find(*key);
    if (r == reads_.end()) {
        if (fetch(c, local_key, *key) == read_result::error)
            return read_result::error;
        r = reads_.find(*key);
    }
    if (!r->second.found)
        return read_result::not_found;
    value = r->second.record;
    return read_result::found;
}

void etcd_write_txn::put(column c, std::string_view local_key, std::string_view value)
{
    if (!key_layout::replicated(c))
        return; // the applier keeps the counters from what it applies
    if (auto key = owner_.layout().key_of(c, local_key)) {
        writes_[*key] = std::string(value);
        touched_.emplace_back(c, std::string(local_key));
    }
}

void etcd_write_txn::del(column c, std::string_view local_key)
{
    if (!key_layout::replicated(c))
        return;
    if (auto key = owner_.layout().key_of(c, local_key)) {
        // Inside a range deleted already: etcd refuses a key twice in one transaction.
        if (in_deleted_range(*key))
            writes_.erase(*key);
        else
            writes_[*key] = std::nullopt;
        touched_.emplace_back(c, std::string(local_key));
    }
}

read_result etcd_write_txn::del_prefix(column c, std::string_view prefix)
{
    if (!key_layout::replicated(c))
        return read_result::found;
    auto range = owner_.layout().range_of(c, prefix);
    if (!range)
        return engine::write_txn::del_prefix(c, prefix); // key by key
    writes_.erase(writes_.lower_bound(range->first), writes_.lower_bound(range->second));
    deleted_ranges_.push_back(std::move(*range));
    if (prefix.size() == 16)
        touched_.emplace_back(c, std::string(prefix)); // the caches drop the identity's entries
    return read_result::found;
}

read_result etcd_write_txn::scan(column c, std::string_view prefix,
                                 const std::function<bool(std::string_view, std::string_view)>& visit)
{
    if (failure_)
        return read_result::error;
    auto range = owner_.layout().range_of(c, prefix);
    if (!range) {
        net::log(net::log_level::error, "cluster_scan_unsupported", "A scan of this column is not supported in cluster mode",
                 {{"column", static_cast<int>(c)}});
        return read_result::error;
    }
    net::etcd_range_request request;
    request.key = range->first;
    request.range_end = range->second;
    request.limit = 10000;
    request.revision = revision_;
    auto result = owner_.range(std::move(request), deadline_);
    if (!result.ok())
        return failed(result.error);
    if (revision_ == 0)
        revision_ = result.value.revision;
    if (result.value.more)
        return failed({net::etcd_errc::reply_too_large, "more than 10000 keys in " + range->first});
    ranges_.push_back({range->first, range->second, result.value.revision});
    // What etcd holds, with this write's own staged changes over it.
    std::map<std::string, std::string> merged;
    for (auto& kv : result.value.kvs) {
        std::string_view record;
        std::int64_t written_at = 0;
        if (unwrap_value(kv.value, record, written_at))
            merged[kv.key] = std::string(record);
    }
    for (auto it = writes_.lower_bound(range->first); it != writes_.end() && it->first < range->second; ++it) {
        if (it->second)
            merged[it->first] = *it->second;
        else
            merged.erase(it->first);
    }
    for (const auto& [key, record] : merged) {
        auto local = owner_.layout().parse(key);
        if (local && local->column == c && !visit(local->key, record))
            break;
    }
    return read_result::found;
}

net::etcd_txn_request etcd_write_txn::transaction() const
{
    net::etcd_txn_request request;
    for (const auto& [key, entry] : reads_)
        request.compare.push_back(entry.found ? net::etcd_compare::mod_revision(key, net::etcd_compare::result::equal,
                                                                                 entry.mod_revision)
                                              : net::etcd_compare::absent(key));
    for (const auto& r : ranges_) {
        // Nothing in the scanned range changed or appeared since the scan.
        auto compare = net::etcd_compare::mod_revision(r.key, net::etcd_compare::result::less, r.revision + 1);
        compare.range_end = r.end;
        request.compare.push_back(std::move(compare));
    }
    auto written_at = now_us();
    for (const auto& [begin, end] : deleted_ranges_)
        request.success.push_back(net::etcd_op::remove(begin, end));
    for (const auto& [key, value] : writes_)
        request.success.push_back(value ? net::etcd_op::put(key, wrap_value(*value, written_at))
                                        : net::etcd_op::remove(key));
    return request;
}

} // namespace

std::unique_ptr<replicated_store> replicated_store::start(std::unique_ptr<engine::store> local,
                                                          replicated_store_options options)
{
    return std::make_unique<replicated_store_impl>(std::move(local), std::move(options));
}

} // namespace callgate::cluster
