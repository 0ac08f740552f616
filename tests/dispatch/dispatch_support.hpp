#pragma once

#include "callgate/engine/json_object.hpp"
#include "callgate/engine/uuid.hpp"
#include "callgate/testing/http_client.hpp"
#include "callgate/testing/server_process.hpp"
#include "callgate/testing/temp_dir.hpp"
#include "callgate/testing/tls_files.hpp"
#include "callgate/testing/webhook_server.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace callgate::testing {

// callgate with its edge listener, plus a real TLS webhook server whose
// certificate comes from a CA made for the test (passed as --ca-file).
class dispatch_test : public ::testing::Test {
protected:
    static constexpr const char* admin = "cg_dispatch_admin_key_0123456789";

    void SetUp() override;
    void TearDown() override;
    // Flags beyond --ca-file; by default private destinations are allowed and the budget is 1.5 s.
    virtual std::vector<std::string> extra_args() const
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "1500"};
    }

    http_reply api(const std::string& method, const std::string& target, const std::string& body = {});
    http_reply edge(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& token);
    // POST /v1/calls/decide; returns the parsed reply (and asserts 200).
    engine::json_object decide(const std::string& body);
    engine::json_object decide_number(const std::string& dialed, const std::string& caller = "+15550199");

    std::string create_identity(const std::string& handle, const std::string& phone);
    void set_action(const std::string& id, const std::string& action, const std::string& ws_url,
                    const std::string& hook_url);
    std::string rotate_signing_key(const std::string& handle);
    std::string metrics();

    std::unique_ptr<temp_dir> dir_;
    test_pki pki_;
    std::unique_ptr<webhook_server> hook_;
    std::unique_ptr<server_process> server_;
    std::unique_ptr<http_connection> api_connection_;
    std::unique_ptr<http_connection> edge_connection_;
};

std::string text_of(const engine::json_object& doc, const std::string& key);

} // namespace callgate::testing
