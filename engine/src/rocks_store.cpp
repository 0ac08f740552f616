#include "callgate/engine/store.hpp"

#include "identity_parts.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/write_batch.h>

#include <sys/statvfs.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace callgate::engine {

namespace {

// RocksDB counts into a thread_local perf_context (reached through the
// dynamic TLS of a shared library) at every key comparison, block read and
// write unless the thread's perf level says not to; callgate reads none of
// those counters. Called before a thread's first use of the database: the
// check after that is one thread_local flag.
void counters_off()
{
    thread_local const bool off = [] {
        rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
        return true;
    }();
    (void)off;
}

constexpr const char* column_names[] = {
    "identities", "handles", "phones", "actions", "signing_keys", "api_keys", "api_key_ids",
    "api_keys_by_identity", "calls", "calls_by_identity", "meta", "calls_by_time", "admin_keys",
    "contact_rules", "contact_rule_index", "settings", "decision_records",
    "call_keys",
};
static_assert(std::size(column_names) == static_cast<std::size_t>(column::count_));

// RocksDB's info log, sent to the store's log callback instead of a LOG file
// in the data dir: a LOG file on a full disk is itself what fails (and
// Debian's RocksDB, built with assertions, aborts on the next line after a
// failed append).
class forwarding_logger final : public rocksdb::Logger {
public:
    explicit forwarding_logger(std::function<void(bool, std::string_view)> sink)
        : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), sink_(std::move(sink))
    {
    }
    using rocksdb::Logger::Logv;
    void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
    void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override
    {
        if (level < GetInfoLogLevel() || !sink_)
            return;
        char line[1024];
        int n = std::vsnprintf(line, sizeof line, format, ap);
        if (n < 0)
            return;
        std::string_view text(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
        while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
            text.remove_suffix(1);
        sink_(level >= rocksdb::InfoLogLevel::ERROR_LEVEL, text);
    }

private:
    std::function<void(bool, std::string_view)> sink_;
};

// What the file system under `path` allows now: ok, read_only or full.
store_health disk_health(const std::string& path, std::uint64_t min_free)
{
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0)
        return store_health::ok; // cannot tell; let the write find out
    if ((st.f_flag & ST_RDONLY) != 0)
        return store_health::read_only;
    if (static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < min_free)
        return store_health::full;
    return store_health::ok;
}

// disk_health(), and whether a file can really be created and written there:
// an ext4 error remounts read-only in a way statvfs may not show.
store_health probe_disk(const std::string& path, std::uint64_t min_free)
{
    auto disk = disk_health(path, min_free);
    if (disk != store_health::ok)
        return disk;
    std::string probe = path + "/.callgate-probe";
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        if (::write(fd, "x", 1) != 1 || ::fsync(fd) != 0)
            err = errno;
        ::close(fd);
        ::unlink(probe.c_str());
    }
    if (err == EROFS)
        return store_health::read_only;
    if (err == ENOSPC || err == EDQUOT)
        return store_health::full;
    return store_health::ok;
}

// The health a failed RocksDB write means.
store_health fault_of(const rocksdb::Status& s, const std::string& path, std::uint64_t min_free)
{
    if (s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos)
        return store_health::full;
    if (s.ToString().find("Read-only file system") != std::string::npos)
        return store_health::read_only;
    auto disk = disk_health(path, min_free);
    return disk != store_health::ok ? disk : store_health::failed;
}

std::string describe(const rocksdb::Status& s)
{
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
        return "the data directory is in use by another callgate process (" + s.ToString() + ")";
    return s.ToString();
}

class rocks_store;

// The columns column::decision_records is made from.
constexpr column decision_sources[] = {column::identities, column::actions, column::signing_keys};

// The identities whose identity, action or signing key a transaction wrote
// (or deleted): their decision records are rebuilt before the batch is written.
struct touched_identities {
    std::unordered_set<std::string> ids;
    void note(column c, std::string_view key)
    {
        if (std::find(std::begin(decision_sources), std::end(decision_sources), c) != std::end(decision_sources))
            ids.emplace(key);
    }
};

