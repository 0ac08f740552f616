// Bridged calls with real WebSocket peers: an edge client and a TLS client
// server written for the tests, against the real binary.
#include "../dispatch/dispatch_support.hpp"

#include "callgate/codec/base64.hpp"

#include "callgate/engine/secrets.hpp"
#include "callgate/testing/ws_peers.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

std::string incoming_call(const std::string& dialed, const std::string& extra = "")
{
    return R"({"event":"incoming_call","local_phone_number":")" + dialed +
           R"(","remote_phone_number":"+15550199")" + extra + "}";
}

engine::json_object parse(const std::string& text)
{
    engine::json_object doc;
    EXPECT_EQ(doc.parse(text), engine::json_parse_error::ok) << text;
    return doc;
}

// Audio frame i: 160 bytes of PCMU (20 ms at 8 kHz), a pattern that differs per frame.
std::string audio(int i, int salt)
{
    std::string out(160, '\0');
    for (int b = 0; b < 160; ++b)
        out[static_cast<std::size_t>(b)] = static_cast<char>((i * 31 + b * 7 + salt) & 0xFF);
    return out;
}

// A JSON frame of about 60 KiB (under the 64 KiB frame cap) with this event name.
std::string big_event(const std::string& event)
{
    return R"({"event":")" + event + R"(","text":")" + std::string(60 * 1024, 'a') + R"("})";
}

// The server's peak resident set (VmHWM) in KiB, from /proc/<pid>/status; -1 if unreadable.
std::int64_t peak_rss_kib(int pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoll(line.substr(6));
    return -1;
}

// The value of one series in a /metrics text; -1 if absent.
std::int64_t metric(const std::string& text, const std::string& series)
{
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos)
        return -1;
    return std::stoll(text.substr(at + series.size() + 2));
}

// Floods big enough that an unbounded relay queue would hold tens of MiB.
constexpr int flood_frames = 1000;               // 1000 × 60 KiB ≈ 60 MiB
constexpr std::int64_t queue_bound = 256 * 1024; // media_bridge_options::queue_bytes default
constexpr std::int64_t rss_growth_limit_kib = 24 * 1024;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false; // ASan's quarantine keeps freed frames resident
#else
constexpr bool rss_is_meaningful = true;
#endif

class bridge : public dispatch_test {
protected:
    void SetUp() override
    {
        dispatch_test::SetUp();
        agent_ = std::make_unique<ws_test_server>(pki_.server_cert, pki_.server_key,
                                                  std::vector<std::pair<std::string, std::string>>{
                                                      {"X-Use-Inkbox-Text-To-Speech", "false"}},
                                                  peer_socket_buffer());
        id_ = create_identity("bot", "+15550100");
        set_action(id_, "auto_accept", agent_->url(), "");
    }

    // SO_RCVBUF and SO_SNDBUF of the test's edge and client peers; 0: the system's defaults.
    virtual int peer_socket_buffer() const { return 0; }

