#include "callgate/engine/config_service.hpp"

#include "callgate/engine/clock.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/engine/validation.hpp"
#include "identity_parts.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>

namespace callgate::engine {
namespace {

constexpr std::string_view identity_count_key = "identities.count";
constexpr std::string_view organization_key = "organization_id";

// Decodes an identity with its action and signing key from their stored values.
read_result decode_snapshot(const identity_parts& parts, identity_snapshot& out)
{
    if (!decode(parts.identity, out.identity))
        return read_result::error;
    out.action.reset();
    if (parts.action) {
        incoming_call_action action;
        if (!decode(*parts.action, action))
            return read_result::error;
        out.action = std::move(action);
    }
    out.signing_key.reset();
    if (parts.signing_key) {
        signing_key_record key;
        if (!decode(*parts.signing_key, key))
            return read_result::error;
        out.signing_key = std::move(key);
    }
    return read_result::found;
}

// Reads an identity with its action and signing key from their three columns
// through any reader with get(column, key, value) — inside a write
// transaction, where they must reflect the writes staged so far.
template <class Reader>
read_result read_snapshot(Reader& reader, const uuid& id, identity_snapshot& out)
{
    identity_parts parts;
    auto r = detail::read_identity_parts(reader, id.as_key(), parts);
    return r == read_result::found ? decode_snapshot(parts, out) : r;
}

// Resolves a handle to an identity id through a reader.
template <class Reader>
read_result read_handle(Reader& reader, std::string_view handle, uuid& out)
{
    std::string value;
    auto r = reader.get(column::handles, handle, value);
    if (r != read_result::found)
        return r;
    auto id = uuid::from_key(value);
    if (!id)
        return read_result::error;
    out = *id;
    return read_result::found;
}

// Resolves a handle and reads that identity's snapshot through a reader.
template <class Reader>
read_result read_by_handle(Reader& reader, std::string_view handle, uuid& id, identity_snapshot& out)
{
    auto r = read_handle(reader, handle, id);
    return r == read_result::found ? read_snapshot(reader, id, out) : r;
}

config_errc errc_of(read_result r, config_errc not_found)
{
    return r == read_result::error ? config_errc::store_failure : not_found;
}

std::uint64_t read_count(write_txn& txn)
{
    std::string value;
    std::uint64_t count = 0;
    if (txn.get(column::meta, identity_count_key, value) == read_result::found)
        std::from_chars(value.data(), value.data() + value.size(), count);
    return count;
}

std::string last4_of(const std::string& key) { return key.substr(key.size() - 4); }

// The common shape of a write: a state shared by prepare and complete.
template <class State>
write_request make_request(std::shared_ptr<State> st,
                           std::function<bool(State&, write_txn&)> prepare,
                           std::function<void(State&)> on_committed)
{
    return write_request{
        [st, prepare = std::move(prepare)](write_txn& txn) { return prepare(*st, txn); },
        [st, on_committed = std::move(on_committed)](const store_status& status) {
            // A failed store explains a store failure that prepare ran into
            // (e.g. a read from an unreachable etcd), never a 404 or 409.
            if (!status.ok && (st->error == config_errc::ok || st->error == config_errc::store_failure))
                st->error = errc_of_write(status);
            if (st->error == config_errc::ok)
                on_committed(*st);
            st->finish();
        }};
}

} // namespace

config_errc errc_of_write(const store_status& status)
{
    switch (status.fault) {
    case store_health::full: return config_errc::store_full;
    case store_health::read_only: return config_errc::store_read_only;
    case store_health::unavailable: return config_errc::store_unavailable;
    default: return config_errc::store_failure;
    }
}

config_service::config_service(store& db, clock_source& clock, random_source& random,
                               std::string admin_keys_path, std::size_t cache_entries)
    : db_(db),
      clock_(clock),
      random_(random),
      admin_keys_(std::move(admin_keys_path)),
      // What every decision reads: a front per thread (see bounded_cache).
      snapshots_(cache_entries, 64, cache_fronts::per_thread),
      phones_(cache_entries, 64, cache_fronts::per_thread),
      api_keys_(cache_entries),
      rules_(cache_entries, 64, cache_fronts::per_thread)
{
    std::string error;
    admin_keys_.reload_if_changed(error);
}

std::optional<snapshot_ptr> config_service::try_snapshot(const uuid& identity_id, bool count)
{
    return count ? snapshots_.get(identity_id) : snapshots_.peek(identity_id);
}

config_result<snapshot_ptr> config_service::load_snapshot(const uuid& identity_id)
{
    if (auto cached = snapshots_.peek(identity_id))
        return {config_errc::ok, *cached};
    auto ticket = snapshots_.ticket(identity_id);
    // One point lookup (column::decision_records) on the RocksDB store.
    identity_parts parts;
    identity_snapshot snapshot;
    auto r = db_.get_identity_parts(identity_id.as_key(), parts);
    if (r == read_result::found)
        r = decode_snapshot(parts, snapshot);
    if (r == read_result::error)
        return {config_errc::store_failure, nullptr};
    snapshot_ptr value =
        r == read_result::found ? std::make_shared<const identity_snapshot>(std::move(snapshot)) : nullptr;
    snapshots_.fill(identity_id, value, ticket);
    return {config_errc::ok, value};
}

std::optional<std::optional<uuid>> config_service::try_phone(const std::string& e164, bool count)
{
    return count ? phones_.get(e164) : phones_.peek(e164);
}

config_result<std::optional<uuid>> config_service::load_phone(const std::string& e164)
{
    if (auto cached = phones_.peek(e164))
        return {config_errc::ok, *cached};
    auto ticket = phones_.ticket(e164);
    std::string value;
    auto r = db_.get(column::phones, e164, value);
    if (r == read_result::error)
        return {config_errc::store_failure, std::nullopt};
    std::optional<uuid> id;
    if (r == read_result::found) {
        id = uuid::from_key(value);
        if (!id) // a corrupt index value is a store failure, never "no such number"
            return {config_errc::store_failure, std::nullopt};
    }
    phones_.fill(e164, id, ticket);
    return {config_errc::ok, id};
}

config_result<identity_record> config_service::load_identity_by_handle(std::string_view handle)
{
    uuid id;
    auto r = read_handle(db_, handle, id);
    if (r != read_result::found)
        return {errc_of(r, config_errc::identity_not_found), {}};
    auto snapshot = load_snapshot(id);
    if (!snapshot.ok())
        return {snapshot.error, {}};
    if (!snapshot.value)
        return {config_errc::identity_not_found, {}};
    return {config_errc::ok, snapshot.value->identity};
}

config_result<identity_page> config_service::list_identities(std::size_t limit, std::size_t offset)
{
    config_result<identity_page> out;
    std::string value;
    auto r = db_.get(column::meta, identity_count_key, value);
    if (r == read_result::error)
        return {config_errc::store_failure, {}};
    if (r == read_result::found)
        std::from_chars(value.data(), value.data() + value.size(), out.value.total);
    std::vector<uuid> ids;
    auto status = db_.scan(column::handles, "", offset, [&](std::string_view, std::string_view id) {
        if (auto parsed = uuid::from_key(id))
            ids.push_back(*parsed);
        return ids.size() < limit;
    });
    if (!status.ok)
        return {config_errc::store_failure, {}};
    for (const auto& id : ids) {
        auto snapshot = load_snapshot(id);
        if (!snapshot.ok())
            return {snapshot.error, {}};
        if (snapshot.value)
            out.value.items.push_back(std::move(snapshot.value));
    }
    return out;
}

std::optional<api_key_ptr> config_service::try_api_key(const std::string& hash)
{
    // The admin key file may have lost a key (`callgate admin-key revoke`):
    // after a second without a look at it, the worker-thread path checks.
    if (!admin_keys_.fresh())
        return std::nullopt;
    if (auto admin = admin_keys_.find(hash))
        return admin;
    return api_keys_.get(hash);
}

config_result<api_key_ptr> config_service::load_api_key(const std::string& hash)
{
    std::string error;
    if (!admin_keys_.reload_if_changed(error))
        return {config_errc::store_failure, nullptr};
    if (auto admin = admin_keys_.find(hash))
        return {config_errc::ok, admin};
    if (auto cached = api_keys_.peek(hash))
        return {config_errc::ok, *cached};
    auto ticket = api_keys_.ticket(hash);
    std::string value;
    auto r = db_.get(column::api_keys, hash, value);
    if (r == read_result::not_found) // cluster mode keeps admin keys in the store
        r = db_.get(column::admin_keys, hash, value);
    if (r == read_result::error)
        return {config_errc::store_failure, nullptr};
    if (r == read_result::not_found)
        return {config_errc::ok, nullptr}; // unknown keys are not cached: no flooding with guesses
    api_key_record record;
    if (!decode(value, record) || !constant_time_equal(record.hash, hash))
        return {config_errc::store_failure, nullptr};
    auto ptr = std::make_shared<const api_key_record>(std::move(record));
    api_keys_.fill(hash, ptr, ticket);
    return {config_errc::ok, ptr};
}

config_result<std::vector<api_key_record>> config_service::list_api_keys()
{
    config_result<std::vector<api_key_record>> out;
    std::string error;
    admin_keys_.reload_if_changed(error);
    bool corrupt = false;
    auto status = db_.scan(column::api_keys, "", 0, [&](std::string_view, std::string_view value) {
        api_key_record record;
        if (!decode(value, record)) {
            corrupt = true;
            return false;
        }
        out.value.push_back(std::move(record));
        return true;
    });
    if (!status.ok || corrupt)
        return {config_errc::store_failure, {}};
    std::sort(out.value.begin(), out.value.end(), [](const auto& a, const auto& b) {
        return a.created_at_us != b.created_at_us ? a.created_at_us < b.created_at_us : a.id < b.id;
    });
    return out;
}

void config_service::put_action(const uuid& identity_id, incoming_call_action action,
                                std::function<void(config_result<incoming_call_action>)> done)
{
    struct state {
        uuid id;
        incoming_call_action action;
        snapshot_ptr snapshot;
        config_errc error = config_errc::ok;
        std::function<void(config_result<incoming_call_action>)> done;
        void finish() { done({error, action}); }
    };
    auto st = std::make_shared<state>(state{identity_id, std::move(action), nullptr,
                                            config_errc::ok, std::move(done)});
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            identity_snapshot snapshot;
            auto r = read_snapshot(txn, s.id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            if (s.action.action == call_action::auto_accept && !s.action.client_websocket_url) {
                s.error = config_errc::client_websocket_url_required;
                return false;
            }
            if (s.action.action == call_action::webhook && !s.action.incoming_call_webhook_url) {
                s.error = config_errc::webhook_url_required;
                return false;
            }
            if (s.action.incoming_call_fallback_action && s.action.action != call_action::webhook) {
                s.error = config_errc::fallback_requires_webhook;
                return false;
            }
            if (s.action.incoming_call_fallback_action && !s.action.client_websocket_url) {
                s.error = config_errc::fallback_requires_client_url;
                return false;
            }
            txn.put(column::actions, s.id.as_key(), encode(s.action));
            snapshot.action = s.action;
            s.snapshot = std::make_shared<const identity_snapshot>(std::move(snapshot));
            return true;
        },
        [this](state& s) { snapshots_.put(s.id, s.snapshot); }));
}