class rocks_txn final : public write_txn {
public:
    rocks_txn(rocks_store& store, rocksdb::WriteBatchWithIndex& batch) : store_(store), batch_(batch) {}
    read_result get(column c, std::string_view key, std::string& value) override;
    void put(column c, std::string_view key, std::string_view value) override;
    void del(column c, std::string_view key) override;
    read_result scan(column c, std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) override;
    touched_identities touched;

private:
    rocks_store& store_;
    rocksdb::WriteBatchWithIndex& batch_;
};

// A transaction over a plain WriteBatch: reads go to the store only.
class plain_txn final : public write_txn {
public:
    plain_txn(rocks_store& store, rocksdb::WriteBatch& batch) : store_(store), batch_(batch) {}
    read_result get(column c, std::string_view key, std::string& value) override;
    void put(column c, std::string_view key, std::string_view value) override;
    void del(column c, std::string_view key) override;
    read_result scan(column c, std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) override;
    touched_identities touched;

private:
    rocks_store& store_;
    rocksdb::WriteBatch& batch_;
};

// Collects what a batch leaves in the decision records' source columns for
// the touched identities: the last write to each key wins, nullopt for a
// delete. The views point into the batch: valid until it is changed.
class source_collector final : public rocksdb::WriteBatch::Handler {
public:
    using value_view = std::optional<std::string_view>;

    source_collector(const std::array<std::uint32_t, 3>& family_ids, const std::unordered_set<std::string>& ids)
        : family_ids_(family_ids), ids_(ids)
    {
    }
    rocksdb::Status PutCF(std::uint32_t family, const rocksdb::Slice& key, const rocksdb::Slice& value) override
    {
        note(family, key, std::string_view(value.data(), value.size()));
        return rocksdb::Status::OK();
    }
    rocksdb::Status DeleteCF(std::uint32_t family, const rocksdb::Slice& key) override
    {
        note(family, key, std::nullopt);
        return rocksdb::Status::OK();
    }
    rocksdb::Status SingleDeleteCF(std::uint32_t family, const rocksdb::Slice& key) override
    {
        note(family, key, std::nullopt);
        return rocksdb::Status::OK();
    }
    // The value the batch leaves for source `i` of `id`, if it writes one.
    const value_view* find(std::size_t i, std::string_view id) const
    {
        auto it = latest_[i].find(id);
        return it == latest_[i].end() ? nullptr : &it->second;
    }

private:
    void note(std::uint32_t family, const rocksdb::Slice& key, value_view value)
    {
        for (std::size_t i = 0; i < family_ids_.size(); ++i) {
            if (family_ids_[i] != family)
                continue;
            auto it = ids_.find(std::string(key.data(), key.size()));
            if (it != ids_.end())
                latest_[i][*it] = value; // keyed by the set's own string
            return;
        }
    }
    std::array<std::uint32_t, 3> family_ids_;
    const std::unordered_set<std::string>& ids_;
    std::array<std::unordered_map<std::string_view, value_view>, 3> latest_;
};

class rocks_store final : public store {
    // A queue of write requests with the one thread that commits them.
    struct lane {
        bool sync = true;
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<write_request> queue;
        bool closing = false;
        std::thread thread;
    };

public:
    rocks_store(std::string path, store_options options) : path_(std::move(path)), options_(std::move(options))
    {
        unsynced_.sync = false;
    }

    // Opens the database (read-only on a full or read-only disk) and starts
    // the commit and recovery threads.
    bool start(std::string& error)
    {
        {
            std::unique_lock lock(db_mutex_);
            if (!open_locked(error))
                return false;
        }
        synced_.thread = std::thread([this] { commit_loop(synced_); });
        unsynced_.thread = std::thread([this] { commit_loop(unsynced_); });
        recovery_ = std::thread([this] { recovery_loop(); });
        return true;
    }

    ~rocks_store() override { close(); }

    rocksdb::ColumnFamilyHandle* handle(column c) const { return handles_[static_cast<int>(c)]; }
    rocksdb::DB* db() const { return db_; }

    store_health health() const override { return health_.load(std::memory_order_relaxed); }

    std::size_t memory_usage() const override { return cache_ ? cache_->GetUsage() : 0; }