    // Dials the edge stream, sends incoming_call and expects an answer; returns both peers.
    std::pair<std::unique_ptr<ws_peer>, std::unique_ptr<ws_peer>> answered_call(std::string* call_id = nullptr)
    {
        auto dialled =
            dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token(), peer_socket_buffer());
        EXPECT_TRUE(dialled.peer) << dialled.http_status;
        if (!dialled.peer)
            return {};
        auto& edge = dialled.peer;
        EXPECT_TRUE(edge->send(incoming_call("+15550100")));
        auto client = agent_->accept();
        EXPECT_TRUE(client);
        auto decision = edge->read();
        EXPECT_EQ(decision.what, ws_frame::kind::data);
        auto d = parse(decision.data);
        EXPECT_EQ(text_of(d, "event"), "decision");
        EXPECT_EQ(text_of(d, "action"), "answer");
        auto start = client->read();
        auto s = parse(start.data);
        EXPECT_EQ(text_of(s, "event"), "start");
        if (call_id != nullptr && s.find("start") != nullptr)
            *call_id = s.find("start")->find("call_control_id")->text;
        stream_id_ = text_of(s, "stream_id");
        return {std::move(edge), std::move(client)};
    }

    engine::json_object call_record(const std::string& call_id)
    {
        return parse(api("GET", "/calls/" + call_id).body);
    }

    // Waits until the call's record is completed (it is written when the bridge ends).
    engine::json_object completed_record(const std::string& call_id)
    {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            auto r = call_record(call_id);
            if (text_of(r, "status") == "completed" || std::chrono::steady_clock::now() > deadline)
                return r;
            std::this_thread::sleep_for(20ms);
        }
    }

    // Audio both ways on an answered call, one frame at a time: `frames` each way arrive.
    void exchange_audio(ws_peer& edge, ws_peer& client, int frames)
    {
        for (int i = 0; i < frames; ++i) {
            ASSERT_TRUE(edge.send(audio(i, 5), true));
            auto to_client = client.read(5s);
            ASSERT_EQ(to_client.what, ws_frame::kind::data);
            EXPECT_EQ(text_of(parse(to_client.data), "event"), "media");
            ASSERT_TRUE(client.send(audio(i, 6), true));
            auto to_edge = edge.read(5s);
            ASSERT_EQ(to_edge.what, ws_frame::kind::data);
            EXPECT_EQ(to_edge.data, audio(i, 6));
        }
    }

    std::unique_ptr<ws_test_server> agent_;
    std::string id_;
    std::string stream_id_;
};

TEST_F(bridge, an_edge_media_payload_that_is_not_strict_base64_is_dropped_not_copied_into_the_clients_json)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    // An escaped quote decodes to '"': copied as is it would end the payload string
    // and let the edge write fields of its own into the client's frame.
    ASSERT_TRUE(edge->send(R"({"event":"media","media":{"payload":"AAAA\",\"event\":\"stop"}})"));
    // Base64 characters, but not strict padded base64: missing or stray
    // padding, non-zero trailing bits, the URL alphabet. Dropped too.
    for (const char* loose : {"QUI", "QQ=", "QUJD=", "QR==", "-_8=", "QU=D"})
        ASSERT_TRUE(edge->send(std::string(R"({"event":"media","media":{"payload":")") + loose + "\"}}"));
    ASSERT_TRUE(edge->send(R"({"event":"media","media":{"payload":"QUJD"}})"));
    auto f = client->read(5s);
    ASSERT_EQ(f.what, ws_frame::kind::data);
    auto doc = parse(f.data);
    EXPECT_EQ(text_of(doc, "event"), "media") << f.data;
    EXPECT_EQ(doc.find("media")->find("payload")->text, "QUJD") << f.data;
    ASSERT_TRUE(edge->send(R"({"event":"stop"})"));
    auto record = completed_record(call_id);
    EXPECT_EQ(record.find("media")->find("edge_to_client")->find("dropped")->integer, 7);
}