void config_service::delete_action(const uuid& identity_id, std::function<void(config_errc)> done)
{
    struct state {
        uuid id;
        snapshot_ptr snapshot;
        config_errc error = config_errc::ok;
        std::function<void(config_errc)> done;
        void finish() { done(error); }
    };
    auto st = std::make_shared<state>(state{identity_id, nullptr, config_errc::ok, std::move(done)});
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            identity_snapshot snapshot;
            auto r = read_snapshot(txn, s.id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            if (!snapshot.action) {
                s.error = config_errc::no_config;
                return false;
            }
            txn.del(column::actions, s.id.as_key());
            snapshot.action.reset();
            s.snapshot = std::make_shared<const identity_snapshot>(std::move(snapshot));
            return true;
        },
        [this](state& s) { snapshots_.put(s.id, s.snapshot); }));
}

void config_service::create_identity(new_identity identity, std::function<void(config_result<snapshot_ptr>)> done)
{
    struct state {
        new_identity input;
        identity_record record;
        snapshot_ptr snapshot;
        config_errc error = config_errc::ok;
        std::function<void(config_result<snapshot_ptr>)> done;
        void finish() { done({error, snapshot}); }
    };
    auto st = std::make_shared<state>();
    st->input = std::move(identity);
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            std::string value;
            auto r = txn.get(column::handles, s.input.agent_handle, value);
            if (r != read_result::not_found) {
                s.error = errc_of(r, config_errc::handle_exists);
                return false;
            }
            if (s.input.phone_number) {
                r = txn.get(column::phones, *s.input.phone_number, value);
                if (r != read_result::not_found) {
                    s.error = errc_of(r, config_errc::phone_assigned);
                    return false;
                }
            }
            auto now = clock_.now_us();
            s.record = {};
            s.record.id = uuid::generate(random_);
            s.record.agent_handle = s.input.agent_handle;
            s.record.display_name = s.input.display_name;
            s.record.phone_number = s.input.phone_number;
            s.record.description = s.input.description;
            s.record.created_at_us = s.record.updated_at_us = now;
            if (s.record.phone_number)
                s.record.phone_number_since_us = now;
            auto key = s.record.id.as_key();
            txn.put(column::identities, key, encode(s.record));
            txn.put(column::handles, s.record.agent_handle, key);
            if (s.record.phone_number)
                txn.put(column::phones, *s.record.phone_number, key);
            txn.put(column::meta, identity_count_key, std::to_string(read_count(txn) + 1));
            return true;
        },
        [this](state& s) {
            s.snapshot = std::make_shared<const identity_snapshot>(identity_snapshot{s.record, std::nullopt, std::nullopt});
            snapshots_.put(s.record.id, s.snapshot);
            if (s.record.phone_number)
                phones_.put(*s.record.phone_number, s.record.id);
        }));
}

