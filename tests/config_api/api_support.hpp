#pragma once

#include "callgate/engine/json_object.hpp"
#include "callgate/testing/http_client.hpp"
#include "callgate/testing/server_process.hpp"
#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace callgate::testing {

// The fields of a JSON reply, parsed with the engine's parser.
engine::json_object parse_json(const std::string& body);
std::string detail_of(const http_reply& reply);

// A running callgate for one test: temp data dir, port 0, a known admin key.
class api_test : public ::testing::Test {
protected:
    static constexpr const char* admin = "cg_test_admin_key_0123456789abcdef";

    void SetUp() override;
    void TearDown() override;
    virtual std::vector<std::string> extra_args() const { return {}; }

    // A request with X-API-Key `key` (none if empty) and a JSON body if given.
    http_reply call(const std::string& method, const std::string& target, const std::string& key,
                    const std::string& body = {}, const std::string& content_type = "application/json");

    // Creates an identity as admin and returns its id.
    std::string create_identity(const std::string& handle, const std::string& phone = {});
    // Mints a key scoped to `identity_id` and returns it.
    std::string scoped_key(const std::string& identity_id);
    // PUTs an incoming-call action as admin; returns the reply.
    http_reply put_action(const std::string& identity_id, const std::string& action,
                          const std::string& ws_url = {}, const std::string& hook_url = {});

    std::unique_ptr<temp_dir> dir_;
    std::unique_ptr<server_process> server_;
    std::unique_ptr<http_connection> connection_;
};

// Asserts status and, when given, the exact detail message.
#define EXPECT_ERROR(reply, status_code, message)                                          \
    do {                                                                                   \
        const auto& r_ = (reply);                                                          \
        EXPECT_EQ(r_.status, status_code) << r_.body;                                      \
        EXPECT_EQ(r_.header("Content-Type"), "application/json") << r_.body;              \
        if (std::string(message).size() > 0) {                                             \
            EXPECT_EQ(::callgate::testing::detail_of(r_), message) << r_.body;            \
        }                                                                                  \
    } while (0)

} // namespace callgate::testing
