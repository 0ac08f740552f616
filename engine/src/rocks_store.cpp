#include "callgate/engine/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace callgate::engine {
namespace {

constexpr const char* column_names[] = {
    "identities", "handles", "phones", "actions", "signing_keys", "api_keys", "api_key_ids",
    "api_keys_by_identity", "calls", "calls_by_identity", "meta", "calls_by_time",
};
static_assert(std::size(column_names) == static_cast<std::size_t>(column::count_));

std::string describe(const rocksdb::Status& s)
{
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
        return "the data directory is in use by another callgate process (" + s.ToString() + ")";
    return s.ToString();
}

class rocks_store;

class rocks_txn final : public write_txn {
public:
    rocks_txn(rocks_store& store, rocksdb::WriteBatchWithIndex& batch) : store_(store), batch_(batch) {}
    read_result get(column c, std::string_view key, std::string& value) override;
    void put(column c, std::string_view key, std::string_view value) override;
    void del(column c, std::string_view key) override;
    read_result scan(column c, std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) override;

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

private:
    rocks_store& store_;
    rocksdb::WriteBatch& batch_;
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
    rocks_store(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                store_options options)
        : db_(db), handles_(std::move(handles)), options_(std::move(options))
    {
        unsynced_.sync = false;
        synced_.thread = std::thread([this] { commit_loop(synced_); });
        unsynced_.thread = std::thread([this] { commit_loop(unsynced_); });
    }

    ~rocks_store() override { close(); }

    rocksdb::ColumnFamilyHandle* handle(column c) const { return handles_[static_cast<int>(c)]; }
    rocksdb::DB* db() const { return db_; }

    read_result get(column c, std::string_view key, std::string& value) override
    {
        auto s = db_->Get(rocksdb::ReadOptions(), handle(c), rocksdb::Slice(key.data(), key.size()),
                          &value);
        if (s.ok())
            return read_result::found;
        return s.IsNotFound() ? read_result::not_found : read_result::error;
    }

    store_status scan(column c, std::string_view prefix, std::size_t skip,
                      const std::function<bool(std::string_view, std::string_view)>& visit) override
    {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(c)));
        rocksdb::Slice p(prefix.data(), prefix.size());
        for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
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
        if (db_ != nullptr) {
            db_->FlushWAL(true);
            for (auto* h : handles_)
                db_->DestroyColumnFamilyHandle(h);
            handles_.clear();
            db_->Close();
            delete db_;
            db_ = nullptr;
        }
    }

private:
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
        if (batch.GetWriteBatch()->Count() > 0) {
            auto started = std::chrono::steady_clock::now();
            rocksdb::WriteOptions wo;
            wo.sync = true;
            auto s = db_->Write(wo, batch.GetWriteBatch());
            if (!s.ok())
                status = store_status::failure(s.ToString());
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
                rocksdb::WriteOptions wo;
                wo.sync = false;
                auto s = db_->Write(wo, &batch);
                status = s.ok() ? store_status{} : store_status::failure(s.ToString());
                batch.Clear();
                for (; completed < i; ++completed)
                    group[completed].complete(status);
                status = {};
            }
            batch.SetSavePoint();
            if (request.prepare(txn))
                batch.PopSavePoint();
            else
                batch.RollbackToSavePoint();
        }
        if (batch.Count() > 0) {
            rocksdb::WriteOptions wo;
            wo.sync = false;
            auto s = db_->Write(wo, &batch);
            status = s.ok() ? store_status{} : store_status::failure(s.ToString());
        }
        for (; completed < group.size(); ++completed)
            group[completed].complete(status);
    }

    rocksdb::DB* db_;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
    store_options options_;
    lane synced_;
    lane unsynced_;
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
    batch_.Put(store_.handle(c), rocksdb::Slice(key.data(), key.size()),
               rocksdb::Slice(value.data(), value.size()));
}

void rocks_txn::del(column c, std::string_view key)
{
    batch_.Delete(store_.handle(c), rocksdb::Slice(key.data(), key.size()));
}

read_result plain_txn::get(column c, std::string_view key, std::string& value)
{
    return store_.get(c, key, value);
}

void plain_txn::put(column c, std::string_view key, std::string_view value)
{
    batch_.Put(store_.handle(c), rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
}

void plain_txn::del(column c, std::string_view key)
{
    batch_.Delete(store_.handle(c), rocksdb::Slice(key.data(), key.size()));
}

read_result plain_txn::scan(column c, std::string_view prefix,
                            const std::function<bool(std::string_view, std::string_view)>& visit)
{
    return store_.scan(c, prefix, 0, visit).ok ? read_result::found : read_result::error;
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

} // namespace

std::unique_ptr<store> store::open(const std::string& path, store_options options,
                                   std::string& error)
{
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    // Point lookups dominate: a hash index inside each data block skips the binary search.
    table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    table.data_block_hash_table_util_ratio = 0.75;
    table.block_restart_interval = 4;
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.write_buffer_size = 16u << 20;

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.max_background_jobs = 2;
    db_options.keep_log_file_num = 4;

    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (const char* name : column_names)
        descriptors.emplace_back(name, cf_options);

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &db);
    if (!s.ok()) {
        error = describe(s);
        return nullptr;
    }
    // Drop the default family's handle; ours follow it in order.
    db->DestroyColumnFamilyHandle(handles.front());
    handles.erase(handles.begin());
    return std::make_unique<rocks_store>(db, std::move(handles), std::move(options));
}

} // namespace callgate::engine