void config_service::update_identity(std::string handle, identity_patch patch,
                                     std::function<void(config_result<snapshot_ptr>)> done)
{
    struct state {
        std::string handle;
        identity_patch patch;
        std::optional<std::string> old_phone;
        snapshot_ptr snapshot;
        config_errc error = config_errc::ok;
        std::function<void(config_result<snapshot_ptr>)> done;
        void finish() { done({error, error == config_errc::ok ? snapshot : nullptr}); }
    };
    auto st = std::make_shared<state>();
    st->handle = std::move(handle);
    st->patch = std::move(patch);
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            uuid id;
            identity_snapshot snapshot;
            auto r = read_by_handle(txn, s.handle, id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            auto& identity = snapshot.identity;
            auto now = clock_.now_us();
            s.old_phone = identity.phone_number;
            if (s.patch.agent_handle && *s.patch.agent_handle != identity.agent_handle) {
                std::string value;
                r = txn.get(column::handles, *s.patch.agent_handle, value);
                if (r != read_result::not_found) {
                    s.error = errc_of(r, config_errc::handle_exists);
                    return false;
                }
                txn.del(column::handles, identity.agent_handle);
                txn.put(column::handles, *s.patch.agent_handle, id.as_key());
                identity.agent_handle = *s.patch.agent_handle;
            }
            if (s.patch.phone_number && *s.patch.phone_number != identity.phone_number) {
                const auto& next = *s.patch.phone_number;
                if (next) {
                    std::string value;
                    r = txn.get(column::phones, *next, value);
                    if (r != read_result::not_found) {
                        s.error = errc_of(r, config_errc::phone_assigned);
                        return false;
                    }
                    txn.put(column::phones, *next, id.as_key());
                }
                if (identity.phone_number)
                    txn.del(column::phones, *identity.phone_number);
                identity.phone_number = next;
                identity.phone_number_since_us = next ? now : 0;
            }
            if (s.patch.display_name)
                identity.display_name = *s.patch.display_name;
            if (s.patch.description)
                identity.description = *s.patch.description;
            if (s.patch.filter_mode) {
                if (!identity.phone_number) {
                    s.error = config_errc::filter_needs_phone;
                    return false;
                }
                identity.filter_mode = *s.patch.filter_mode;
            }
            identity.updated_at_us = now;
            txn.put(column::identities, id.as_key(), encode(identity));
            s.snapshot = std::make_shared<const identity_snapshot>(std::move(snapshot));
            return true;
        },
        [this](state& s) {
            const auto& identity = s.snapshot->identity;
            snapshots_.put(identity.id, s.snapshot);
            if (s.old_phone != identity.phone_number) {
                if (s.old_phone)
                    phones_.put(*s.old_phone, std::nullopt);
                if (identity.phone_number)
                    phones_.put(*identity.phone_number, identity.id);
            }
        }));
}