TEST_F(bridge, answer_then_audio_arrives_byte_exact_and_in_order_both_ways)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    EXPECT_EQ(client->header("X-Call-Context"),
              "{\"call_id\":\"" + call_id + "\",\"phone_number\":\"+15550100\",\"direction\":\"inbound\"}");

    constexpr int frames = 2000;
    // Edge → client: binary and JSON frames alternate; the client gets JSON media in order.
    std::atomic<int> received{0};
    std::atomic<bool> client_ok{true};
    std::thread reader([&, c = client.get()] {
        for (int i = 0; i < frames; ++i) {
            auto f = c->read();
            if (f.what != ws_frame::kind::data) {
                client_ok = false;
                return;
            }
            auto doc = parse(f.data);
            const auto* media = doc.find("media");
            std::string raw;
            if (text_of(doc, "event") != "media" || media == nullptr || media->find("chunk")->integer != i + 1 ||
                media->find("track")->text != "inbound" || !codec::base64_decode(media->find("payload")->text, raw) ||
                raw != audio(i, 1)) {
                client_ok = false;
                return;
            }
            received.fetch_add(1);
        }
    });
    for (int i = 0; i < frames; ++i) {
        while (i - received.load() >= 20 && client_ok.load()) // stay within the bridge's queue
            std::this_thread::yield();
        if (i % 2 == 0)
            ASSERT_TRUE(edge->send(audio(i, 1), true));
        else
            ASSERT_TRUE(edge->send("{\"event\":\"media\",\"media\":{\"payload\":\"" + codec::base64_encode(audio(i, 1)) +
                                   "\"}}"));
    }
    reader.join();
    EXPECT_TRUE(client_ok.load());
    EXPECT_EQ(received.load(), frames);

    // Client → edge: JSON media forwarded unchanged, binary forwarded as binary.
    received = 0;
    std::atomic<bool> edge_ok{true};
    std::thread edge_reader([&, e = edge.get()] {
        for (int i = 0; i < frames; ++i) {
            auto f = e->read();
            if (f.what != ws_frame::kind::data) {
                edge_ok = false;
                return;
            }
            std::string raw;
            if (f.binary) {
                raw = f.data;
            } else {
                auto doc = parse(f.data);
                if (text_of(doc, "event") != "media" || !codec::base64_decode(doc.find("media")->find("payload")->text, raw)) {
                    edge_ok = false;
                    return;
                }
            }
            if (raw != audio(i, 2)) {
                edge_ok = false;
                return;
            }
            received.fetch_add(1);
        }
    });
    for (int i = 0; i < frames; ++i) {
        while (i - received.load() >= 20 && edge_ok.load())
            std::this_thread::yield();
        if (i % 2 == 0)
            ASSERT_TRUE(client->send(audio(i, 2), true));
        else
            ASSERT_TRUE(client->send("{\"event\":\"media\",\"media\":{\"payload\":\"" +
                                     codec::base64_encode(audio(i, 2)) + "\"}}"));
    }
    edge_reader.join();
    EXPECT_TRUE(edge_ok.load());
    EXPECT_EQ(received.load(), frames);

    // The caller hangs up: the client gets stop, both close, the record completes.
    ASSERT_TRUE(edge->send(R"({"event":"stop","reason":"remote"})"));
    auto stop = client->read();
    ASSERT_EQ(stop.what, ws_frame::kind::data);
    auto s = parse(stop.data);
    EXPECT_EQ(text_of(s, "event"), "stop");
    EXPECT_EQ(text_of(s, "reason"), "remote_hang_up");
    EXPECT_EQ(text_of(s, "stream_id"), stream_id_);
    EXPECT_EQ(client->read().what, ws_frame::kind::closed);
    EXPECT_EQ(edge->read().what, ws_frame::kind::closed);

    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "status"), "completed");
    EXPECT_EQ(text_of(record, "hangup_reason"), "remote");
    EXPECT_NE(text_of(record, "started_at"), "<null>");
    EXPECT_NE(text_of(record, "ended_at"), "<null>");
    const auto* media = record.find("media");
    ASSERT_NE(media, nullptr);
    ASSERT_EQ(media->type, engine::json_type::object);
    EXPECT_EQ(media->find("edge_to_client")->find("frames")->integer, frames + 2); // + start and stop
    EXPECT_EQ(media->find("edge_to_client")->find("dropped")->integer, 0);
    EXPECT_EQ(media->find("client_to_edge")->find("frames")->integer, frames);
    EXPECT_EQ(media->find("client_to_edge")->find("dropped")->integer, 0);
}

TEST_F(bridge, an_answered_calls_record_was_updated_when_it_started)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    auto record = call_record(call_id);
    EXPECT_EQ(text_of(record, "status"), "answered");
    // One fixed RFC 3339 format (µs, Z): the strings order as the times do.
    EXPECT_LE(text_of(record, "created_at"), text_of(record, "started_at"));
    EXPECT_LE(text_of(record, "started_at"), text_of(record, "updated_at"));
}

