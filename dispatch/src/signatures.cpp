#include "callgate/dispatch/signatures.hpp"

#include "callgate/codec/base64.hpp"

#include "callgate/engine/secrets.hpp"

namespace callgate::dispatch {
namespace {

std::string_view strip_prefix(std::string_view key)
{
    constexpr std::string_view prefix = "whsec_";
    return key.starts_with(prefix) ? key.substr(prefix.size()) : key;
}

std::string signed_content(std::string_view id, std::string_view timestamp, std::string_view payload)
{
    std::string content;
    content.reserve(id.size() + timestamp.size() + payload.size() + 2);
    content.append(id).append(".").append(timestamp).append(".").append(payload);
    return content;
}

} // namespace

std::string inkbox_signature(std::string_view signing_key, std::string_view request_id,
                             std::string_view timestamp, std::string_view payload)
{
    return "sha256=" + engine::hex_encode(engine::hmac_sha256(strip_prefix(signing_key),
                                                              signed_content(request_id, timestamp, payload)));
}

std::string standard_webhooks_signature(std::string_view signing_key, std::string_view id,
                                        std::string_view timestamp, std::string_view payload)
{
    std::string key;
    if (!codec::base64_decode(strip_prefix(signing_key), key))
        key = std::string(strip_prefix(signing_key));
    return "v1," + codec::base64_encode(engine::hmac_sha256(key, signed_content(id, timestamp, payload)));
}

} // namespace callgate::dispatch
