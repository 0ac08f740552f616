#pragma once

#include "callgate/engine/admin_keys.hpp"
#include "callgate/engine/bounded_cache.hpp"
#include "callgate/engine/records.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace callgate::engine {

class clock_source;
class random_source;
class store;
struct store_status;
enum class column : int;

enum class config_errc {
    ok,
    identity_not_found,
    no_config,
    handle_exists,
    phone_assigned,
    api_key_not_found,
    client_websocket_url_required,
    webhook_url_required,
    fallback_requires_webhook,    // incoming_call_fallback_action with another action
    fallback_requires_client_url, // incoming_call_fallback_action without client_websocket_url
    store_failure,
    store_full,      // the disk is (nearly) full: the write was refused, nothing changed
    store_read_only, // the data dir's file system is read-only: refused, nothing changed
    store_unavailable, // cluster mode: etcd unreachable or the outcome unknown; not applied here
    no_phone_number,    // a contact rule for an identity without a phone number
    rule_not_found,
    rule_exists,        // (match_type, match_target) taken: value carries the existing rule's id
    too_many_rules,     // over max_rules_per_identity
    filter_needs_phone, // phone_filter_mode on an identity without a phone number
};

inline constexpr std::size_t max_rules_per_identity = 100'000;

// An identity's contact rules as the decision uses them: O(length of the
// caller's number) per check, however many rules there are.
//
// A rule is one 64-bit word, its (match type, target) packed as a number, in
// an open-addressed table: a check is a probe per prefix length present, each
// (usually) one cache line, with no pointer to follow and no string hashed.
class contact_rule_set {
public:
    void add(const contact_rule& rule);
    // The action of the most specific rule matching `caller` (an exact number
    // over any prefix, a longer prefix over a shorter one); nullopt when none
    // matches or the caller is not an E.164 number (withheld).
    std::optional<rule_action> match(std::string_view caller) const;
    bool empty() const { return size_ == 0; }

private:
    void insert(std::uint64_t slot);
    std::optional<rule_action> find(std::uint64_t key) const;

    std::vector<std::uint64_t> slots_; // 0: empty; a power of two, at most half full
    std::size_t size_ = 0;
    std::uint32_t prefix_digits_ = 0; // bit n: some prefix has n digits
};
using rule_set_ptr = std::shared_ptr<const contact_rule_set>;

struct new_contact_rule {
    rule_action action = rule_action::block;
    match_type match = match_type::exact_number;
    std::string target;
};

// Filters of a contact-rule list.
struct rule_filter {
    std::optional<uuid> identity_id;
    std::optional<rule_action> action;
    std::optional<match_type> match;
    bool exact_only = false; // Inkbox's view: its SDKs know no other match type
};

// The error a failed store write means for its caller.
config_errc errc_of_write(const store_status& status);

template <class T>
struct config_result {
    config_errc error = config_errc::ok;
    T value{};
    bool ok() const { return error == config_errc::ok; }
};

struct new_identity {
    std::string agent_handle;
    std::optional<std::string> display_name;
    std::optional<std::string> phone_number;
    std::optional<std::string> description;
};

// Fields a PATCH names; a field not named keeps its value.
struct identity_patch {
    std::optional<std::string> agent_handle; // a rename
    std::optional<std::optional<std::string>> display_name;
    std::optional<std::optional<std::string>> description;
    std::optional<std::optional<std::string>> phone_number;
    std::optional<phone_filter_mode> filter_mode;
};

struct identity_page {
    std::vector<snapshot_ptr> items;
    std::uint64_t total = 0;
};

struct created_api_key {
    std::string api_key; // shown once
    api_key_record record;
};

using api_key_ptr = std::shared_ptr<const api_key_record>;

// The config domain over the store and its write-through caches.
//
// Reads named try_* never block and answer only from memory (nullopt on a
// miss, counted in the cache statistics); load_* block on the store and fill
// the caches: call them from worker threads, usually after a try_* missed. Writes are asynchronous: `done` runs on the store's commit thread
// after the WAL sync and after the caches were updated, so whatever the
// caller does next sees the write. `done` must not block.
class config_service {
public:
    config_service(store& db, clock_source& clock, random_source& random,
                   std::string admin_keys_path, std::size_t cache_entries);

    // --- identities and their call config ---
    // The try_ lookups count a cache hit or miss (callgate_cache_*_total)
    // unless `count` is false: for a decision whose lookups a first, cache-only
    // attempt counted already.
    // nullopt: not cached. A cached null pointer: no such identity.
    std::optional<snapshot_ptr> try_snapshot(const uuid& identity_id, bool count = true);
    // value null: no such identity.
    config_result<snapshot_ptr> load_snapshot(const uuid& identity_id);
    // nullopt: not cached. A cached nullopt: no identity has that number.
    std::optional<std::optional<uuid>> try_phone(const std::string& e164, bool count = true);
    config_result<std::optional<uuid>> load_phone(const std::string& e164);
    config_result<identity_record> load_identity_by_handle(std::string_view handle);
    config_result<identity_page> list_identities(std::size_t limit, std::size_t offset);