TEST_F(bridge, decision_frame_reports_the_client_flags)
{
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    dialled.peer->send(incoming_call("+15550100"));
    auto client = agent_->accept();
    ASSERT_TRUE(client);
    auto d = parse(dialled.peer->read().data);
    EXPECT_EQ(d.find("use_inkbox_tts")->boolean, false); // the server said false
    EXPECT_EQ(d.find("use_inkbox_stt")->boolean, true);  // absent means true
    EXPECT_EQ(text_of(d, "client_websocket_url"), agent_->url());
}

TEST_F(bridge, client_hangs_up_then_the_edge_gets_stop)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    ASSERT_TRUE(client->send(R"({"event":"mark","mark":{"name":"greeting"}})"));
    auto mark = edge->read();
    EXPECT_EQ(text_of(parse(mark.data), "event"), "mark");
    ASSERT_TRUE(client->send(R"({"event":"stop"})"));
    auto stop = edge->read();
    ASSERT_EQ(stop.what, ws_frame::kind::data);
    EXPECT_EQ(text_of(parse(stop.data), "event"), "stop");
    auto closed = edge->read();
    EXPECT_EQ(closed.what, ws_frame::kind::closed);
    EXPECT_EQ(closed.close_code, 1000);
    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "hangup_reason"), "local");
}

TEST_F(bridge, dtmf_and_control_frames_reach_the_other_side)
{
    auto [edge, client] = answered_call();
    ASSERT_TRUE(edge && client);
    ASSERT_TRUE(edge->send(R"({"event":"dtmf","dtmf":{"digit":"5"}})"));
    auto dtmf = parse(client->read().data);
    EXPECT_EQ(text_of(dtmf, "event"), "dtmf");
    EXPECT_EQ(text_of(dtmf, "stream_id"), stream_id_);
    EXPECT_EQ(dtmf.find("dtmf")->find("digit")->text, "5");
    for (std::string frame : {R"({"event":"clear"})", R"({"event":"text","text":"hi"})",
                              R"({"event":"audio_done"})", R"({"event":"transcript","text":"hello"})",
                              R"({"event":"custom_thing","x":1})"}) {
        ASSERT_TRUE(client->send(frame));
        auto got = edge->read();
        EXPECT_EQ(got.data, frame); // relayed unchanged
    }
    // Not a JSON object: dropped (and counted), the call goes on.
    ASSERT_TRUE(client->send("not json"));
    ASSERT_TRUE(client->send(R"({"event":"clear"})"));
    EXPECT_EQ(edge->read().data, R"({"event":"clear"})");
}

TEST_F(bridge, a_client_that_stops_reading_loses_media_not_control_and_other_calls_flow)
{
    std::string call_id;
    auto [edge, stalled] = answered_call(&call_id);
    ASSERT_TRUE(edge && stalled);
    // The client reads nothing while the edge sends far more than the queue and buffers hold.
    for (int i = 0; i < 3000; ++i) {
        ASSERT_TRUE(edge->send(audio(i, 3), true));
        if (i == 1500)
            ASSERT_TRUE(edge->send(R"({"event":"dtmf","dtmf":{"digit":"9"}})"));
    }
    // Meanwhile another call's audio flows.
    {
        auto [edge2, client2] = answered_call();
        ASSERT_TRUE(edge2 && client2);
        for (int i = 0; i < 50; ++i) {
            ASSERT_TRUE(edge2->send(audio(i, 4), true));
            auto f = client2->read(5s);
            ASSERT_EQ(f.what, ws_frame::kind::data);
        }
        edge2->send(R"({"event":"stop"})");
    }
    // The stalled client now reads: the dtmf is there; media was dropped.
    bool saw_dtmf = false;
    int media = 0;
    for (;;) {
        auto f = stalled->read(2s);
        if (f.what != ws_frame::kind::data)
            break;
        auto doc = parse(f.data);
        if (text_of(doc, "event") == "dtmf")
            saw_dtmf = true;
        else if (text_of(doc, "event") == "media")
            ++media;
        if (saw_dtmf && media > 0 && text_of(doc, "event") == "media" && media > 2900)
            break;
    }
    EXPECT_TRUE(saw_dtmf);
    EXPECT_LT(media, 3000);
    edge->send(R"({"event":"stop"})");
    auto record = completed_record(call_id);
    EXPECT_GT(record.find("media")->find("edge_to_client")->find("dropped")->integer, 0);
    EXPECT_NE(metrics().find("callgate_media_frames_dropped_total{direction=\"edge_to_client\"}"), std::string::npos);
}