    read_result get(column c, std::string_view key, std::string& value) override
    {
        std::shared_lock lock(db_mutex_);
        return get_locked(c, key, value);
    }

    read_result get_identity_parts(std::string_view id, identity_parts& out) override
    {
        std::shared_lock lock(db_mutex_);
        if (db_ == nullptr)
            return read_result::error;
        if (!decision_records_ready_) { // a data dir from before the column, opened read-only
            locked_reader reader{*this};
            return detail::read_identity_parts(reader, id, out);
        }
        // Decoded straight from the block (a pinned slice), not from a copy.
        rocksdb::PinnableSlice value;
        counters_off();
        auto s = db_->Get(rocksdb::ReadOptions(), handle(column::decision_records),
                          rocksdb::Slice(id.data(), id.size()), &value);
        if (!s.ok())
            return s.IsNotFound() ? read_result::not_found : read_result::error;
        return detail::decode_identity_parts({value.data(), value.size()}, out) ? read_result::found
                                                                                : read_result::error;
    }

    // get() for a thread that holds the database lock (the commit threads).
    read_result get_locked(column c, std::string_view key, std::string& value)
    {
        if (db_ == nullptr)
            return read_result::error;
        counters_off();
        auto s = db_->Get(rocksdb::ReadOptions(), handle(c), rocksdb::Slice(key.data(), key.size()),
                          &value);
        if (s.ok())
            return read_result::found;
        return s.IsNotFound() ? read_result::not_found : read_result::error;
    }

    store_status scan(column c, std::string_view prefix, std::size_t skip,
                      const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        std::shared_lock lock(db_mutex_);
        return scan_locked(c, prefix, skip, visit);
    }

    store_status scan_from(column c, std::string_view from,
                           const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        std::shared_lock lock(db_mutex_);
        return scan_locked(c, "", 0, visit, from);
    }

    store_status scan_locked(column c, std::string_view prefix, std::size_t skip,
                             const std::function<bool(std::string_view, std::string_view)>& visit,
                             std::string_view from = {})
    {
        if (db_ == nullptr)
            return store_status::failure("store is reopening");
        counters_off();
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(c)));
        rocksdb::Slice p(prefix.data(), prefix.size());
        // `from` comes with no prefix (scan_from): the two never narrow each other.
        for (it->Seek(from.empty() ? p : rocksdb::Slice(from.data(), from.size()));
             it->Valid() && it->key().starts_with(p); it->Next()) {
            if (skip > 0) {
                --skip;
                continue;
            }
            if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()}))
                break;
        }
        if (!it->status().ok())
            return store_status::failure(it->status().ToString());
        return {};
    }

    store_status scan_reverse(column c, std::size_t skip,
                              const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        std::shared_lock lock(db_mutex_);
        if (db_ == nullptr)
            return store_status::failure("store is reopening");
        counters_off();
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(c)));
        for (it->SeekToLast(); it->Valid(); it->Prev()) {
            if (skip > 0) {
                --skip;
                continue;
            }
            if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()}))
                break;
        }
        if (!it->status().ok())
            return store_status::failure(it->status().ToString());
        return {};
    }

    void submit(write_request request) override { enqueue(synced_, std::move(request)); }

    void submit_unsynced(write_request request) override { enqueue(unsynced_, std::move(request)); }

    store_status compact() override
    {
        std::shared_lock lock(db_mutex_);
        if (writable_locked() != store_health::ok)
            return store_status::failure("store is not writable", health());
        for (auto* h : handles_) {
            auto s = db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
            if (!s.ok())
                return store_status::failure(s.ToString());
        }
        return {};
    }

    void close() override
    {
        for (lane* l : {&synced_, &unsynced_}) {
            {
                std::lock_guard lock(l->mutex);
                l->closing = true;
                l->wake.notify_all();
            }
            if (l->thread.joinable())
                l->thread.join();
        }
        {
            std::lock_guard lock(recovery_mutex_);
            stopping_ = true;
            recovery_wake_.notify_all();
        }
        if (recovery_.joinable())
            recovery_.join();
        std::unique_lock lock(db_mutex_);
        close_locked();
    }