    // --- contact rules ---
    // nullopt: not cached. Otherwise the identity's rules (empty when none).
    std::optional<rule_set_ptr> try_rules(const uuid& identity_id, bool count = true);
    config_result<rule_set_ptr> load_rules(const uuid& identity_id);
    // Newest first, `filter` applied, then the page. Blocks (a scan).
    config_result<std::vector<contact_rule>> list_rules(const rule_filter& filter, std::size_t limit,
                                                        std::size_t offset);
    config_result<contact_rule> get_rule(const uuid& identity_id, const uuid& rule_id);
    void create_rule(std::string handle, new_contact_rule rule, std::function<void(config_result<contact_rule>)> done);
    void update_rule(std::string handle, uuid rule_id, rule_action action,
                     std::function<void(config_result<contact_rule>)> done);
    void delete_rule(std::string handle, uuid rule_id, std::function<void(config_errc)> done);

    // --- API keys ---
    // The key with SHA-256 `hash`, from the admin key file or the cache;
    // nullopt on a miss, or when the admin key file is due a look (every
    // second: a revoked admin key stops working within one).
    std::optional<api_key_ptr> try_api_key(const std::string& hash);
    // Reloads the admin key file if it changed, then reads the store. value null: unknown.
    config_result<api_key_ptr> load_api_key(const std::string& hash);
    config_result<std::vector<api_key_record>> list_api_keys();

    // --- writes ---
    void put_action(const uuid& identity_id, incoming_call_action action,
                    std::function<void(config_result<incoming_call_action>)> done);
    void delete_action(const uuid& identity_id, std::function<void(config_errc)> done);
    // Both report the identity as written, with its action and signing key.
    void create_identity(new_identity identity, std::function<void(config_result<snapshot_ptr>)> done);
    void update_identity(std::string handle, identity_patch patch,
                         std::function<void(config_result<snapshot_ptr>)> done);
    void delete_identity(std::string handle, std::function<void(config_errc)> done);
    void create_api_key(std::string label, const uuid& scoped_identity_id,
                        std::function<void(config_result<created_api_key>)> done);
    void revoke_api_key(const uuid& key_id, std::function<void(config_errc)> done);
    void rotate_signing_key(std::string handle,
                            std::function<void(config_result<signing_key_record>)> done);

    // This deployment's organization id (Inkbox's `organization_id`): made
    // once, by the first caller that finds none, with a create-if-absent
    // write (in cluster mode one id for every node), then kept in memory.
    void organization_id(std::function<void(config_result<uuid>)> done);

    // Cluster mode: makes sure the shared store holds an admin key. With
    // `given` (CALLGATE_ADMIN_KEY), registers its hash unless present. Without,
    // generates a key only if the store holds no admin key at all — one
    // check-and-create write, so of many nodes starting at once exactly one
    // generates — and hands it to `done` (empty when none was generated).
    void bootstrap_admin_key(std::optional<std::string> given,
                             std::function<void(config_result<std::string>)> done);
    // The record an admin key is registered with.
    static api_key_record admin_key_record(const std::string& key, clock_source& clock, random_source& random);

    // Registers an admin key in the admin key file and returns its record.
    static bool add_admin_key(const std::string& admin_keys_path, const std::string& key,
                              clock_source& clock, random_source& random, std::string& error);

    // --- changes applied from elsewhere (cluster mode) ---
    // A replicated store calls these after it wrote a change made by another
    // node (or a reload) into the local store, so no cache keeps what it
    // replaced. Any thread.
    void on_applied(column c, std::string_view key);
    void on_reloaded();

    struct cache_stats {
        std::uint64_t hits = 0, misses = 0, entries = 0;
    };
    cache_stats stats() const;

    admin_key_file& admin_keys() { return admin_keys_; }
    clock_source& clock() { return clock_; }
    random_source& random() { return random_; }

private:
    store& db_;
    clock_source& clock_;
    random_source& random_;
    admin_key_file admin_keys_;
    bounded_cache<uuid, snapshot_ptr, uuid_hash> snapshots_;
    bounded_cache<std::string, std::optional<uuid>> phones_;
    bounded_cache<std::string, api_key_ptr> api_keys_;
    bounded_cache<uuid, rule_set_ptr, uuid_hash> rules_;
    std::mutex organization_mutex_;
    std::optional<uuid> organization_; // once known, never changes
};

} // namespace callgate::engine