// Peers with small socket buffers: what reaches a peer that stopped reading is
// then mostly what the bridge queued, not megabytes of kernel buffering.
class bridge_flood : public bridge {
protected:
    int peer_socket_buffer() const override { return 64 * 1024; }
};

TEST_F(bridge_flood, a_client_flooding_text_at_an_edge_that_does_not_read_ends_that_call_with_peer_flood)
{
    std::string call_id, other_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    auto [edge2, client2] = answered_call(&other_id);
    ASSERT_TRUE(edge2 && client2);
    auto peak_before = peak_rss_kib(server_->pid());

    // `text` is a control frame, never dropped: past the queue's byte bound the call must end.
    std::atomic<bool> stop_flooding{false};
    std::thread flooder([&stop_flooding, c = client.get()] {
        auto frame = big_event("text");
        for (int i = 0; i < flood_frames && !stop_flooding.load(); ++i)
            if (!c->send(frame))
                return;
    });
    exchange_audio(*edge2, *client2, 20); // the other call flows meanwhile
    auto stop = client->read(20s);
    stop_flooding = true;
    flooder.join();
    ASSERT_EQ(stop.what, ws_frame::kind::data) << "no stop for the flooding client";
    auto s = parse(stop.data);
    EXPECT_EQ(text_of(s, "event"), "stop");
    EXPECT_EQ(text_of(s, "reason"), "peer_flood");
    auto closed = client->read(10s);
    EXPECT_EQ(closed.what, ws_frame::kind::closed);
    EXPECT_EQ(closed.close_code, 1008);
    EXPECT_EQ(closed.close_reason, "peer_flood");

    // The edge, reading at last, gets what was already on its way, then stop and a 1008 close.
    int relayed = 0;
    ws_frame f;
    for (f = edge->read(10s); f.what == ws_frame::kind::data && text_of(parse(f.data), "event") == "text";
         f = edge->read(10s))
        ++relayed;
    ASSERT_EQ(f.what, ws_frame::kind::data);
    EXPECT_EQ(text_of(parse(f.data), "event"), "stop");
    EXPECT_EQ(text_of(parse(f.data), "reason"), "peer_flood");
    auto edge_closed = edge->read(10s);
    EXPECT_EQ(edge_closed.what, ws_frame::kind::closed);
    EXPECT_EQ(edge_closed.close_code, 1008);
    EXPECT_EQ(edge_closed.close_reason, "peer_flood");
    EXPECT_LT(relayed, flood_frames / 4); // the bound and the buffers in between, not the flood

    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "hangup_reason"), "peer_flood");
    auto m = metrics();
    EXPECT_EQ(metric(m, "callgate_bridge_floods_total{direction=\"client_to_edge\"}"), 1) << m;
    EXPECT_EQ(metric(m, "callgate_bridge_floods_total{direction=\"edge_to_client\"}"), 0);
    auto peak = metric(m, "callgate_bridge_queue_peak_bytes{direction=\"client_to_edge\"}");
    EXPECT_GT(peak, 0);
    EXPECT_LE(peak, queue_bound);
    if (rss_is_meaningful)
        EXPECT_LT(peak_rss_kib(server_->pid()) - peak_before, rss_growth_limit_kib);

    // The other call did not notice: it still flows, then ends as the caller hangs up.
    exchange_audio(*edge2, *client2, 20);
    ASSERT_TRUE(edge2->send(R"({"event":"stop","reason":"remote"})"));
    EXPECT_EQ(text_of(parse(client2->read().data), "reason"), "remote_hang_up");
    auto other = completed_record(other_id);
    EXPECT_EQ(text_of(other, "hangup_reason"), "remote");
    EXPECT_EQ(other.find("media")->find("client_to_edge")->find("dropped")->integer, 0);
    EXPECT_EQ(other.find("media")->find("client_to_edge")->find("frames")->integer, 40);
}

