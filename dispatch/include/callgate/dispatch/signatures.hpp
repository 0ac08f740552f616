#pragma once

#include <string>
#include <string_view>

namespace callgate::dispatch {

// "sha256=" + hex HMAC-SHA256(key, "{request_id}.{timestamp}." + payload), where the
// key is the UTF-8 bytes of `signing_key` without its "whsec_" prefix — what
// Inkbox's verify_webhook checks (X-Inkbox-Signature).
std::string inkbox_signature(std::string_view signing_key, std::string_view request_id,
                             std::string_view timestamp, std::string_view payload);

// "v1," + base64 HMAC-SHA256(key, "{id}.{timestamp}.{payload}"), where the key
// is the base64-decoded bytes after "whsec_" — Standard Webhooks' scheme
// (webhook-signature).
std::string standard_webhooks_signature(std::string_view signing_key, std::string_view id,
                                        std::string_view timestamp, std::string_view payload);

} // namespace callgate::dispatch
