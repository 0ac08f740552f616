// The decision's response body is written in place (edge_request_body.cpp);
// here it is held to what json_writer renders for the same decision, for
// every outcome and for texts that need escaping.
#include "callgate/dispatch/edge_request_body.hpp"
#include "callgate/engine/json_writer.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace callgate::dispatch {
namespace {

std::string rendered_by_json_writer(const call_decision& d)
{
    auto labels = labels_of(d.kind);
    engine::json_writer w;
    w.begin_object().field("call_id", d.call.call_id).key("agent_identity_id");
    if (d.agent_identity_id)
        w.value(*d.agent_identity_id);
    else
        w.null();
    w.field("action", labels.action).field("source", labels.source);
    if (is_answer(d.kind)) {
        w.field("client_websocket_url", d.client_websocket_url).key("client_websocket_headers").begin_object();
        for (const auto& [name, value] : d.client_headers)
            w.field(name, value);
        w.end_object();
        if (!labels.reason.empty())
            w.field("reason", labels.reason);
    } else {
        w.field("reason", labels.reason);
    }
    w.field("decided_in_us", d.decided_in_us).end_object();
    return w.take();
}

TEST(decision_body, renders_what_json_writer_renders_for_every_outcome)
{
    auto call_id = *engine::uuid::parse("0190f1e2-3b4c-7d5e-8f60-718293a4b5c6");
    auto identity = *engine::uuid::parse("11111111-2222-4333-8444-555555555555");
    const std::vector<std::optional<std::string>> urls = {
        std::nullopt, "wss://agent.example.com/ws", "wss://agent.example.com/ws?q=\"x\"&b=\\y\x01\t"};
    const std::vector<std::vector<std::pair<std::string, std::string>>> header_sets = {
        {},
        {{"X-Call-Context", R"({"call_id":"0190f1e2-3b4c-7d5e-8f60-718293a4b5c6","phone_number":"+15550100","direction":"inbound"})"}},
        {{"X-Call-Context", "{\"phone_number\":\"we\\\"ird\\n\"}"},
         {"X-Inkbox-Request-ID", "a8a8a8a8-0000-4000-8000-000000000001"},
         {"X-Inkbox-Timestamp", "1764600000"},
         {"X-Inkbox-Signature", "sha256=00ff"}},
    };
    int checked = 0;
    for (std::size_t o = 0; o < static_cast<std::size_t>(outcome::count_); ++o)
        for (bool with_identity : {false, true})
            for (const auto& url : urls)
                for (const auto& headers : header_sets)
                    for (std::int64_t took : {std::int64_t{0}, std::int64_t{987654321}}) {
                        call_decision d;
                        d.kind = static_cast<outcome>(o);
                        d.call.call_id = call_id;
                        if (with_identity)
                            d.agent_identity_id = identity;
                        d.client_websocket_url = url;
                        d.client_headers = headers;
                        d.decided_in_us = took;
                        ASSERT_EQ(decision_body(d), rendered_by_json_writer(d))
                            << "outcome " << o << ", url " << url.value_or("(none)");
                        ++checked;
                    }
    EXPECT_GT(checked, 100);
}

} // namespace
} // namespace callgate::dispatch
