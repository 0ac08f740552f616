#include "callgate/engine/admin_keys.hpp"

#include "callgate/engine/secrets.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

namespace callgate::engine {

namespace {

std::string line_of(const api_key_record& key)
{
    return key.id.to_string() + ' ' + hex_encode(key.hash) + ' ' + std::to_string(key.created_at_us) + ' ' +
           key.last4 + '\n';
}

// One line of the file; false for a line that is not a key (skipped).
bool parse_line(const std::string& line, api_key_record& record)
{
    std::istringstream fields(line);
    std::string id, hash_hex, last4;
    long long created = 0;
    if (!(fields >> id >> hash_hex >> created >> last4))
        return false;
    auto parsed = uuid::parse(id);
    if (!parsed || hash_hex.size() != 64 || hash_hex.find_first_not_of("0123456789abcdef") != std::string::npos)
        return false;
    record.hash.clear();
    for (std::size_t i = 0; i < 64; i += 2)
        record.hash.push_back(static_cast<char>(std::stoi(hash_hex.substr(i, 2), nullptr, 16)));
    record.id = *parsed;
    record.label = "admin";
    record.last4 = last4;
    record.created_at_us = created;
    return true;
}

// The file, opened and exclusively locked, and still the one at `path` (a
// remove renames a new file over it: whoever waited for the lock on the old
// one opens again). -1 with `error` on failure.
int open_locked(const std::string& path, int flags, std::string& error)
{
    for (;;) {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
        if (fd < 0) {
            error = "cannot open " + path + ": " + std::strerror(errno);
            return -1;
        }
        ::flock(fd, LOCK_EX);
        struct stat held{}, now{};
        if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev)
            return fd;
        ::close(fd); // replaced while we waited
    }
}

std::int64_t steady_now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

admin_key_file::admin_key_file(std::string path) : path_(std::move(path)) {}

bool admin_key_file::append(const std::string& path, const api_key_record& key, std::string& error)
{
    int fd = open_locked(path, O_WRONLY | O_APPEND | O_CREAT, error);
    if (fd < 0)
        return false;
    ::fchmod(fd, 0600);
    std::string line = line_of(key);
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    if (!ok)
        error = "cannot write " + path + ": " + std::strerror(errno);
    ::close(fd); // releases the lock
    return ok;
}

admin_key_file::remove_result admin_key_file::remove(const std::string& path, const uuid& id, bool allow_last,
                                                     std::string& error)
{
    int fd = open_locked(path, O_RDWR | O_CREAT, error);
    if (fd < 0)
        return remove_result::failed;
    auto done = [fd](remove_result r) {
        ::close(fd);
        return r;
    };
    std::string text, kept;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0) {
            error = "cannot read " + path + ": " + std::strerror(errno);
            return done(remove_result::failed);
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t keys = 0;
    bool found = false;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        api_key_record record;
        bool is_key = parse_line(line, record);
        keys += is_key ? 1 : 0;
        if (is_key && record.id == id)
            found = true;
        else
            kept += line + '\n';
    }
    if (!found)
        return done(remove_result::not_found);
    if (keys == 1 && !allow_last)
        return done(remove_result::last_key);
    std::string tmp = path + ".tmp";
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = out >= 0 && ::write(out, kept.data(), kept.size()) == static_cast<ssize_t>(kept.size()) &&
              ::fsync(out) == 0;
    if (out >= 0)
        ::close(out);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot write " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return done(remove_result::failed);
    }
    return done(remove_result::removed);
}

bool admin_key_file::read_all(const std::string& path, std::vector<api_key_record>& out, std::string& error)
{
    admin_key_file file(path);
    if (!file.reload_if_changed(error))
        return false;
    for (const auto& record : file.all())
        out.push_back(*record);
    return true;
}

bool admin_key_file::reload_if_changed(std::string& error)
{
    checked_at_ns_.store(steady_now_ns(), std::memory_order_relaxed);
    struct stat st{};
    file_stamp now;
    if (::stat(path_.c_str(), &st) == 0)
        now = {static_cast<long long>(st.st_ino), static_cast<long long>(st.st_size),
               static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    {
        std::lock_guard lock(mutex_);
        if (now == stamp_)
            return true;
    }
    auto keys = std::make_shared<key_map>();
    if (now.inode != -1) {
        std::ifstream in(path_);
        if (!in) {
            error = "cannot read " + path_;
            return false;
        }
        std::string line;
        while (std::getline(in, line)) {
            auto record = std::make_shared<api_key_record>();
            if (parse_line(line, *record))
                keys->emplace(record->hash, std::move(record));
        }
    }
    std::lock_guard lock(mutex_);
    keys_ = std::move(keys);
    stamp_ = now;
    return true;
}

bool admin_key_file::fresh() const
{
    return steady_now_ns() - checked_at_ns_.load(std::memory_order_relaxed) < 1'000'000'000;
}

std::shared_ptr<const api_key_record> admin_key_file::find(std::string_view hash) const
{
    std::shared_ptr<const key_map> keys;
    {
        std::lock_guard lock(mutex_);
        keys = keys_;
    }
    auto it = keys->find(std::string(hash));
    if (it == keys->end())
        return nullptr;
    // The map is keyed by the hash; compare once more in constant time.
    return constant_time_equal(it->second->hash, hash) ? it->second : nullptr;
}

std::size_t admin_key_file::size() const
{
    std::lock_guard lock(mutex_);
    return keys_->size();
}

std::vector<std::shared_ptr<const api_key_record>> admin_key_file::all() const
{
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<const api_key_record>> out;
    out.reserve(keys_->size());
    for (const auto& [hash, record] : *keys_)
        out.push_back(record);
    return out;
}

} // namespace callgate::engine
