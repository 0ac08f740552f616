// Webhook decisions against a real TLS webhook server: replies, failures and
// their reasons, budgets, signatures (checked with independent code), pooling,
// the circuit breaker, the bulkhead and the destination policy.
#include "dispatch_support.hpp"

#include "callgate/testing/time_scale.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <thread>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

// --- Independent verifiers, written from the formulas, not from callgate's code.

std::string hex(const unsigned char* data, unsigned len)
{
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 15];
    }
    return out;
}

std::string hmac(const std::string& key, const std::string& message, unsigned& len, unsigned char* out)
{
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
    return {};
}

// Inkbox's verify_webhook: "sha256=" + hex HMAC(secret minus "whsec_" as UTF-8, "{id}.{ts}." + body).
bool inkbox_verify(const received_request& r, const std::string& secret)
{
    std::string key = secret.rfind("whsec_", 0) == 0 ? secret.substr(6) : secret;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    hmac(key, r.header("X-Inkbox-Request-ID") + "." + r.header("X-Inkbox-Timestamp") + "." + r.body, len, mac);
    return r.header("X-Inkbox-Signature") == "sha256=" + hex(mac, len);
}

// Standard Webhooks: "v1," + base64 HMAC(base64-decoded secret after "whsec_", "{id}.{ts}.{body}").
bool standard_webhooks_verify(const received_request& r, const std::string& secret)
{
    std::string b64 = secret.substr(6);
    std::string key(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(key.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0)
        return false;
    key.resize(static_cast<std::size_t>(n) - (b64.size() - b64.find_last_not_of('=') - 1));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    hmac(key, r.header("webhook-id") + "." + r.header("webhook-timestamp") + "." + r.body, len, mac);
    std::string encoded(4 * ((len + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), mac, static_cast<int>(len));
    std::string header = r.header("webhook-signature");
    // A space-separated list of "v1,<sig>" entries.
    std::size_t at = 0;
    while (at < header.size()) {
        auto end = header.find(' ', at);
        if (header.substr(at, end - at) == "v1," + encoded)
            return true;
        if (end == std::string::npos)
            break;
        at = end + 1;
    }
    return false;
}

class webhook : public dispatch_test {
protected:
    void SetUp() override
    {
        dispatch_test::SetUp();
        id_ = create_identity("bot", "+15550100");
        set_action(id_, "webhook", "wss://default.example.com/ws", hook_->url());
    }
    void reply_with(canned_reply reply)
    {
        hook_->set_reply([reply](const received_request&) { return reply; });
    }
    std::string id_;
};

TEST_F(webhook, answer_with_a_url_from_the_reply)
{
    reply_with({200, R"({"action":"answer","client_websocket_url":"wss://agent.example.com/from-hook"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "answer");
    EXPECT_EQ(text_of(d, "source"), "webhook");
    EXPECT_EQ(text_of(d, "client_websocket_url"), "wss://agent.example.com/from-hook");
    ASSERT_EQ(hook_->requests().size(), 1u);
}

TEST_F(webhook, answer_without_a_url_uses_the_configured_one)
{
    reply_with({200, R"({"action":"answer"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "answer");
    EXPECT_EQ(text_of(d, "client_websocket_url"), "wss://default.example.com/ws");
}

TEST_F(webhook, answer_without_any_url_is_webhook_error)
{
    set_action(id_, "webhook", "", hook_->url());
    reply_with({200, R"({"action":"answer"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "reason"), "webhook_error");
    EXPECT_EQ(text_of(d, "source"), "webhook");
}

TEST_F(webhook, reject_is_webhook_rejected)
{
    reply_with({200, R"({"action":"reject"})"});
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "action"), "reject");
    EXPECT_EQ(text_of(d, "source"), "webhook");
    EXPECT_EQ(text_of(d, "reason"), "webhook_rejected");
}

TEST_F(webhook, replies_that_are_not_a_clear_answer_are_webhook_error)
{
    struct row {
        const char* name;
        canned_reply reply;
    };
    const row table[] = {
        {"non-200", {500, R"({"action":"answer"})"}},
        {"404", {404, R"({"action":"answer"})"}},
        {"201", {201, R"({"action":"answer"})"}},
        {"3xx is not followed", {302, "", {{"Location", "https://localhost/elsewhere"}}}},
        {"invalid JSON", {200, "answer please"}},
        {"not an object", {200, R"(["answer"])"}},
        {"unknown action", {200, R"({"action":"transfer"})"}},
        {"no action", {200, R"({"client_websocket_url":"wss://a.example.com"})"}},
        {"insecure client url", {200, R"({"action":"answer","client_websocket_url":"ws://a.example.com"})"}},
        {"over 64 KiB", {200, R"({"action":"answer","pad":")" + std::string(70 * 1024, 'x') + "\"}"}},
    };
    for (const auto& r : table) {
        SCOPED_TRACE(r.name);
        reply_with(r.reply);
        auto d = decide_number("+15550100");
        EXPECT_EQ(text_of(d, "action"), "reject");
        EXPECT_EQ(text_of(d, "source"), "webhook");
        EXPECT_EQ(text_of(d, "reason"), "webhook_error");
    }
}

TEST_F(webhook, a_webhook_that_never_answers_is_webhook_timeout_within_the_budget)
{
    reply_with({.hang = true});
    auto started = std::chrono::steady_clock::now();
    auto d = decide_number("+15550100");
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(text_of(d, "reason"), "webhook_timeout");
    EXPECT_EQ(text_of(d, "source"), "webhook");
    EXPECT_GE(took, 1400ms); // the budget is 1.5 s
    EXPECT_LT(took, 2500ms);
}

TEST_F(webhook, a_late_reply_after_the_budget_is_still_a_timeout)
{
    reply_with({200, R"({"action":"answer"})", {}, 1700ms});
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_timeout");
}

TEST_F(webhook, connection_refused_is_webhook_error)
{
    std::string closed_url;
    {
        webhook_server gone(pki_.server_cert, pki_.server_key, nullptr);
        closed_url = gone.url();
    }
    set_action(id_, "webhook", "", closed_url);
    auto started = std::chrono::steady_clock::now();
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "reason"), "webhook_error");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
}

TEST_F(webhook, a_certificate_from_an_untrusted_ca_is_webhook_error)
{
    temp_dir other;
    auto other_pki = make_test_pki(other.path());
    webhook_server impostor(other_pki.server_cert, other_pki.server_key,
                            [](const received_request&) { return canned_reply{200, R"({"action":"answer"})"}; });
    set_action(id_, "webhook", "wss://default.example.com/ws", impostor.url());
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "reason"), "webhook_error");
    EXPECT_TRUE(impostor.requests().empty()) << "the request was sent over an unverified connection";
}

TEST_F(webhook, a_certificate_for_another_name_is_webhook_error)
{
    reply_with({200, R"({"action":"answer"})"});
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
    set_action(id_, "webhook", "wss://default.example.com/ws", hook_->url("/hook", "127.0.0.2"));
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_error");
    EXPECT_TRUE(hook_->requests().empty());
}

TEST_F(webhook, the_request_is_a_signed_flat_call_object)
{
    auto secret = rotate_signing_key("bot");
    reply_with({200, R"({"action":"reject"})"});
    auto d = decide_number("+15550100", "+15550199");
    auto requests = hook_->requests();
    ASSERT_EQ(requests.size(), 1u);
    const auto& r = requests[0];
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hook");
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.header("User-Agent").rfind("callgate/", 0), 0u);
    EXPECT_TRUE(engine::uuid::parse(r.header("X-Inkbox-Request-ID")));
    auto ts = std::stoll(r.header("X-Inkbox-Timestamp"));
    EXPECT_LT(std::abs(ts - std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()),
              60);
    EXPECT_TRUE(inkbox_verify(r, secret)) << r.header("X-Inkbox-Signature");
    EXPECT_TRUE(standard_webhooks_verify(r, secret)) << r.header("webhook-signature");
    // A wrong key fails both.
    auto other = rotate_signing_key("bot");
    EXPECT_FALSE(inkbox_verify(r, other));
    EXPECT_FALSE(standard_webhooks_verify(r, other));
    auto tampered = r;
    tampered.body += " ";
    EXPECT_FALSE(inkbox_verify(tampered, secret));

    engine::json_object body;
    ASSERT_EQ(body.parse(r.body), engine::json_parse_error::ok) << r.body;
    EXPECT_EQ(text_of(body, "id"), text_of(d, "call_id"));
    EXPECT_EQ(text_of(body, "local_phone_number"), "+15550100");
    EXPECT_EQ(text_of(body, "remote_phone_number"), "+15550199");
    EXPECT_EQ(text_of(body, "direction"), "inbound");
    EXPECT_EQ(text_of(body, "status"), "ringing");
    EXPECT_EQ(text_of(body, "client_websocket_url"), "wss://default.example.com/ws");
    for (auto key : {"use_inkbox_tts", "use_inkbox_stt", "hangup_reason", "started_at", "ended_at", "rate_limit"})
        EXPECT_EQ(text_of(body, key), "<null>") << key;
    EXPECT_NE(text_of(body, "created_at"), "<absent>");
    EXPECT_NE(text_of(body, "updated_at"), "<absent>");
    EXPECT_EQ(body.find("agent_identities")->type, engine::json_type::array);
    EXPECT_EQ(body.find("contacts")->type, engine::json_type::array);
    EXPECT_NE(r.body.find("\"agent_identities\":[{\"id\":\"" + id_ + "\",\"agent_handle\":\"bot\",\"display_name\":\"Agent bot\"}]"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("\"contacts\":[]"), std::string::npos);
}

TEST_F(webhook, unsigned_without_a_signing_key)
{
    reply_with({200, R"({"action":"reject"})"});
    decide_number("+15550100");
    auto r = hook_->requests().at(0);
    EXPECT_EQ(r.header("X-Inkbox-Signature"), "");
    EXPECT_EQ(r.header("webhook-signature"), "");
    EXPECT_NE(r.header("X-Inkbox-Request-ID"), "");
}

TEST_F(webhook, keep_alive_connections_are_reused)
{
    reply_with({200, R"({"action":"reject"})"});
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_rejected");
    EXPECT_EQ(hook_->requests().size(), 20u);
    // One connection per I/O thread at most (the test machine has few cores).
    EXPECT_LE(hook_->connections_accepted(), 4u);
}

TEST_F(webhook, a_hanging_webhook_does_not_slow_other_identities)
{
    reply_with({.hang = true});
    auto other = create_identity("fast", "+15550200");
    set_action(other, "auto_accept", "wss://agent.example.com/ws", "");
    // Several calls wait on the hanging webhook…
    std::vector<std::thread> waiting;
    for (int i = 0; i < 8; ++i)
        waiting.emplace_back([this] {
            http_connection c(server_->edge_address());
            c.request("POST", "/v1/calls/decide",
                      {{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}},
                      R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})", 10s);
        });
    std::this_thread::sleep_for(200ms); // let them reach the webhook (not a correctness wait)
    // …while config decisions for another identity stay fast.
    for (int i = 0; i < 20; ++i) {
        auto started = std::chrono::steady_clock::now();
        auto d = decide_number("+15550200");
        auto took = std::chrono::steady_clock::now() - started;
        EXPECT_EQ(text_of(d, "action"), "answer");
        // Far under the webhook budget (4 s) the waiting calls are stuck in; scaled under sanitizers.
        EXPECT_LT(took, scaled(50ms));
    }
    for (auto& t : waiting)
        t.join();
}

class webhook_breaker : public webhook {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "300", "--webhook-breaker-failures", "3",
                "--webhook-breaker-open-ms", "800"};
    }
};

TEST_F(webhook_breaker, opens_after_consecutive_failures_and_closes_after_a_good_trial)
{
    reply_with({.hang = true});
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_timeout");
    auto sent = hook_->requests().size();
    // Open: rejected at once, without a request.
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_error");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 200ms);
    EXPECT_EQ(hook_->requests().size(), sent);
    EXPECT_NE(metrics().find("callgate_webhook_requests_total{outcome=\"circuit_open\"} 1"), std::string::npos);
    // After the open period one trial goes through; its success closes the breaker.
    reply_with({200, R"({"action":"reject"})"});
    auto deadline = std::chrono::steady_clock::now() + 5s;
    std::string reason;
    while (std::chrono::steady_clock::now() < deadline && reason != "webhook_rejected") {
        reason = text_of(decide_number("+15550100"), "reason");
        if (reason != "webhook_rejected")
            std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(reason, "webhook_rejected");
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_rejected");
}

class webhook_bulkhead : public webhook {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "2000", "--webhook-max-in-flight", "1"};
    }
};

TEST_F(webhook_bulkhead, a_full_origin_sheds_load_as_overloaded)
{
    reply_with({200, R"({"action":"reject"})", {}, 1000ms});
    std::thread first([this] {
        http_connection c(server_->edge_address());
        c.request("POST", "/v1/calls/decide", {{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}},
                  R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})", 10s);
    });
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (hook_->requests().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    auto d = decide_number("+15550100");
    EXPECT_EQ(text_of(d, "reason"), "overloaded");
    EXPECT_EQ(text_of(d, "source"), "engine");
    first.join();
}

class webhook_breaker_bulkhead : public webhook {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "1500", "--webhook-max-in-flight", "1",
                "--webhook-breaker-failures", "2", "--webhook-breaker-open-ms", "30000"};
    }
};

