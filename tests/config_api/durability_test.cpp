// Acknowledged writes survive kill -9: many concurrent PUTs, the process is
// killed mid-stream, restarted, and every PUT that was answered 200 is there,
// byte for byte (or the single newer PUT that was in flight for that identity).
#include "api_support.hpp"

#include <atomic>
#include <mutex>
#include <thread>

namespace callgate::testing {
namespace {

class durability : public api_test {};

TEST_F(durability, acknowledged_puts_survive_kill_9_repeatedly)
{
    constexpr int writers = 16;
    constexpr int identities_per_writer = 4;
    std::vector<std::vector<std::string>> ids(writers);
    for (int w = 0; w < writers; ++w)
        for (int i = 0; i < identities_per_writer; ++i)
            ids[w].push_back(create_identity("w" + std::to_string(w) + "-" + std::to_string(i)));

    // What each identity must read back: the last acknowledged body, or the one in flight.
    struct expectation {
        std::string acknowledged;
        std::string in_flight;
    };
    std::map<std::string, expectation> expected;
    std::mutex expected_mutex;
    int sequence = 0;

    for (int round = 0; round < 4; ++round) {
        std::atomic<bool> stop{false};
        std::atomic<int> acknowledged{0};
        std::vector<std::thread> threads;
        for (int w = 0; w < writers; ++w) {
            threads.emplace_back([&, w] {
                http_connection c(server_->api_address());
                for (int n = 0; !stop.load(); ++n) {
                    const auto& id = ids[w][static_cast<std::size_t>(n) % identities_per_writer];
                    std::string url = "wss://agent.example.com/r" + std::to_string(round) + "/w" +
                                      std::to_string(w) + "/n" + std::to_string(n) + "/s" + std::to_string(sequence);
                    std::string body = "{\"agent_identity_id\":\"" + id +
                                       "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" +
                                       url + "\"}";
                    std::string answer = "{\"agent_identity_id\":\"" + id +
                                         "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" +
                                         url + "\",\"incoming_call_webhook_url\":null,\"incoming_call_fallback_action\":null}";
                    {
                        std::lock_guard lock(expected_mutex);
                        expected[id].in_flight = answer;
                    }
                    auto r = c.request("PUT", "/incoming-call-action",
                                       {{"X-API-Key", admin}, {"Content-Type", "application/json"}}, body,
                                       std::chrono::seconds(5));
                    if (r.status != 200)
                        return; // the server died under us
                    EXPECT_EQ(r.body, answer);
                    std::lock_guard lock(expected_mutex);
                    expected[id].acknowledged = r.body;
                    acknowledged.fetch_add(1);
                }
            });
        }
        // Let writes flow, then kill at an arbitrary point.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (acknowledged.load() < 1000 + round * 397 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        server_->kill_hard();
        stop.store(true);
        for (auto& t : threads)
            t.join();
        ASSERT_GT(acknowledged.load(), 0);
        ++sequence;

        ASSERT_TRUE(server_->start()) << server_->log();
        connection_ = std::make_unique<http_connection>(server_->api_address());
        for (auto& [id, want] : expected) {
            auto r = call("GET", "/incoming-call-action?agent_identity_id=" + id, admin);
            if (want.acknowledged.empty()) {
                EXPECT_TRUE(r.status == 404 || r.body == want.in_flight) << r.body;
                continue;
            }
            ASSERT_EQ(r.status, 200) << r.body;
            EXPECT_TRUE(r.body == want.acknowledged || r.body == want.in_flight)
                << "round " << round << " lost an acknowledged write:\n  got  " << r.body << "\n  want "
                << want.acknowledged;
            // After the restart the read value is the new baseline.
            want.acknowledged = r.body;
            want.in_flight = r.body;
        }
    }
}

} // namespace
} // namespace callgate::testing
