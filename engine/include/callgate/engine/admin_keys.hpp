#pragma once

#include "callgate/engine/records.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace callgate::engine {

// The admin keys' hashes, kept in a small text file beside the store
// (`<data-dir>/admin_keys`, mode 0600, one key a line) so that
// `callgate admin-key create` can add one while the server holds the
// RocksDB lock. The server reloads the file when it changes.
class admin_key_file {
public:
    explicit admin_key_file(std::string path);

    // Appends a key under an exclusive file lock and fsyncs it. Safe against
    // a concurrent writer in another process (append or remove). Returns
    // false and sets `error`.
    static bool append(const std::string& path, const api_key_record& key, std::string& error);

    enum class remove_result { removed, not_found, last_key, failed };
    // Removes the key with this id: rewrites the file without its line (a
    // temp file, fsync, rename) under the same lock as append. Refuses
    // (last_key) when it is the only key left, unless `allow_last`. A running
    // server stops accepting the key within a second (see `fresh`).
    static remove_result remove(const std::string& path, const uuid& id, bool allow_last, std::string& error);

    // Reads every key of the file at `path` (for `callgate admin-key list`).
    static bool read_all(const std::string& path, std::vector<api_key_record>& out, std::string& error);

    // Loads the file if it changed since the last load (stat on each call).
    // Blocks on the file system: worker threads only. Returns false and sets
    // `error` when the file exists but cannot be read.
    bool reload_if_changed(std::string& error);

    // Looks a key up by its SHA-256 among the loaded keys; no I/O.
    std::shared_ptr<const api_key_record> find(std::string_view hash) const;
    // Whether the file was checked for changes (reload_if_changed) less than
    // a second ago: until then, find() may still answer for a removed key.
    bool fresh() const;
    std::size_t size() const;
    // Every loaded key (for `callgate cluster import`).
    std::vector<std::shared_ptr<const api_key_record>> all() const;

    const std::string& path() const { return path_; }

private:
    using key_map = std::unordered_map<std::string, std::shared_ptr<const api_key_record>>;

    std::string path_;
    mutable std::mutex mutex_;
    std::shared_ptr<const key_map> keys_ = std::make_shared<key_map>();
    std::atomic<std::int64_t> checked_at_ns_{0}; // steady clock
    struct file_stamp {
        long long inode = -1, size = -1, mtime_ns = -1;
        friend bool operator==(const file_stamp&, const file_stamp&) = default;
    } stamp_;
};

} // namespace callgate::engine