private:
    // get_locked() as a reader for the templates that take one.
    struct locked_reader {
        rocks_store& store;
        read_result get(column c, std::string_view key, std::string& value) { return store.get_locked(c, key, value); }
    };

    // Brings column::decision_records up to date, in the same batch, for each
    // identity in `touched` (the batch wrote its identity, action or signing
    // key): from what the batch leaves in the three columns, else the store's
    // value. `Batch` is the batch to add to (a WriteBatchWithIndex must index
    // what it holds), `raw` its WriteBatch. False when the store cannot be read.
    template <class Batch>
    bool derive_decision_records(Batch& batch, rocksdb::WriteBatch& raw, touched_identities& touched)
    {
        if (touched.ids.empty())
            return true;
        std::array<std::uint32_t, 3> families{};
        for (std::size_t i = 0; i < families.size(); ++i)
            families[i] = handle(decision_sources[i])->GetID();
        source_collector staged(families, touched.ids);
        if (!raw.Iterate(&staged).ok())
            return false;
        // Encoded first, added after: adding to the batch would move what
        // the collector's views point at. (A cluster copy's full reload
        // touches every identity; the batch already holds their values once.)
        std::vector<std::pair<std::string_view, std::optional<std::string>>> derived;
        derived.reserve(touched.ids.size());
        for (const auto& id : touched.ids) {
            std::array<std::optional<std::string_view>, 3> parts;
            std::array<std::string, 3> stored;
            for (std::size_t i = 0; i < parts.size(); ++i) {
                if (const auto* value = staged.find(i, id)) {
                    parts[i] = *value;
                    continue;
                }
                auto r = get_locked(decision_sources[i], id, stored[i]);
                if (r == read_result::error)
                    return false;
                if (r == read_result::found)
                    parts[i] = stored[i];
            }
            if (parts[0])
                derived.emplace_back(id, detail::encode_identity_parts(*parts[0], parts[1], parts[2]));
            else
                derived.emplace_back(id, std::nullopt);
        }
        auto* records = handle(column::decision_records);
        for (const auto& [id, value] : derived) {
            rocksdb::Slice key(id.data(), id.size());
            if (value)
                batch.Put(records, key, *value);
            else
                batch.Delete(records, key);
        }
        touched.ids.clear();
        return true;
    }

    // Builds column::decision_records from the three columns, for a data dir
    // written before it existed (derive_decision_records() for every stored
    // identity, 10,000 a batch); then writes the marker. Needs db_mutex_
    // exclusively (at open, before any write).
    rocksdb::Status build_decision_records()
    {
        auto started = std::chrono::steady_clock::now();
        std::size_t built = 0;
        rocksdb::WriteBatch batch;
        touched_identities chunk;
        auto derive_chunk = [&]() -> rocksdb::Status {
            built += chunk.ids.size();
            if (!derive_decision_records(batch, batch, chunk))
                return rocksdb::Status::IOError("cannot read an identity while building decision records");
            rocksdb::WriteOptions wo;
            wo.sync = false;
            auto s = db_->Write(wo, &batch);
            batch.Clear();
            return s;
        };
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(column::identities)));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            chunk.note(column::identities, {it->key().data(), it->key().size()});
            if (chunk.ids.size() == 10'000)
                if (auto s = derive_chunk(); !s.ok())
                    return s;
        }
        if (!it->status().ok())
            return it->status();
        if (auto s = derive_chunk(); !s.ok())
            return s;
        batch.Put(handle(column::meta), rocksdb::Slice(decision_records_marker.data(), decision_records_marker.size()), "1");
        rocksdb::WriteOptions wo;
        wo.sync = true;
        if (auto s = db_->Write(wo, &batch); !s.ok())
            return s;
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        if (built > 0)
            log(false, "built the decision records of " + std::to_string(built) + " identities in " +
                           std::to_string(took.count()) + " s (one lookup per cache miss from now on)");
        return rocksdb::Status::OK();
    }

    void enqueue(lane& l, write_request request)
    {
        {
            std::lock_guard lock(l.mutex);
            if (!l.closing) {
                l.queue.push_back(std::move(request));
                l.wake.notify_one();
                return;
            }
        }
        request.complete(store_status::failure("store is closed"));
    }

    void commit_loop(lane& l)
    {
        counters_off();
        std::vector<write_request> group;
        for (;;) {
            {
                std::unique_lock lock(l.mutex);
                l.wake.wait(lock, [&l] { return l.closing || !l.queue.empty(); });
                if (l.queue.empty() && l.closing)
                    return;
                while (!l.queue.empty() && group.size() < options_.max_group) {
                    group.push_back(std::move(l.queue.front()));
                    l.queue.pop_front();
                }
            }
            commit_group(group, l.sync);
            group.clear();
        }
    }

    void commit_group(std::vector<write_request>& group, bool sync)
    {
        std::shared_lock lock(db_mutex_);
        if (auto h = writable_locked(); h != store_health::ok) {
            auto refused = store_status::failure(std::string("store is not writable: ") + std::string(to_string(h)), h);
            for (auto& request : group)
                request.complete(refused);
            return;
        }
        if (!sync) {
            commit_unsynced(group);
            return;
        }
        rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, true);
        rocks_txn txn(*this, batch);
        std::size_t staged = 0;
        for (auto& request : group) {
            batch.SetSavePoint();
            if (request.prepare(txn)) {
                ++staged;
                batch.PopSavePoint();
            } else {
                batch.RollbackToSavePoint();
            }
        }
        store_status status;
        if (!derive_decision_records(batch, *batch.GetWriteBatch(), txn.touched)) {
            auto failed = store_status::failure("cannot read the store to update decision records");
            for (auto& request : group)
                request.complete(failed);
            return;
        }
        if (batch.GetWriteBatch()->Count() > 0) {
            auto started = std::chrono::steady_clock::now();
            rocksdb::WriteOptions wo;
            wo.sync = true;
            auto s = write_locked(wo, batch.GetWriteBatch());
            if (!s.ok())
                status = write_failed(s);
            if (options_.on_group_commit) {
                std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
                options_.on_group_commit(took.count(), staged);
            }
        }
        for (auto& request : group)
            request.complete(status);
    }

    // The unsynced lane: write-only requests share a plain batch; a request
    // that reads commits the staged writes first and then reads the store.
    void commit_unsynced(std::vector<write_request>& group)
    {
        rocksdb::WriteBatch batch;
        plain_txn txn(*this, batch);
        store_status status;
        std::size_t completed = 0;
        for (std::size_t i = 0; i < group.size(); ++i) {
            auto& request = group[i];
            if (request.reads && batch.Count() > 0) {
                status = write_unsynced(batch, txn);
                batch.Clear();
                for (; completed < i; ++completed)
                    group[completed].complete(status);
            }
            if (!status.ok) { // an earlier part of the group failed: so does the rest
                request.complete(status);
                ++completed;
                continue;
            }
            batch.SetSavePoint();
            if (request.prepare(txn))
                batch.PopSavePoint();
            else
                batch.RollbackToSavePoint();
        }
        if (batch.Count() > 0 && status.ok)
            status = write_unsynced(batch, txn);
        for (; completed < group.size(); ++completed)
            group[completed].complete(status);
    }

    // Writes the unsynced lane's batch, with the decision records it changes.
    store_status write_unsynced(rocksdb::WriteBatch& batch, plain_txn& txn)
    {
        if (!derive_decision_records(batch, batch, txn.touched))
            return store_status::failure("cannot read the store to update decision records");
        rocksdb::WriteOptions wo;
        wo.sync = false;
        auto s = write_locked(wo, &batch);
        return s.ok() ? store_status{} : write_failed(s);
    }

    // DB::Write for either lane, one lane at a time. Needs db_mutex_ (shared).
    //
    // Left to itself RocksDB merges concurrent writers into one write group:
    // the leader copies each follower's WriteBatch into its own and writes the
    // WAL for them, while the followers wait on RocksDB's own atomics. So the
    // synced lane's thread, leading a config group, read the unsynced lane's
    // call-record batch through a hand-off ThreadSanitizer cannot see (Debian's
    // librocksdb is not instrumented, and its frames are not unwound, so no
    // library suppression matches). With this mutex every batch is written by
    // the thread that built it, and the only hand-off between the lanes is the
    // mutex, which TSan sees. RocksDB writes one group at a time anyway: what
    // is lost is only merging a call-record batch into a config group (one
    // more WAL append, no extra fsync).
    rocksdb::Status write_locked(const rocksdb::WriteOptions& wo, rocksdb::WriteBatch* batch)
    {
        std::lock_guard lock(write_mutex_);
        counters_off();
        return db_->Write(wo, batch);
    }

    // Whether a write may be tried now. Needs db_mutex_ (either way).
    store_health writable_locked()
    {
        if (db_ == nullptr || read_only_open_ || poisoned_.load()) {
            wake_recovery();
            return health();
        }
        auto disk = disk_health(path_, options_.min_free_disk_bytes);
        set_health(disk);
        if (disk != store_health::ok)
            wake_recovery();
        return disk;
    }

    // A write RocksDB failed: this instance takes no more writes (its WAL
    // writer has seen an error) until the recovery thread reopens it.
    store_status write_failed(const rocksdb::Status& s)
    {
        auto fault = fault_of(s, path_, options_.min_free_disk_bytes);
        poisoned_.store(true);
        set_health(fault);
        log(true, "write failed, writes are refused until the store reopens: " + s.ToString());
        wake_recovery();
        return store_status::failure(s.ToString(), fault);
    }

    void set_health(store_health h)
    {
        auto before = health_.exchange(h);
        if (before != h)
            log(h != store_health::ok, std::string("store health: ") + std::string(to_string(h)));
    }

    void log(bool error, const std::string& message)
    {
        if (options_.on_log)
            options_.on_log(error, message);
    }

    void wake_recovery()
    {
        std::lock_guard lock(recovery_mutex_);
        recovery_wanted_ = true;
        recovery_wake_.notify_all();
    }

    // Reopens the database read-write once the disk allows; polls while degraded.
    void recovery_loop()
    {
        std::unique_lock lock(recovery_mutex_);
        for (;;) {
            recovery_wake_.wait_for(lock, std::chrono::milliseconds(500),
                                    [this] { return stopping_ || recovery_wanted_; });
            if (stopping_)
                return;
            bool degraded = health() != store_health::ok || poisoned_.load() || read_only_open_;
            recovery_wanted_ = false;
            if (!degraded)
                continue;
            auto disk = probe_disk(path_, options_.min_free_disk_bytes);
            if (disk != store_health::ok || (!poisoned_.load() && !read_only_open_.load())) {
                set_health(disk); // refused by the watermark only: nothing to reopen
                continue;
            }
            lock.unlock();
            reopen();
            lock.lock();
        }
    }

    void reopen()
    {
        std::unique_lock lock(db_mutex_);
        close_locked();
        std::string error;
        if (!open_locked(error)) {
            // No database at all now: reads fail, writes are refused, and the
            // recovery thread tries again (poisoned_ keeps it trying).
            poisoned_.store(true);
            set_health(store_health::failed);
            log(true, "reopen failed: " + error);
        }
        else if (health() == store_health::ok)
            log(false, "store reopened read-write");
    }

    // Opens read-write, or read-only when the disk refuses writes. Needs db_mutex_ exclusively.
    bool open_locked(std::string& error);

    void close_locked()
    {
        if (db_ == nullptr)
            return;
        if (!poisoned_.load() && !read_only_open_) {
            // Syncs call records written without sync. Never on a failed WAL
            // writer: Debian's RocksDB asserts there.
            auto s = db_->FlushWAL(true);
            if (!s.ok())
                log(true, "WAL sync at close failed: " + s.ToString());
        }
        for (auto* h : handles_)
            db_->DestroyColumnFamilyHandle(h);
        handles_.clear();
        auto s = db_->Close();
        if (!s.ok() && !poisoned_.load())
            log(true, "close: " + s.ToString());
        delete db_;
        db_ = nullptr;
    }

    const std::string path_;
    store_options options_;
    std::shared_ptr<rocksdb::Cache> cache_;
    std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
    std::shared_ptr<rocksdb::Logger> logger_;
    // db_ and handles_ change only on (re)open, under an exclusive lock; every
    // read and write holds it shared.
    mutable std::shared_mutex db_mutex_;
    std::mutex write_mutex_; // one DB::Write at a time, see write_locked()
    rocksdb::DB* db_ = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
    bool decision_records_ready_ = false; // column::decision_records is complete (under db_mutex_)
    std::atomic<bool> read_only_open_{false};
    std::atomic<bool> poisoned_{false};
    std::atomic<store_health> health_{store_health::ok};
    lane synced_;
    lane unsynced_;
    std::mutex recovery_mutex_;
    std::condition_variable recovery_wake_;
    bool recovery_wanted_ = false;
    bool stopping_ = false;
    std::thread recovery_;
};

