#include "callgate/dispatch/signatures.hpp"

#include <gtest/gtest.h>

namespace callgate::dispatch {
namespace {

// Known answers computed with Python's hmac module:
//   hmac.new(b"c2VjcmV0", b"msg_1.1700000000.{}", sha256).hexdigest()
//   b64encode(hmac.new(b64decode("c2VjcmV0"), b"msg_1.1700000000.{}", sha256).digest())
TEST(signatures, inkbox_keys_with_the_utf8_text_after_whsec)
{
    EXPECT_EQ(inkbox_signature("whsec_c2VjcmV0", "msg_1", "1700000000", "{}"),
              "sha256=a4c53b3f2e03a601b3eebe89488bf56cd86756d6b612ced951e5e9d524d050c6");
}

TEST(signatures, standard_webhooks_keys_with_the_decoded_bytes)
{
    EXPECT_EQ(standard_webhooks_signature("whsec_c2VjcmV0", "msg_1", "1700000000", "{}"),
              "v1,A5oIrJxXPB/PkULSoVu0e4khvPiqpF9vljmhkSKg0FI=");
}

TEST(signatures, change_with_every_input)
{
    auto base = inkbox_signature("whsec_c2VjcmV0", "id", "1", "body");
    EXPECT_NE(base, inkbox_signature("whsec_c2VjcmV1", "id", "1", "body"));
    EXPECT_NE(base, inkbox_signature("whsec_c2VjcmV0", "id2", "1", "body"));
    EXPECT_NE(base, inkbox_signature("whsec_c2VjcmV0", "id", "2", "body"));
    EXPECT_NE(base, inkbox_signature("whsec_c2VjcmV0", "id", "1", "body "));
}

} // namespace
} // namespace callgate::dispatch