void config_service::delete_identity(std::string handle, std::function<void(config_errc)> done)
{
    struct state {
        std::string handle;
        identity_record identity;
        std::vector<api_key_ptr> revoked;
        config_errc error = config_errc::ok;
        std::function<void(config_errc)> done;
        void finish() { done(error); }
    };
    auto st = std::make_shared<state>();
    st->handle = std::move(handle);
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            s.revoked.clear(); // prepare runs again when a replicated store retries
            uuid id;
            identity_snapshot snapshot;
            auto r = read_by_handle(txn, s.handle, id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            s.identity = snapshot.identity;
            auto key = id.as_key();
            txn.del(column::identities, key);
            txn.del(column::handles, s.identity.agent_handle);
            if (s.identity.phone_number)
                txn.del(column::phones, *s.identity.phone_number);
            txn.del(column::actions, key);
            txn.del(column::signing_keys, key);
            if (txn.del_prefix(column::contact_rules, key) == read_result::error ||
                txn.del_prefix(column::contact_rule_index, key) == read_result::error) {
                s.error = config_errc::store_failure;
                return false;
            }
            std::vector<std::string> index_keys;
            r = txn.scan(column::api_keys_by_identity, key, [&](std::string_view k, std::string_view) {
                index_keys.emplace_back(k);
                return true;
            });
            if (r == read_result::error) {
                s.error = config_errc::store_failure;
                return false;
            }
            for (const auto& index_key : index_keys) {
                std::string hash, value;
                api_key_record record;
                if (txn.get(column::api_key_ids, std::string_view(index_key).substr(16), hash) !=
                        read_result::found ||
                    txn.get(column::api_keys, hash, value) != read_result::found ||
                    !decode(value, record)) {
                    s.error = config_errc::store_failure;
                    return false;
                }
                record.status = api_key_status::revoked;
                txn.put(column::api_keys, hash, encode(record));
                txn.del(column::api_keys_by_identity, index_key);
                s.revoked.push_back(std::make_shared<const api_key_record>(std::move(record)));
            }
            std::uint64_t count = read_count(txn);
            txn.put(column::meta, identity_count_key, std::to_string(count > 0 ? count - 1 : 0));
            return true;
        },
        [this](state& s) {
            snapshots_.put(s.identity.id, nullptr);
            rules_.erase(s.identity.id);
            if (s.identity.phone_number)
                phones_.put(*s.identity.phone_number, std::nullopt);
            for (auto& key : s.revoked)
                api_keys_.put(key->hash, key);
        }));
}