read_result rocks_txn::get(column c, std::string_view key, std::string& value)
{
    auto s = batch_.GetFromBatchAndDB(store_.db(), rocksdb::ReadOptions(), store_.handle(c),
                                      rocksdb::Slice(key.data(), key.size()), &value);
    if (s.ok())
        return read_result::found;
    return s.IsNotFound() ? read_result::not_found : read_result::error;
}

void rocks_txn::put(column c, std::string_view key, std::string_view value)
{
    touched.note(c, key);
    batch_.Put(store_.handle(c), rocksdb::Slice(key.data(), key.size()),
               rocksdb::Slice(value.data(), value.size()));
}

void rocks_txn::del(column c, std::string_view key)
{
    touched.note(c, key);
    batch_.Delete(store_.handle(c), rocksdb::Slice(key.data(), key.size()));
}

read_result plain_txn::get(column c, std::string_view key, std::string& value)
{
    return store_.get_locked(c, key, value);
}

void plain_txn::put(column c, std::string_view key, std::string_view value)
{
    touched.note(c, key);
    batch_.Put(store_.handle(c), rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
}

void plain_txn::del(column c, std::string_view key)
{
    touched.note(c, key);
    batch_.Delete(store_.handle(c), rocksdb::Slice(key.data(), key.size()));
}

read_result plain_txn::scan(column c, std::string_view prefix,
                            const std::function<bool(std::string_view, std::string_view)>& visit)
{
    return store_.scan_locked(c, prefix, 0, visit).ok ? read_result::found : read_result::error;
}

read_result rocks_txn::scan(column c, std::string_view prefix,
                            const std::function<bool(std::string_view, std::string_view)>& visit)
{
    auto* cf = store_.handle(c);
    std::unique_ptr<rocksdb::Iterator> it(
        batch_.NewIteratorWithBase(cf, store_.db()->NewIterator(rocksdb::ReadOptions(), cf)));
    rocksdb::Slice p(prefix.data(), prefix.size());
    for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next())
        if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()}))
            break;
    return it->status().ok() ? read_result::found : read_result::error;
}


