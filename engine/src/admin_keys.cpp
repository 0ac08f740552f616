#include "callgate/engine/admin_keys.hpp"

#include "callgate/engine/secrets.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace callgate::engine {

admin_key_file::admin_key_file(std::string path) : path_(std::move(path)) {}

bool admin_key_file::append(const std::string& path, const api_key_record& key, std::string& error)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    ::fchmod(fd, 0600);
    ::flock(fd, LOCK_EX);
    std::string line = key.id.to_string() + ' ' + hex_encode(key.hash) + ' ' +
                       std::to_string(key.created_at_us) + ' ' + key.last4 + '\n';
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    if (!ok)
        error = "cannot write " + path + ": " + std::strerror(errno);
    ::flock(fd, LOCK_UN);
    ::close(fd);
    return ok;
}

bool admin_key_file::reload_if_changed(std::string& error)
{
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
            std::istringstream fields(line);
            std::string id, hash_hex, last4;
            long long created = 0;
            if (!(fields >> id >> hash_hex >> created >> last4))
                continue;
            auto parsed = uuid::parse(id);
            std::string hash;
            if (!parsed || hash_hex.size() != 64 ||
                hash_hex.find_first_not_of("0123456789abcdef") != std::string::npos)
                continue;
            for (std::size_t i = 0; i < 64; i += 2)
                hash.push_back(static_cast<char>(std::stoi(hash_hex.substr(i, 2), nullptr, 16)));
            auto record = std::make_shared<api_key_record>();
            record->id = *parsed;
            record->label = "admin";
            record->last4 = last4;
            record->hash = hash;
            record->created_at_us = created;
            keys->emplace(hash, std::move(record));
        }
    }
    std::lock_guard lock(mutex_);
    keys_ = std::move(keys);
    stamp_ = now;
    return true;
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