void config_service::create_api_key(std::string label, const uuid& scoped_identity_id,
                                    std::function<void(config_result<created_api_key>)> done)
{
    struct state {
        created_api_key created;
        config_errc error = config_errc::ok;
        std::function<void(config_result<created_api_key>)> done;
        void finish() { done({error, created}); }
    };
    auto st = std::make_shared<state>();
    st->created.api_key = generate_api_key(random_);
    auto& record = st->created.record;
    record.id = uuid::generate(random_);
    record.label = std::move(label);
    record.scoped_identity_id = scoped_identity_id;
    record.last4 = last4_of(st->created.api_key);
    record.hash = sha256(st->created.api_key);
    record.created_at_us = clock_.now_us();
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            const auto& record = s.created.record;
            std::string value;
            auto r = txn.get(column::identities, record.scoped_identity_id->as_key(), value);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            txn.put(column::api_keys, record.hash, encode(record));
            txn.put(column::api_key_ids, record.id.as_key(), record.hash);
            std::string index_key{record.scoped_identity_id->as_key()};
            index_key += record.id.as_key();
            txn.put(column::api_keys_by_identity, index_key, "");
            return true;
        },
        [this](state& s) {
            api_keys_.put(s.created.record.hash, std::make_shared<const api_key_record>(s.created.record));
        }));
}

void config_service::revoke_api_key(const uuid& key_id, std::function<void(config_errc)> done)
{
    struct state {
        uuid id;
        api_key_ptr revoked;
        config_errc error = config_errc::ok;
        std::function<void(config_errc)> done;
        void finish() { done(error); }
    };
    auto st = std::make_shared<state>(state{key_id, nullptr, config_errc::ok, std::move(done)});
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            std::string hash, value;
            auto r = txn.get(column::api_key_ids, s.id.as_key(), hash);
            if (r == read_result::found)
                r = txn.get(column::api_keys, hash, value);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::api_key_not_found);
                return false;
            }
            api_key_record record;
            if (!decode(value, record)) {
                s.error = config_errc::store_failure;
                return false;
            }
            record.status = api_key_status::revoked;
            txn.put(column::api_keys, hash, encode(record));
            if (record.scoped_identity_id) {
                std::string index_key{record.scoped_identity_id->as_key()};
                index_key += record.id.as_key();
                txn.del(column::api_keys_by_identity, index_key);
            }
            s.revoked = std::make_shared<const api_key_record>(std::move(record));
            return true;
        },
        [this](state& s) { api_keys_.put(s.revoked->hash, s.revoked); }));
}

void config_service::rotate_signing_key(std::string handle,
                                        std::function<void(config_result<signing_key_record>)> done)
{
    struct state {
        std::string handle;
        signing_key_record key;
        snapshot_ptr snapshot;
        config_errc error = config_errc::ok;
        std::function<void(config_result<signing_key_record>)> done;
        void finish() { done({error, key}); }
    };
    auto st = std::make_shared<state>();
    st->handle = std::move(handle);
    st->key = {generate_signing_key(random_), clock_.now_us()};
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            uuid id;
            identity_snapshot snapshot;
            auto r = read_by_handle(txn, s.handle, id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            txn.put(column::signing_keys, id.as_key(), encode(s.key));
            snapshot.signing_key = s.key;
            s.snapshot = std::make_shared<const identity_snapshot>(std::move(snapshot));
            return true;
        },
        [this](state& s) { snapshots_.put(s.snapshot->identity.id, s.snapshot); }));
}

void config_service::organization_id(std::function<void(config_result<uuid>)> done)
{
    {
        std::lock_guard lock(organization_mutex_);
        if (organization_) {
            done({config_errc::ok, *organization_});
            return;
        }
    }
    struct state {
        uuid id;
        config_errc error = config_errc::ok;
        std::function<void(config_result<uuid>)> done;
        void finish() { done({error, id}); }
    };
    auto st = std::make_shared<state>();
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            std::string value;
            auto r = txn.get(column::settings, organization_key, value);
            if (r == read_result::error) {
                s.error = config_errc::store_failure;
                return false;
            }
            if (r == read_result::found) {
                auto stored = uuid::parse(value);
                if (!stored) {
                    s.error = config_errc::store_failure;
                    return false;
                }
                s.id = *stored;
                return false; // made before: nothing to write
            }
            s.id = uuid::generate(random_);
            txn.put(column::settings, organization_key, s.id.to_string());
            return true;
        },
        [this](state& s) {
            std::lock_guard lock(organization_mutex_);
            if (!organization_)
                organization_ = s.id;
            s.id = *organization_;
        }));
}

// --- contact rules ---

namespace {

// A rule's (match type, target) as a number: the target's digits as an
// integer (at most 15, under 2^50), their count, whether it is an exact
// number. In a table slot it is shifted left by one with the action in bit 0,
// so no slot of a rule is 0.
std::uint64_t packed_rule(bool exact, std::uint64_t digits, std::size_t count)
{
    return digits << 5 | static_cast<std::uint64_t>(count) << 1 | (exact ? 1 : 0);
}

constexpr std::size_t max_target_digits = 15;

// The digits of "+" and 1-15 digits as an integer; nullopt for anything else.
std::optional<std::uint64_t> target_digits(std::string_view target)
{
    if (target.size() < 2 || target.size() > max_target_digits + 1 || target[0] != '+')
        return std::nullopt;
    std::uint64_t n = 0;
    for (char c : target.substr(1)) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

std::size_t slot_of(std::uint64_t key, std::size_t slots)
{
    // Fibonacci hashing: the high bits of key * 2^64/phi.
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - std::countr_zero(slots)));
}

} // namespace