TEST_F(bridge_flood, an_edge_flooding_unknown_events_at_a_client_that_does_not_read_loses_those_not_dtmf)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    auto peak_before = peak_rss_kib(server_->pid());

    auto frame = big_event("edge_custom");
    for (int i = 0; i < flood_frames; ++i) {
        ASSERT_TRUE(edge->send(frame));
        if (i == flood_frames / 2)
            ASSERT_TRUE(edge->send(R"({"event":"dtmf","dtmf":{"digit":"9"}})"));
    }
    ASSERT_TRUE(edge->send(R"({"event":"dtmf","dtmf":{"digit":"7"}})"));

    // The client reads at last: both digits, and only a little of the flood.
    int unknown = 0;
    std::string digits;
    while (digits.size() < 2) {
        auto f = client->read(10s);
        ASSERT_EQ(f.what, ws_frame::kind::data) << "after " << unknown << " unknown events, digits " << digits;
        auto doc = parse(f.data);
        if (text_of(doc, "event") == "edge_custom")
            ++unknown;
        else if (text_of(doc, "event") == "dtmf")
            digits += doc.find("dtmf")->find("digit")->text;
    }
    EXPECT_EQ(digits, "97");
    EXPECT_LT(unknown, flood_frames / 4);
    if (rss_is_meaningful)
        EXPECT_LT(peak_rss_kib(server_->pid()) - peak_before, rss_growth_limit_kib);

    // Dropping unknown events does not end the call: audio still flows.
    exchange_audio(*edge, *client, 10);
    ASSERT_TRUE(edge->send(R"({"event":"stop","reason":"remote"})"));
    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "hangup_reason"), "remote");
    EXPECT_EQ(record.find("media")->find("edge_to_client")->find("dropped")->integer, flood_frames - unknown);
    auto m = metrics();
    EXPECT_EQ(metric(m, "callgate_bridge_events_dropped_total{direction=\"edge_to_client\"}"), flood_frames - unknown)
        << m;
    EXPECT_EQ(metric(m, "callgate_bridge_floods_total{direction=\"edge_to_client\"}"), 0);
    auto peak = metric(m, "callgate_bridge_queue_peak_bytes{direction=\"edge_to_client\"}");
    EXPECT_GT(peak, 0);
    EXPECT_LE(peak, queue_bound);
}

TEST_F(bridge_flood, big_media_frames_are_bounded_in_bytes_not_only_in_frames)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    // 60 KiB media frames from the client: 50 of them (the frame bound) would be 3 MiB.
    auto frame = R"({"event":"media","media":{"payload":")" + std::string(60 * 1024, 'A') + R"("}})";
    for (int i = 0; i < 300; ++i)
        ASSERT_TRUE(client->send(frame));
    ASSERT_TRUE(client->send(R"({"event":"mark","mark":{"name":"end"}})"));
    int media = 0;
    for (;;) {
        auto f = edge->read(10s);
        ASSERT_EQ(f.what, ws_frame::kind::data) << "after " << media << " media frames";
        auto event = text_of(parse(f.data), "event");
        if (event == "mark")
            break;
        if (event == "media")
            ++media;
    }
    EXPECT_LT(media, 300);
    exchange_audio(*edge, *client, 10);
    ASSERT_TRUE(edge->send(R"({"event":"stop","reason":"remote"})"));
    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "hangup_reason"), "remote");
    EXPECT_EQ(record.find("media")->find("client_to_edge")->find("dropped")->integer, 300 - media);
    auto m = metrics();
    EXPECT_EQ(metric(m, "callgate_media_frames_dropped_total{direction=\"client_to_edge\"}"), 300 - media);
    auto peak = metric(m, "callgate_bridge_queue_peak_bytes{direction=\"client_to_edge\"}");
    EXPECT_GT(peak, 0);
    EXPECT_LE(peak, queue_bound); // today's 50-frame bound alone would let 3 MiB queue
}