bool rocks_store::open_locked(std::string& error)
{
    if (!cache_) {
        // One budget: blocks (with index and filter blocks) and memtables
        // share a cache of strict capacity; memtables may take half of it.
        cache_ = rocksdb::NewLRUCache(options_.memory_bytes, -1, /*strict_capacity_limit=*/true);
        write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(options_.memory_bytes / 2, cache_);
        logger_ = std::make_shared<forwarding_logger>(options_.on_log);
    }
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache_;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    // Point lookups dominate: a hash index inside each data block skips the binary search.
    table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    table.data_block_hash_table_util_ratio = 0.75;
    table.block_restart_interval = 4;
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // Columns only ever scanned by prefix or range (indexes whose keys carry
    // everything): a whole-key bloom filter would never be read, yet every
    // flush and compaction would hash each key into one and its blocks would
    // take room in the block cache.
    auto scanned_table = table;
    scanned_table.filter_policy.reset();
    // Nor a hash index in each data block (it only serves point lookups), and
    // RocksDB's default restart interval: scans read blocks front to back.
    scanned_table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinarySearch;
    scanned_table.block_restart_interval = 16;
    std::shared_ptr<rocksdb::TableFactory> scanned_factory(rocksdb::NewBlockBasedTableFactory(scanned_table));
    cf_options.write_buffer_size = std::min<std::size_t>(16u << 20, std::max<std::size_t>(options_.memory_bytes / 16, 1u << 20));

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.max_background_jobs = 2;
    db_options.keep_log_file_num = 4;
    db_options.write_buffer_manager = write_buffers_;
    db_options.info_log = logger_;

    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (std::size_t i = 0; i < std::size(column_names); ++i) {
        auto options = cf_options;
        // Call records arrive in time order and their keys follow it: a call id
        // (version 7, time first), created time + id, identity + time + id. A
        // memtable insert then lands next to the previous one with the same
        // prefix, and RocksDB can start from there instead of from the top of
        // its skip list (the hint lives in the memtable's arena, so it counts
        // against the write buffer budget).
        switch (static_cast<column>(i)) {
        case column::calls:             // ids minted here share 4 bytes for ~65 s
        case column::calls_by_time:     // microsecond times share 4 bytes for ~71 min
            options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(4));
            break;
        case column::calls_by_identity: // one hint per identity
            options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(16));
            break;
        default: break;
        }
        switch (static_cast<column>(i)) {
        case column::calls_by_time:
        case column::calls_by_identity:
        case column::api_keys_by_identity:
            options.table_factory = scanned_factory;
            break;
        case column::decision_records:
            // Looked up by ids read from the phone and handle indexes: almost
            // every lookup finds its key, so the last level's bloom filter
            // would only cost a probe (and memory) per lookup.
            options.optimize_filters_for_hits = true;
            break;
        default: break;
        }
        descriptors.emplace_back(column_names[i], options);
    }

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    std::error_code ignored;
    std::filesystem::create_directories(path_, ignored); // else RocksDB logs a NotFound error on first start
    auto disk = disk_health(path_, options_.min_free_disk_bytes);
    rocksdb::Status s;
    if (disk == store_health::ok) {
        s = rocksdb::DB::Open(db_options, path_, descriptors, &handles, &db);
        if (!s.ok()) {
            auto fault = fault_of(s, path_, options_.min_free_disk_bytes);
            if (fault == store_health::failed) {
                error = describe(s);
                return false;
            }
            disk = fault;
        }
    }
    if (disk != store_health::ok) {
        // Degraded: serve reads from what is on disk, refuse writes, and
        // let the recovery thread reopen read-write when the disk allows.
        handles.clear();
        s = rocksdb::DB::OpenForReadOnly(db_options, path_, descriptors, &handles, &db);
        if (!s.ok()) {
            error = "the disk under " + path_ + " is " + std::string(to_string(disk)) +
                    " and the store cannot be opened read-only: " + describe(s);
            return false;
        }
        log(true, "store opened read-only: the disk is " + std::string(to_string(disk)));
    }
    // Drop the default family's handle; ours follow it in order.
    db->DestroyColumnFamilyHandle(handles.front());
    handles.erase(handles.begin());
    db_ = db;
    handles_ = std::move(handles);
    std::string marker;
    auto built = get_locked(column::meta, decision_records_marker, marker);
    if (built == read_result::not_found && disk == store_health::ok) {
        // A data dir from before column::decision_records: build it now.
        s = build_decision_records();
        if (!s.ok()) {
            error = "cannot build the decision records: " + describe(s);
            close_locked();
            return false;
        }
        built = read_result::found;
    }
    decision_records_ready_ = built == read_result::found;
    read_only_open_ = disk != store_health::ok;
    poisoned_.store(false);
    set_health(disk);
    return true;
}

} // namespace

std::string_view to_string(store_health h)
{
    switch (h) {
    case store_health::ok: return "ok";
    case store_health::full: return "full";
    case store_health::read_only: return "read_only";
    case store_health::failed: return "failed";
    case store_health::unavailable: return "unavailable";
    }
    return "failed";
}

std::unique_ptr<store> store::open(const std::string& path, store_options options,
                                   std::string& error)
{
    auto db = std::make_unique<rocks_store>(path, std::move(options));
    if (!db->start(error))
        return nullptr;
    return db;
}

} // namespace callgate::engine