void contact_rule_set::add(const contact_rule& rule)
{
    // Targets are validated when written; one that is not "+" and digits could
    // match no E.164 caller anyway.
    auto digits = target_digits(rule.target);
    if (!digits)
        return;
    bool exact = rule.match == match_type::exact_number;
    std::size_t count = rule.target.size() - 1;
    insert(packed_rule(exact, *digits, count) << 1 | (rule.action == rule_action::block ? 1 : 0));
    if (!exact)
        prefix_digits_ |= 1u << count;
}

void contact_rule_set::insert(std::uint64_t slot)
{
    if ((size_ + 1) * 2 > slots_.size()) {
        std::vector<std::uint64_t> old(std::max<std::size_t>(16, slots_.size() * 2), 0);
        old.swap(slots_);
        size_ = 0;
        for (auto s : old)
            if (s != 0)
                insert(s);
    }
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_of(slot >> 1, slots_.size());; i = (i + 1) & mask) {
        if (slots_[i] == 0)
            ++size_;
        else if (slots_[i] >> 1 != slot >> 1)
            continue;
        slots_[i] = slot; // new, or the same target again: its action now
        return;
    }
}

std::optional<rule_action> contact_rule_set::find(std::uint64_t key) const
{
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_of(key, slots_.size());; i = (i + 1) & mask) {
        auto s = slots_[i];
        if (s == 0)
            return std::nullopt;
        if (s >> 1 == key)
            return (s & 1) != 0 ? rule_action::block : rule_action::allow;
    }
}

std::optional<rule_action> contact_rule_set::match(std::string_view caller) const
{
    if (empty() || !is_valid_e164(caller))
        return std::nullopt; // a withheld caller matches no rule
    // The value of the caller's first n digits, for every n.
    std::array<std::uint64_t, max_target_digits + 1> leading{};
    std::size_t count = caller.size() - 1;
    for (std::size_t n = 1; n <= count; ++n)
        leading[n] = leading[n - 1] * 10 + static_cast<std::uint64_t>(caller[n] - '0');
    // The rules that could match, most specific first: the exact number, then
    // the longest prefix down; only lengths some prefix rule has.
    std::array<std::uint64_t, max_target_digits + 1> keys;
    std::size_t k = 0;
    keys[k++] = packed_rule(true, leading[count], count);
    for (std::size_t n = count; n >= 1; --n)
        if ((prefix_digits_ & (1u << n)) != 0)
            keys[k++] = packed_rule(false, leading[n], n);
    // Their slots fetched at once rather than one cache miss after another.
    for (std::size_t i = 0; i < k; ++i)
        __builtin_prefetch(&slots_[slot_of(keys[i], slots_.size())]);
    for (std::size_t i = 0; i < k; ++i)
        if (auto action = find(keys[i]))
            return action;
    return std::nullopt;
}

namespace {

// The index key of a rule's (match_type, target) under its identity.
std::string rule_index_key(const uuid& identity, match_type match, std::string_view target)
{
    std::string key(identity.as_key());
    key += match == match_type::exact_number ? 'e' : 'p';
    key += target;
    return key;
}

std::string rule_count_key(const uuid& identity) { return std::string(identity.as_key()) + "#"; }

std::string rule_key(const uuid& identity, const uuid& rule) { return std::string(identity.as_key()) + std::string(rule.as_key()); }

std::int64_t read_rule_count(write_txn& txn, const uuid& identity)
{
    std::string value;
    std::int64_t n = 0;
    if (txn.get(column::contact_rule_index, rule_count_key(identity), value) == read_result::found)
        std::from_chars(value.data(), value.data() + value.size(), n);
    return n;
}

// Reads the rule `rule_id` of the identity `handle` names: ok, or
// identity_not_found, rule_not_found, store_failure.
config_errc read_rule_by_handle(write_txn& txn, std::string_view handle, const uuid& rule_id, uuid& identity_id,
                                contact_rule& rule)
{
    std::string value;
    auto r = read_handle(txn, handle, identity_id);
    if (r == read_result::found)
        r = txn.get(column::identities, identity_id.as_key(), value);
    if (r != read_result::found)
        return errc_of(r, config_errc::identity_not_found);
    r = txn.get(column::contact_rules, rule_key(identity_id, rule_id), value);
    if (r != read_result::found)
        return errc_of(r, config_errc::rule_not_found);
    return decode(value, rule) ? config_errc::ok : config_errc::store_failure;
}

} // namespace