TEST_F(bridge, reject_paths_end_with_a_decision_and_close_1000)
{
    auto other = create_identity("rejecter", "+15550101");
    set_action(other, "auto_reject", "", "");
    struct row {
        std::string first;
        std::string reason;
    };
    const row table[] = {
        {incoming_call("+15550101"), "auto_reject"},
        {incoming_call("+15559999"), "unknown_number"},
        {incoming_call("+15550100", R"(,"media_format":{"encoding":"audio/L16","sample_rate":16000,"channels":1})"),
         "unsupported_media_format"},
    };
    for (const auto& r : table) {
        SCOPED_TRACE(r.reason);
        auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
        ASSERT_TRUE(dialled.peer);
        dialled.peer->send(r.first);
        auto d = parse(dialled.peer->read().data);
        EXPECT_EQ(text_of(d, "event"), "decision");
        EXPECT_EQ(text_of(d, "action"), "reject");
        EXPECT_EQ(text_of(d, "reason"), r.reason);
        auto closed = dialled.peer->read();
        EXPECT_EQ(closed.what, ws_frame::kind::closed);
        EXPECT_EQ(closed.close_code, 1000);
    }
}

TEST_F(bridge, an_unreachable_client_is_client_unreachable)
{
    std::string gone_url;
    {
        ws_test_server gone(pki_.server_cert, pki_.server_key);
        gone_url = gone.url();
    }
    set_action(id_, "auto_accept", gone_url, "");
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    dialled.peer->send(incoming_call("+15550100"));
    auto d = parse(dialled.peer->read().data);
    EXPECT_EQ(text_of(d, "reason"), "client_unreachable");
    EXPECT_EQ(dialled.peer->read().close_code, 1000);
    auto calls = api("GET", "/calls?limit=1");
    EXPECT_NE(calls.body.find("\"reason\":\"client_unreachable\""), std::string::npos) << calls.body;
}

TEST_F(bridge, a_client_with_an_untrusted_certificate_is_client_unreachable)
{
    temp_dir other;
    auto other_pki = make_test_pki(other.path());
    ws_test_server impostor(other_pki.server_cert, other_pki.server_key);
    set_action(id_, "auto_accept", impostor.url(), "");
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    dialled.peer->send(incoming_call("+15550100"));
    EXPECT_EQ(text_of(parse(dialled.peer->read().data), "reason"), "client_unreachable");
}

// An agent whose TCP port takes the connection (the kernel's backlog: never
// accepted) but never answers the TLS ClientHello: the call is rejected as
// client_unreachable once the connect-and-TLS limit (--webhook-connect-timeout-ms,
// 1 s by default) has passed, well before the 5 s WebSocket handshake budget.
TEST_F(bridge, a_client_that_never_answers_tls_is_client_unreachable_after_the_connect_timeout)
{
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    set_action(id_, "auto_accept", "wss://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/agent", "");
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    auto started = std::chrono::steady_clock::now();
    dialled.peer->send(incoming_call("+15550100"));
    auto d = parse(dialled.peer->read().data);
    auto took = std::chrono::steady_clock::now() - started;
    ::close(listener);
    EXPECT_EQ(text_of(d, "action"), "reject");
    EXPECT_EQ(text_of(d, "reason"), "client_unreachable");
    EXPECT_GE(took, std::chrono::milliseconds(900));
    EXPECT_LT(took, std::chrono::milliseconds(4500));
}

