#include "callgate/cluster/key_layout.hpp"

#include "callgate/engine/secrets.hpp"
#include "callgate/engine/uuid.hpp"

#include "callgate/net/etcd_client.hpp"

namespace callgate::cluster {
namespace {

using engine::column;
using engine::uuid;

constexpr std::string_view id_dir = "id/";
constexpr std::string_view handle_dir = "handle/";
constexpr std::string_view phone_dir = "phone/";
constexpr std::string_view apikey_dir = "apikey/";
constexpr std::string_view apikey_id_dir = "apikey-id/";
constexpr std::string_view admin_dir = "admin/";
constexpr std::string_view setting_dir = "setting/";

std::optional<std::string> uuid_text(std::string_view key)
{
    auto id = uuid::from_key(key);
    if (!id)
        return std::nullopt;
    return id->to_string();
}

std::optional<std::string> uuid_key(std::string_view text)
{
    auto id = uuid::parse(text);
    if (!id || id->to_string() != text) // only the canonical lowercase form we write
        return std::nullopt;
    return std::string(id->as_key());
}

std::optional<std::string> unhex(std::string_view text)
{
    if (text.size() % 2 != 0)
        return std::nullopt;
    std::string out;
    out.reserve(text.size() / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); i += 2) {
        int hi = nibble(text[i]), lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return out;
}

bool consume(std::string_view& text, std::string_view head)
{
    if (!text.starts_with(head))
        return false;
    text.remove_prefix(head.size());
    return true;
}

} // namespace

key_layout::key_layout(std::string prefix) : prefix_(std::move(prefix))
{
    if (prefix_.empty() || prefix_.back() != '/')
        prefix_ += '/';
    config_ = prefix_ + "config/";
    nodes_ = prefix_ + "nodes/";
}

bool key_layout::replicated(column c)
{
    switch (c) {
    case column::identities:
    case column::handles:
    case column::phones:
    case column::actions:
    case column::signing_keys:
    case column::api_keys:
    case column::api_key_ids:
    case column::api_keys_by_identity:
    case column::admin_keys:
    case column::contact_rules:
    case column::contact_rule_index:
    case column::settings: return true;
    default: return false;
    }
}

std::optional<std::string> key_layout::key_of(column c, std::string_view local_key) const
{
    auto under_identity = [&](std::string_view id_key, std::string_view leaf) -> std::optional<std::string> {
        auto id = uuid_text(id_key);
        if (!id)
            return std::nullopt;
        return config_ + std::string(id_dir) + *id + "/" + std::string(leaf);
    };
    switch (c) {
    case column::identities: return under_identity(local_key, "identity");
    case column::actions: return under_identity(local_key, "action");
    case column::signing_keys: return under_identity(local_key, "signing_key");
    case column::api_keys_by_identity: {
        if (local_key.size() != 32)
            return std::nullopt;
        auto key_id = uuid_text(local_key.substr(16));
        if (!key_id)
            return std::nullopt;
        return under_identity(local_key.substr(0, 16), "key/" + *key_id);
    }
    case column::contact_rules: {
        if (local_key.size() != 32)
            return std::nullopt;
        auto rule_id = uuid_text(local_key.substr(16));
        if (!rule_id)
            return std::nullopt;
        return under_identity(local_key.substr(0, 16), "rule/" + *rule_id);
    }
    case column::contact_rule_index: {
        if (local_key.size() < 17)
            return std::nullopt;
        auto rest = local_key.substr(16);
        if (rest == "#")
            return under_identity(local_key.substr(0, 16), "rule-count");
        if (rest.front() != 'e' && rest.front() != 'p')
            return std::nullopt;
        return under_identity(local_key.substr(0, 16), "rule-match/" + std::string(rest));
    }
    case column::handles: return config_ + std::string(handle_dir) + std::string(local_key);
    case column::settings: return config_ + std::string(setting_dir) + std::string(local_key);
    case column::phones: return config_ + std::string(phone_dir) + std::string(local_key);
    case column::api_keys: return config_ + std::string(apikey_dir) + engine::hex_encode(local_key);
    case column::admin_keys: return config_ + std::string(admin_dir) + engine::hex_encode(local_key);
    case column::api_key_ids: {
        auto id = uuid_text(local_key);
        if (!id)
            return std::nullopt;
        return config_ + std::string(apikey_id_dir) + *id;
    }
    default: return std::nullopt;
    }
}

std::optional<key_layout::local_key> key_layout::parse(std::string_view etcd_key) const
{
    if (!consume(etcd_key, config_))
        return std::nullopt;
    if (consume(etcd_key, id_dir)) {
        auto slash = etcd_key.find('/');
        if (slash == std::string_view::npos)
            return std::nullopt;
        auto id = uuid_key(etcd_key.substr(0, slash));
        if (!id)
            return std::nullopt;
        auto leaf = etcd_key.substr(slash + 1);
        if (leaf == "identity")
            return local_key{column::identities, *id};
        if (leaf == "action")
            return local_key{column::actions, *id};
        if (leaf == "signing_key")
            return local_key{column::signing_keys, *id};
        if (consume(leaf, "rule/")) {
            auto rule_id = uuid_key(leaf);
            if (!rule_id)
                return std::nullopt;
            return local_key{column::contact_rules, *id + *rule_id};
        }
        if (leaf == "rule-count")
            return local_key{column::contact_rule_index, *id + "#"};
        if (consume(leaf, "rule-match/")) {
            if (leaf.size() < 2 || (leaf.front() != 'e' && leaf.front() != 'p'))
                return std::nullopt;
            return local_key{column::contact_rule_index, *id + std::string(leaf)};
        }
        if (consume(leaf, "key/")) {
            auto key_id = uuid_key(leaf);
            if (!key_id)
                return std::nullopt;
            return local_key{column::api_keys_by_identity, *id + *key_id};
        }
        return std::nullopt;
    }
    if (consume(etcd_key, handle_dir))
        return etcd_key.empty() ? std::nullopt : std::optional<local_key>(local_key{column::handles, std::string(etcd_key)});
    if (consume(etcd_key, setting_dir))
        return etcd_key.empty() ? std::nullopt : std::optional<local_key>(local_key{column::settings, std::string(etcd_key)});
    if (consume(etcd_key, phone_dir))
        return etcd_key.empty() ? std::nullopt : std::optional<local_key>(local_key{column::phones, std::string(etcd_key)});
    if (consume(etcd_key, apikey_id_dir)) {
        auto id = uuid_key(etcd_key);
        if (!id)
            return std::nullopt;
        return local_key{column::api_key_ids, *id};
    }
    for (auto [dir, c] : {std::pair{apikey_dir, column::api_keys}, std::pair{admin_dir, column::admin_keys}}) {
        if (!consume(etcd_key, dir))
            continue;
        auto hash = unhex(etcd_key);
        if (!hash || hash->size() != 32)
            return std::nullopt;
        return local_key{c, *hash};
    }
    return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> key_layout::range_of(column c, std::string_view local_prefix) const
{
    auto whole = [&](std::string_view dir) -> std::optional<std::pair<std::string, std::string>> {
        std::string key = config_ + std::string(dir);
        auto end = net::etcd_prefix_end(key);
        return std::pair{std::move(key), std::move(end)};
    };
    switch (c) {
    case column::api_keys_by_identity:
    case column::contact_rules:
    case column::contact_rule_index: {
        if (local_prefix.size() != 16)
            return std::nullopt;
        auto id = uuid_text(local_prefix);
        if (!id)
            return std::nullopt;
        std::string_view leaf = c == column::api_keys_by_identity ? "/key/" : c == column::contact_rules ? "/rule/" : "/rule-";
        std::string key = config_ + std::string(id_dir) + *id + std::string(leaf);
        auto end = net::etcd_prefix_end(key);
        return std::pair{std::move(key), std::move(end)};
    }
    case column::handles:
        if (local_prefix.empty())
            return whole(handle_dir);
        return std::nullopt;
    case column::phones:
        if (local_prefix.empty())
            return whole(phone_dir);
        return std::nullopt;
    case column::api_keys:
        if (local_prefix.empty())
            return whole(apikey_dir);
        return std::nullopt;
    case column::api_key_ids:
        if (local_prefix.empty())
            return whole(apikey_id_dir);
        return std::nullopt;
    case column::admin_keys:
        if (local_prefix.empty())
            return whole(admin_dir);
        return std::nullopt;
    default: return std::nullopt;
    }
}

std::string wrap_value(std::string_view record, std::int64_t written_at_us)
{
    std::string out;
    out.reserve(9 + record.size());
    out.push_back('\x01');
    auto t = static_cast<std::uint64_t>(written_at_us);
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((t >> shift) & 0xff));
    out.append(record);
    return out;
}

bool unwrap_value(std::string_view stored, std::string_view& record, std::int64_t& written_at_us)
{
    if (stored.size() < 9 || stored[0] != '\x01')
        return false;
    std::uint64_t t = 0;
    for (int i = 1; i <= 8; ++i)
        t = t << 8 | static_cast<unsigned char>(stored[i]);
    written_at_us = static_cast<std::int64_t>(t);
    record = stored.substr(9);
    return true;
}

} // namespace callgate::cluster
