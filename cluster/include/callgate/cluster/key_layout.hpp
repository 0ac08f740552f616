#pragma once

#include "callgate/engine/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace callgate::cluster {

// Where each replicated record lives in etcd. Under `<prefix>config/`:
//
//   id/<uuid>/identity        identities       the identity
//   id/<uuid>/action          actions          its incoming-call action
//   id/<uuid>/signing_key     signing_keys     its webhook signing key
//   id/<uuid>/key/<key uuid>  api_keys_by_identity  its scoped API keys
//   id/<uuid>/rule/<rule uuid>      contact_rules       its phone contact rules
//   id/<uuid>/rule-match/<e|p><target>  contact_rule_index  their uniqueness index
//   id/<uuid>/rule-count            contact_rule_index  how many it has
//   handle/<agent_handle>     handles          uniqueness index → identity id
//   phone/<e164>              phones           uniqueness index → identity id
//   apikey/<sha256 hex>       api_keys         API key records (hashes only)
//   apikey-id/<key uuid>      api_key_ids      key id → hash
//   admin/<sha256 hex>        admin_keys       admin key records (hashes only)
//   setting/<name>            settings         deployment-wide settings (organization_id)
//
// so an identity and what it owns is the key range `id/<uuid>/`, and each
// uniqueness index is a key of its own. Call records and counters (column
// meta) are per node and never leave it. Under `<prefix>nodes/`: the node
// registry, outside the range the config watch covers.
class key_layout {
public:
    // `prefix` is --etcd-prefix; a missing trailing '/' is added.
    explicit key_layout(std::string prefix);

    const std::string& prefix() const { return prefix_; }
    const std::string& config_prefix() const { return config_; } // <prefix>config/
    const std::string& nodes_prefix() const { return nodes_; }   // <prefix>nodes/
    // The marker `callgate cluster import` holds while it copies a store in.
    std::string import_marker() const { return config_ + "import"; }

    // Whether a column's records are replicated (false: call records, counters).
    static bool replicated(engine::column c);

    // The etcd key of a local record; nullopt when the column is not
    // replicated or the local key is malformed.
    std::optional<std::string> key_of(engine::column c, std::string_view local_key) const;

    struct local_key {
        engine::column column;
        std::string key;
    };
    // The local record an etcd key stands for; nullopt for keys under the
    // config prefix that are not records (the import marker, unknown kinds).
    std::optional<local_key> parse(std::string_view etcd_key) const;

    // The etcd range [key, range_end) holding exactly the local keys of `c`
    // that start with `local_prefix`; nullopt when no single range does.
    std::optional<std::pair<std::string, std::string>> range_of(engine::column c,
                                                                std::string_view local_prefix) const;

private:
    std::string prefix_, config_, nodes_;
};

// Values as stored in etcd: a version byte, the writer's clock in µs since the
// Unix epoch (8 bytes, big-endian; for callgate_etcd_apply_lag_seconds), then
// the record's own encoding (the same bytes the local store keeps).
std::string wrap_value(std::string_view record, std::int64_t written_at_us);
bool unwrap_value(std::string_view stored, std::string_view& record, std::int64_t& written_at_us);

} // namespace callgate::cluster