TEST_F(bridge, the_handshake_signature_verifies_independently)
{
    auto secret = rotate_signing_key("bot");
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    dialled.peer->send(incoming_call("+15550100"));
    auto client = agent_->accept();
    ASSERT_TRUE(client);
    auto context = client->header("X-Call-Context");
    std::string key = secret.substr(6);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    std::string message = client->header("X-Inkbox-Request-ID") + "." + client->header("X-Inkbox-Timestamp") + "." + context;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), mac, &len);
    EXPECT_EQ(client->header("X-Inkbox-Signature"), "sha256=" + engine::hex_encode({reinterpret_cast<char*>(mac), len}));
    // A wrong key does not verify.
    std::string wrong = "c2VjcmV0";
    HMAC(EVP_sha256(), wrong.data(), static_cast<int>(wrong.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
    EXPECT_NE(client->header("X-Inkbox-Signature"), "sha256=" + engine::hex_encode({reinterpret_cast<char*>(mac), len}));
}

TEST_F(bridge, protocol_violations_close_with_1008_and_1009)
{
    auto first_wrong = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(first_wrong.peer);
    first_wrong.peer->send(R"({"event":"media","media":{"payload":"AAAA"}})");
    auto closed = first_wrong.peer->read();
    EXPECT_EQ(closed.what, ws_frame::kind::closed);
    EXPECT_EQ(closed.close_code, 1008);

    auto [edge, client] = answered_call();
    ASSERT_TRUE(edge && client);
    edge->send(std::string(70 * 1024, 'x'), true);
    auto big = edge->read();
    EXPECT_EQ(big.what, ws_frame::kind::closed);
    EXPECT_EQ(big.close_code, 1009);
    // The client hears the caller is gone.
    auto stop = client->read();
    EXPECT_EQ(text_of(parse(stop.data), "event"), "stop");
}

TEST_F(bridge, upgrade_needs_the_edge_token)
{
    auto refused = dial_edge(server_->edge_address(), "/v1/calls/stream", "");
    EXPECT_FALSE(refused.peer);
    EXPECT_EQ(refused.http_status, 401);
    auto wrong = dial_edge(server_->edge_address(), "/v1/calls/stream", "et_wrong");
    EXPECT_FALSE(wrong.peer);
    EXPECT_EQ(wrong.http_status, 401);
    EXPECT_EQ(edge("GET", "/v1/calls/stream", "", server_->edge_token()).status, 426);
}

TEST_F(bridge, sigterm_stops_bridged_calls_with_engine_shutdown)
{
    auto [edge, client] = answered_call();
    ASSERT_TRUE(edge && client);
    EXPECT_NE(metrics().find("callgate_bridged_calls_active 1"), std::string::npos);
    std::thread stopper([this] { EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log(); });
    auto to_client = client->read();
    auto to_edge = edge->read();
    stopper.join();
    EXPECT_EQ(text_of(parse(to_client.data), "reason"), "engine_shutdown");
    EXPECT_EQ(text_of(parse(to_edge.data), "reason"), "engine_shutdown");
}

class bridge_policy : public bridge {
    std::vector<std::string> extra_args() const override { return {"--webhook-timeout-ms", "1500"}; }
};

TEST_F(bridge_policy, a_private_client_address_is_client_blocked)
{
    auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", server_->edge_token());
    ASSERT_TRUE(dialled.peer);
    dialled.peer->send(incoming_call("+15550100"));
    EXPECT_EQ(text_of(parse(dialled.peer->read().data), "reason"), "client_blocked");
    EXPECT_FALSE(agent_->accept(200ms));
}

} // namespace
} // namespace callgate::testing

namespace callgate::testing {
namespace {

class bridge_max_duration : public bridge {
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--max-call-duration", "1s"};
    }
};

TEST_F(bridge_max_duration, a_call_that_runs_too_long_is_stopped_on_both_sides)
{
    std::string call_id;
    auto [edge, client] = answered_call(&call_id);
    ASSERT_TRUE(edge && client);
    auto to_client = client->read(5s);
    auto to_edge = edge->read(5s);
    ASSERT_EQ(to_client.what, ws_frame::kind::data);
    ASSERT_EQ(to_edge.what, ws_frame::kind::data);
    EXPECT_EQ(text_of(parse(to_client.data), "reason"), "max_duration");
    EXPECT_EQ(text_of(parse(to_edge.data), "reason"), "max_duration");
    client->close();
    edge->close();
    auto record = completed_record(call_id);
    EXPECT_EQ(text_of(record, "hangup_reason"), "max_duration");
}

} // namespace
} // namespace callgate::testing