std::optional<rule_set_ptr> config_service::try_rules(const uuid& identity_id, bool count)
{
    return count ? rules_.get(identity_id) : rules_.peek(identity_id);
}

config_result<rule_set_ptr> config_service::load_rules(const uuid& identity_id)
{
    if (auto cached = rules_.peek(identity_id))
        return {config_errc::ok, *cached};
    auto ticket = rules_.ticket(identity_id);
    auto set = std::make_shared<contact_rule_set>();
    bool corrupt = false;
    auto status = db_.scan(column::contact_rules, identity_id.as_key(), 0, [&](std::string_view, std::string_view value) {
        contact_rule rule;
        if (!decode(value, rule)) {
            corrupt = true;
            return false;
        }
        set->add(rule);
        return true;
    });
    if (!status.ok || corrupt)
        return {config_errc::store_failure, nullptr};
    rule_set_ptr value = std::move(set);
    rules_.fill(identity_id, value, ticket);
    return {config_errc::ok, value};
}

config_result<std::vector<contact_rule>> config_service::list_rules(const rule_filter& filter, std::size_t limit,
                                                                    std::size_t offset)
{
    std::vector<contact_rule> all;
    bool corrupt = false;
    std::string prefix = filter.identity_id ? std::string(filter.identity_id->as_key()) : std::string();
    auto status = db_.scan(column::contact_rules, prefix, 0, [&](std::string_view, std::string_view value) {
        contact_rule rule;
        if (!decode(value, rule)) {
            corrupt = true;
            return false;
        }
        if ((!filter.action || rule.action == *filter.action) && (!filter.match || rule.match == *filter.match) &&
            (!filter.exact_only || rule.match == match_type::exact_number))
            all.push_back(std::move(rule));
        return true;
    });
    if (!status.ok || corrupt)
        return {config_errc::store_failure, {}};
    std::sort(all.begin(), all.end(), [](const contact_rule& a, const contact_rule& b) {
        return a.created_at_us != b.created_at_us ? a.created_at_us > b.created_at_us : b.id < a.id;
    });
    config_result<std::vector<contact_rule>> out;
    for (std::size_t i = offset; i < all.size() && out.value.size() < limit; ++i)
        out.value.push_back(std::move(all[i]));
    return out;
}

config_result<contact_rule> config_service::get_rule(const uuid& identity_id, const uuid& rule_id)
{
    std::string value;
    auto r = db_.get(column::contact_rules, rule_key(identity_id, rule_id), value);
    if (r != read_result::found)
        return {errc_of(r, config_errc::rule_not_found), {}};
    contact_rule rule;
    if (!decode(value, rule))
        return {config_errc::store_failure, {}};
    return {config_errc::ok, std::move(rule)};
}

void config_service::create_rule(std::string handle, new_contact_rule input,
                                 std::function<void(config_result<contact_rule>)> done)
{
    struct state {
        std::string handle;
        new_contact_rule input;
        contact_rule rule;
        config_errc error = config_errc::ok;
        std::function<void(config_result<contact_rule>)> done;
        void finish() { done({error, rule}); }
    };
    auto st = std::make_shared<state>();
    st->handle = std::move(handle);
    st->input = std::move(input);
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            uuid id;
            identity_snapshot snapshot;
            auto r = read_by_handle(txn, s.handle, id, snapshot);
            if (r != read_result::found) {
                s.error = errc_of(r, config_errc::identity_not_found);
                return false;
            }
            if (!snapshot.identity.phone_number) {
                s.error = config_errc::no_phone_number;
                return false;
            }
            std::string existing;
            auto index_key = rule_index_key(id, s.input.match, s.input.target);
            r = txn.get(column::contact_rule_index, index_key, existing);
            if (r != read_result::not_found) {
                s.error = errc_of(r, config_errc::rule_exists);
                if (r == read_result::found) {
                    if (auto existing_id = uuid::from_key(existing))
                        s.rule.id = *existing_id;
                }
                return false;
            }
            auto count = read_rule_count(txn, id);
            if (count >= static_cast<std::int64_t>(max_rules_per_identity)) {
                s.error = config_errc::too_many_rules;
                return false;
            }
            auto now = clock_.now_us();
            s.rule = {uuid::generate_v7(random_, now), id, s.input.action, s.input.match, s.input.target, now, now};
            txn.put(column::contact_rules, rule_key(id, s.rule.id), encode(s.rule));
            txn.put(column::contact_rule_index, index_key, s.rule.id.as_key());
            txn.put(column::contact_rule_index, rule_count_key(id), std::to_string(count + 1));
            return true;
        },
        [this](state& s) { rules_.erase(s.rule.identity_id); }));
}