// A request shed by the full bulkhead never reached the origin: it must not
// count as a success that resets the breaker (else a hanging webhook under
// load never trips it).
TEST_F(webhook_breaker_bulkhead, a_shed_request_does_not_reset_the_breaker)
{
    reply_with({.hang = true});
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_timeout"); // failure 1
    std::string second;
    std::thread hanging([this, &second] {
        http_connection c(server_->edge_address()); // its own connection: the fixture's is in use below
        auto r = c.request("POST", "/v1/calls/decide",
                           {{"X-Edge-Token", server_->edge_token()}, {"Content-Type", "application/json"}},
                           R"({"local_phone_number":"+15550100","remote_phone_number":"+1"})", 10s);
        second = r.body;
    });
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (hook_->requests().size() < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "overloaded"); // shed, not sent
    hanging.join();
    EXPECT_NE(second.find("\"reason\":\"webhook_timeout\""), std::string::npos) << second; // failure 2: opens
    auto sent = hook_->requests().size();
    EXPECT_EQ(text_of(decide_number("+15550100"), "reason"), "webhook_error");
    EXPECT_EQ(hook_->requests().size(), sent) << "the breaker should be open";
}

class webhook_policy : public webhook {
    // No --allow-private-destinations: the webhook on 127.0.0.1 is refused.
    std::vector<std::string> extra_args() const override { return {"--webhook-timeout-ms", "1500"}; }
};

TEST_F(webhook_policy, private_destinations_are_blocked_by_default)
{
    reply_with({200, R"({"action":"answer"})"});
    for (auto host : {"localhost", "127.0.0.1"}) {
        SCOPED_TRACE(host);
        set_action(id_, "webhook", "wss://default.example.com/ws", hook_->url("/hook", host));
        auto d = decide_number("+15550100");
        EXPECT_EQ(text_of(d, "reason"), "webhook_blocked");
        EXPECT_EQ(text_of(d, "source"), "webhook");
    }
    EXPECT_TRUE(hook_->requests().empty());
}

} // namespace
} // namespace callgate::testing
