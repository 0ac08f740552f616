// docs/asyncapi.json names exactly the events the media bridge reads and
// writes on each WebSocket of a bridged call (stream_events.hpp), both ways,
// and its close codes.
#include "callgate/dispatch/edge_router.hpp"
#include "callgate/dispatch/stream_events.hpp"

#include "callgate/testing/api_documents.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <span>
#include <string>

namespace callgate::testing {
namespace {

namespace dom = simdjson::dom;
namespace events = dispatch::stream_events;

class asyncapi : public ::testing::Test {
protected:
    void SetUp() override
    {
        text_ = read_source_file("docs/asyncapi.json");
        ASSERT_FALSE(text_.empty());
        ASSERT_EQ(parser_.parse(simdjson::padded_string(text_)).get(doc_), simdjson::SUCCESS);
        std::string_view version;
        ASSERT_EQ(doc_["asyncapi"].get(version), simdjson::SUCCESS);
        ASSERT_TRUE(version.starts_with("3.")) << version;
    }

    using element = simdjson::simdjson_result<dom::element>;

    // Follows a {"$ref": "#/..."} (repeatedly) to what it names.
    element resolve(element e)
    {
        std::string_view ref;
        while (e["$ref"].get(ref) == simdjson::SUCCESS) {
            if (!ref.starts_with("#/"))
                return element(simdjson::INVALID_JSON_POINTER);
            e = doc_.at_pointer(ref.substr(1));
        }
        return e;
    }

    struct operation_messages {
        std::string action, channel;
        std::set<std::string> events; // payload.properties.event.const of each message
        bool binary = false;          // a message of raw bytes (application/octet-stream)
    };

    operation_messages messages_of(std::string_view operation)
    {
        operation_messages out;
        auto op = doc_["operations"][operation];
        EXPECT_EQ(op.error(), simdjson::SUCCESS) << operation;
        std::string_view text;
        if (op["action"].get(text) == simdjson::SUCCESS)
            out.action = text;
        if (op["channel"]["$ref"].get(text) == simdjson::SUCCESS)
            out.channel = text;
        dom::array list;
        EXPECT_EQ(op["messages"].get(list), simdjson::SUCCESS) << operation;
        for (dom::element m : list) {
            auto message = resolve(element(dom::element(m)));
            EXPECT_EQ(message.error(), simdjson::SUCCESS) << simdjson::to_string(m);
            std::string_view content_type;
            if (message["contentType"].get(content_type) == simdjson::SUCCESS &&
                content_type == "application/octet-stream") {
                out.binary = true;
                continue;
            }
            std::string_view name;
            if (resolve(message["payload"])["properties"]["event"]["const"].get(name) == simdjson::SUCCESS)
                out.events.emplace(name);
        }
        return out;
    }

    static std::set<std::string> set_of(std::span<const std::string_view> names)
    {
        return {names.begin(), names.end()};
    }

    std::string text_;
    dom::parser parser_;
    dom::element doc_;
};

// Each direction of each WebSocket: what the document's operation lists, and
// whether it carries binary audio.
struct direction {
    const char* operation;
    const char* action;
    const char* channel;
    std::span<const std::string_view> events;
    bool binary; // edge and client may send raw PCMU; towards the client audio is always JSON media
};

const direction directions[] = {
    {"receiveFromEdge", "receive", "#/channels/edgeStream", events::read_from_edge, true},
    {"sendToEdge", "send", "#/channels/edgeStream", events::written_to_edge, true},
    {"sendToAgent", "send", "#/channels/agentStream", events::written_to_client, false},
    {"receiveFromAgent", "receive", "#/channels/agentStream", events::read_from_client, true},
};

TEST_F(asyncapi, each_direction_names_the_events_the_bridge_handles)
{
    for (const auto& d : directions) {
        SCOPED_TRACE(d.operation);
        auto m = messages_of(d.operation);
        EXPECT_EQ(m.action, d.action);
        EXPECT_EQ(m.channel, d.channel);
        EXPECT_EQ(m.events, set_of(d.events));
        EXPECT_EQ(m.binary, d.binary);
    }
}

// Every control event the code never drops is documented as such a message.
TEST_F(asyncapi, client_control_frames_are_relayed_to_the_edge)
{
    auto from_client = messages_of("receiveFromAgent").events;
    auto to_edge = messages_of("sendToEdge").events;
    for (auto name : events::client_control) {
        EXPECT_TRUE(from_client.count(std::string(name))) << name;
        EXPECT_TRUE(to_edge.count(std::string(name))) << name;
    }
}

TEST_F(asyncapi, close_codes)
{
    std::set<std::string> expected;
    for (auto code : events::close_codes)
        expected.insert(std::to_string(code));
    for (auto channel : {"edgeStream", "agentStream"}) {
        dom::object codes;
        ASSERT_EQ(doc_["channels"][channel]["x-close-codes"].get(codes), simdjson::SUCCESS) << channel;
        std::set<std::string> documented;
        for (auto [code, meaning] : codes)
            documented.emplace(code);
        EXPECT_EQ(documented, expected) << channel;
    }
}

// The edge channel is the route the edge router serves, behind the edge token.
TEST_F(asyncapi, edge_channel_is_the_stream_route)
{
    std::string_view text;
    ASSERT_EQ(doc_["channels"]["edgeStream"]["address"].get(text), simdjson::SUCCESS);
    bool served = false;
    for (const auto& r : dispatch::edge_router::routes())
        served = served || (r.method == "GET" && r.path == text && r.access == dispatch::edge_access::edge_token);
    EXPECT_TRUE(served) << text;
    ASSERT_EQ(resolve(doc_["components"]["securitySchemes"]["edgeToken"])["name"].get(text), simdjson::SUCCESS);
    EXPECT_EQ(text, "X-Edge-Token");
}

} // namespace
} // namespace callgate::testing