void config_service::update_rule(std::string handle, uuid rule_id, rule_action action,
                                 std::function<void(config_result<contact_rule>)> done)
{
    struct state {
        std::string handle;
        uuid rule_id;
        rule_action action;
        contact_rule rule;
        config_errc error = config_errc::ok;
        std::function<void(config_result<contact_rule>)> done;
        void finish() { done({error, rule}); }
    };
    auto st = std::make_shared<state>(state{std::move(handle), rule_id, action, {}, config_errc::ok, std::move(done)});
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            uuid id;
            s.error = read_rule_by_handle(txn, s.handle, s.rule_id, id, s.rule);
            if (s.error != config_errc::ok)
                return false;
            s.rule.action = s.action;
            s.rule.updated_at_us = clock_.now_us();
            txn.put(column::contact_rules, rule_key(id, s.rule_id), encode(s.rule));
            return true;
        },
        [this](state& s) { rules_.erase(s.rule.identity_id); }));
}

void config_service::delete_rule(std::string handle, uuid rule_id, std::function<void(config_errc)> done)
{
    struct state {
        std::string handle;
        uuid rule_id;
        uuid identity_id;
        config_errc error = config_errc::ok;
        std::function<void(config_errc)> done;
        void finish() { done(error); }
    };
    auto st = std::make_shared<state>(state{std::move(handle), rule_id, {}, config_errc::ok, std::move(done)});
    db_.submit(make_request<state>(
        st,
        [](state& s, write_txn& txn) {
            contact_rule rule;
            s.error = read_rule_by_handle(txn, s.handle, s.rule_id, s.identity_id, rule);
            if (s.error != config_errc::ok)
                return false;
            auto count = read_rule_count(txn, s.identity_id);
            txn.del(column::contact_rules, rule_key(s.identity_id, s.rule_id));
            txn.del(column::contact_rule_index, rule_index_key(s.identity_id, rule.match, rule.target));
            txn.put(column::contact_rule_index, rule_count_key(s.identity_id), std::to_string(count > 0 ? count - 1 : 0));
            return true;
        },
        [this](state& s) { rules_.erase(s.identity_id); }));
}

api_key_record config_service::admin_key_record(const std::string& key, clock_source& clock, random_source& random)
{
    api_key_record record;
    record.id = uuid::generate(random);
    record.label = "admin";
    record.last4 = last4_of(key);
    record.hash = sha256(key);
    record.created_at_us = clock.now_us();
    return record;
}

void config_service::bootstrap_admin_key(std::optional<std::string> given,
                                         std::function<void(config_result<std::string>)> done)
{
    struct state {
        std::optional<std::string> given;
        std::string generated;
        config_errc error = config_errc::ok;
        std::function<void(config_result<std::string>)> done;
        void finish() { done({error, generated}); }
    };
    auto st = std::make_shared<state>();
    st->given = std::move(given);
    st->done = std::move(done);
    db_.submit(make_request<state>(
        st,
        [this](state& s, write_txn& txn) {
            s.generated.clear();
            std::string key;
            if (s.given) {
                std::string value;
                auto r = txn.get(column::admin_keys, sha256(*s.given), value);
                if (r != read_result::not_found) {
                    s.error = r == read_result::error ? config_errc::store_failure : config_errc::ok;
                    return false; // registered already (or the store failed)
                }
                key = *s.given;
            } else {
                bool any = false;
                auto r = txn.scan(column::admin_keys, "", [&](std::string_view, std::string_view) {
                    any = true;
                    return false;
                });
                if (r == read_result::error || any) {
                    s.error = r == read_result::error ? config_errc::store_failure : config_errc::ok;
                    return false;
                }
                key = generate_api_key(random_);
                s.generated = key;
            }
            auto record = admin_key_record(key, clock_, random_);
            txn.put(column::admin_keys, record.hash, encode(record));
            return true;
        },
        [](state&) {}));
}

bool config_service::add_admin_key(const std::string& admin_keys_path, const std::string& key,
                                   clock_source& clock, random_source& random, std::string& error)
{
    auto record = admin_key_record(key, clock, random);
    admin_key_file file(admin_keys_path);
    if (!file.reload_if_changed(error))
        return false;
    if (file.find(record.hash))
        return true;
    return admin_key_file::append(admin_keys_path, record, error);
}

void config_service::on_applied(column c, std::string_view key)
{
    switch (c) {
    case column::identities:
    case column::actions:
    case column::signing_keys:
        if (auto id = uuid::from_key(key))
            snapshots_.erase(*id);
        break;
    case column::phones: phones_.erase(std::string(key)); break;
    case column::api_keys:
    case column::admin_keys: api_keys_.erase(std::string(key)); break;
    case column::contact_rules:
    case column::contact_rule_index:
        if (auto id = uuid::from_key(key.substr(0, 16)))
            rules_.erase(*id);
        break;
    default: break; // indexes the caches do not hold
    }
}

void config_service::on_reloaded()
{
    snapshots_.clear();
    phones_.clear();
    api_keys_.clear();
    rules_.clear();
}

config_service::cache_stats config_service::stats() const
{
    return {snapshots_.hits() + phones_.hits(), snapshots_.misses() + phones_.misses(),
            snapshots_.size() + phones_.size()};
}

} // namespace callgate::engine
