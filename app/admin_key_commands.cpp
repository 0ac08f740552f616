#include "admin_key_commands.hpp"

#include "etcd_settings.hpp"

#include "callgate/cluster/tools.hpp"
#include "callgate/engine/admin_keys.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/secrets.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace callgate::app {
namespace {

namespace fs = std::filesystem;

// Every admin key, oldest first. False (message printed) on failure.
bool read_admin_keys(const serve_options& options, std::vector<engine::api_key_record>& keys)
{
    std::string error;
    bool ok = false;
    if (options.cluster()) {
        try {
            ok = cluster::list_admin_keys(etcd_settings(options), options.etcd_prefix, keys, error);
        } catch (const std::exception& e) {
            error = std::string("etcd: ") + e.what();
        }
    } else if (std::error_code ec; !fs::is_directory(options.data_dir, ec)) {
        error = "no data dir " + options.data_dir + " (give --data-dir, or --etcd-endpoints for a cluster)";
    } else {
        ok = engine::admin_key_file::read_all(options.data_dir + "/admin_keys", keys, error);
    }
    if (!ok) {
        std::fprintf(stderr, "callgate: %s\n", error.c_str());
        return false;
    }
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
        return std::tie(a.created_at_us, a.id) < std::tie(b.created_at_us, b.id);
    });
    return true;
}

std::string where(const serve_options& options)
{
    return options.cluster() ? "etcd prefix " + options.etcd_prefix : options.data_dir + "/admin_keys";
}

// <data-dir>/admin.key, when it holds the key with this hash: it is of no use any more.
void remove_stale_key_file(const serve_options& options, const std::string& hash)
{
    std::string path = options.data_dir + "/admin.key";
    std::ifstream in(path);
    std::string key;
    if (!in || !std::getline(in, key) || !engine::constant_time_equal(engine::sha256(key), hash))
        return;
    in.close();
    if (std::remove(path.c_str()) == 0)
        std::printf("removed %s, which held that key\n", path.c_str());
}

} // namespace

int list_admin_keys(const serve_options& options)
{
    std::vector<engine::api_key_record> keys;
    if (!read_admin_keys(options, keys))
        return 1;
    if (keys.empty()) {
        std::fprintf(stderr, "callgate: no admin keys in %s\n", where(options).c_str());
        return 0;
    }
    std::printf("%-36s  %-27s  %s\n", "ID", "CREATED", "KEY");
    for (const auto& k : keys)
        std::printf("%-36s  %-27s  cg_…%s\n", k.id.to_string().c_str(), engine::format_rfc3339(k.created_at_us).c_str(),
                    k.last4.c_str());
    return 0;
}

int revoke_admin_key(const serve_options& options, const std::string& id_or_prefix, bool force)
{
    if (id_or_prefix.size() < 4 || id_or_prefix.size() > 36 ||
        id_or_prefix.find_first_not_of("0123456789abcdef-") != std::string::npos) {
        std::fprintf(stderr, "callgate: '%s' is not an admin key id or a prefix of one (at least 4 of its "
                             "characters, as 'callgate admin-key list' shows them)\n",
                     id_or_prefix.c_str());
        return 2;
    }
    std::vector<engine::api_key_record> keys;
    if (!read_admin_keys(options, keys))
        return 1;
    std::vector<const engine::api_key_record*> matches;
    for (const auto& k : keys)
        if (k.id.to_string().rfind(id_or_prefix, 0) == 0)
            matches.push_back(&k);
    if (matches.empty()) {
        std::fprintf(stderr, "callgate: no admin key with id %s in %s\n", id_or_prefix.c_str(), where(options).c_str());
        return 1;
    }
    if (matches.size() > 1) {
        std::fprintf(stderr, "callgate: %zu admin keys have ids starting with %s: give more of the id\n",
                     matches.size(), id_or_prefix.c_str());
        return 2;
    }
    const engine::api_key_record& key = *matches.front();
    std::string error;
    bool last = false, gone = false, failed = false;
    if (options.cluster()) {
        cluster::revoke_result r = cluster::revoke_result::failed;
        try {
            r = cluster::revoke_admin_key(etcd_settings(options), options.etcd_prefix, key.hash, force, error);
        } catch (const std::exception& e) {
            error = std::string("etcd: ") + e.what();
        }
        last = r == cluster::revoke_result::last_key;
        gone = r == cluster::revoke_result::not_found;
        failed = r == cluster::revoke_result::failed;
    } else {
        using result = engine::admin_key_file::remove_result;
        auto r = engine::admin_key_file::remove(options.data_dir + "/admin_keys", key.id, force, error);
        last = r == result::last_key;
        gone = r == result::not_found;
        failed = r == result::failed;
    }
    if (last) {
        std::fprintf(stderr,
                     "callgate: %s is the last admin key: without one nobody can use the admin API (identities, "
                     "keys, calls) until a new one is made with 'callgate admin-key create' or a server restart "
                     "generates one into <data-dir>/admin.key. Create the replacement first, or give --force.\n",
                     key.id.to_string().c_str());
        return 1;
    }
    if (gone) {
        std::fprintf(stderr, "callgate: admin key %s was revoked by someone else meanwhile\n", key.id.to_string().c_str());
        return 1;
    }
    if (failed) {
        std::fprintf(stderr, "callgate: %s\n", error.c_str());
        return 1;
    }
    std::printf("revoked admin key %s (cg_…%s) in %s\n", key.id.to_string().c_str(), key.last4.c_str(),
                where(options).c_str());
    if (!options.cluster())
        remove_stale_key_file(options, key.hash);
    return 0;
}

} // namespace callgate::app
