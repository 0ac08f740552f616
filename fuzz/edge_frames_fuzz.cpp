// What an edge sends (edge-protocol.md):
//   mode 0: the POST /v1/calls/decide body      (dispatch/edge_request_body.hpp)
//   mode 1: the POST /v1/calls/{id}/status body (dispatch/edge_request_body.hpp)
//   mode 2: the first frame of a bridged call, through the real
//           media_bridge::run with a fake edge connection, a real decider
//           and config service over an in-memory store
//   mode 3: a media-stream frame, through the two parsers the relay uses
//           (json_object for edge frames, parse_fields for client frames)
//
// Input: one byte (mode in bits 0-1; bit 2: the frame is binary), then the
// body or frame.

#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/edge_request_body.hpp"
#include "callgate/dispatch/media_bridge.hpp"
#include "callgate/dispatch/webhook_client.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/records.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/engine/validation.hpp"
#include "callgate/net/log.hpp"
#include "callgate/net/outbound_client.hpp"
#include "callgate/net/websocket.hpp"

#include "fuzz_check.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace dispatch = callgate::dispatch;
namespace engine = callgate::engine;
namespace net = callgate::net;
using engine::column;
using engine::json_type;
using engine::read_result;

// ------------------------------------------------------------ decide and status bodies

void check_decide_body(std::string_view body)
{
    dispatch::call_event event;
    std::string detail;
    if (!dispatch::read_decide_body(body, event, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(engine::is_valid_utf8(body));
    FUZZ_CHECK(!event.remote_phone_number.empty() && event.remote_phone_number.size() <= 256);
    FUZZ_CHECK(event.local_phone_number || event.agent_identity_id);
    FUZZ_CHECK(!event.local_phone_number || event.local_phone_number->size() <= 256);
    // The ids are the body's, as the tree parser reads them.
    engine::json_object doc;
    FUZZ_CHECK(doc.parse(body) == engine::json_parse_error::ok);
    if (event.call_id) {
        const auto* f = doc.find("call_id");
        FUZZ_CHECK(f != nullptr && engine::uuid::parse(f->text) == event.call_id);
    }
    const auto* remote = doc.find("remote_phone_number");
    FUZZ_CHECK(remote != nullptr && remote->text == event.remote_phone_number);
}

void check_status_body(std::string_view body)
{
    dispatch::status_update update;
    std::string detail;
    if (!dispatch::read_status_body(body, update, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(update.status != engine::call_status::initiated && update.status != engine::call_status::ringing);
    FUZZ_CHECK(!update.hangup || *update.hangup != engine::hangup_reason::rejected);
    FUZZ_CHECK(!update.hangup || *update.hangup != engine::hangup_reason::none);
}

// ------------------------------------------------------------ the bridge's first frame

// An in-memory store holding four identities, one per kind of decision
// that needs no network; writes (call records) are accepted and dropped.
class memory_store final : public engine::store {
public:
    memory_store()
    {
        add(1, "+15550000001", engine::incoming_call_action{engine::call_action::auto_accept,
                                                           "wss://127.0.0.1:9/agent", std::nullopt});
        add(2, "+15550000002", engine::incoming_call_action{engine::call_action::auto_reject, std::nullopt,
                                                           std::nullopt});
        add(3, "+15550000003", engine::incoming_call_action{engine::call_action::webhook, std::nullopt,
                                                           "https://127.0.0.1:9/hook"});
        add(4, "+15550000004", std::nullopt);
    }

    read_result get(column c, std::string_view key, std::string& value) override
    {
        std::lock_guard lock(mutex_);
        auto it = data_.find({c, std::string(key)});
        if (it == data_.end())
            return read_result::not_found;
        value = it->second;
        return read_result::found;
    }
    engine::store_status scan(column, std::string_view, std::size_t,
                              const std::function<bool(std::string_view, std::string_view)>&) override
    {
        return {};
    }
    engine::store_status scan_reverse(column, std::size_t,
                                      const std::function<bool(std::string_view, std::string_view)>&) override
    {
        return {};
    }
    void submit(engine::write_request request) override { run(request); }
    void submit_unsynced(engine::write_request request) override { run(request); }
    engine::store_status compact() override { return {}; }
    engine::store_health health() const override { return engine::store_health::ok; }
    std::size_t memory_usage() const override { return 0; }
    void close() override {}

private:
    class dropping_txn final : public engine::write_txn {
    public:
        explicit dropping_txn(memory_store& s) : store_(s) {}
        read_result get(column c, std::string_view key, std::string& value) override
        {
            return store_.get(c, key, value);
        }
        void put(column, std::string_view, std::string_view) override {}
        void del(column, std::string_view) override {}
        read_result scan(column, std::string_view, const std::function<bool(std::string_view, std::string_view)>&) override
        {
            return read_result::not_found;
        }

    private:
        memory_store& store_;
    };

    void run(engine::write_request& request)
    {
        dropping_txn txn(*this);
        if (request.prepare)
            request.prepare(txn);
        if (request.complete)
            request.complete(engine::store_status{});
    }

    void add(std::uint8_t n, const std::string& phone, std::optional<engine::incoming_call_action> action)
    {
        engine::identity_record r;
        r.id.bytes.fill(n);
        r.agent_handle = "agent-" + std::to_string(n);
        r.phone_number = phone;
        std::string key(r.id.as_key());
        data_[{column::identities, key}] = engine::encode(r);
        data_[{column::phones, phone}] = key;
        if (action)
            data_[{column::actions, key}] = engine::encode(*action);
    }

    std::mutex mutex_;
    std::map<std::pair<column, std::string>, std::string> data_;
};

// The edge end of a bridged call: hands out the fuzzed first frame, then
// reports a closed connection; records what the bridge sends back.
class fake_edge final : public net::ws_connection {
public:
    fake_edge(asio::any_io_executor ex, std::string first, bool binary)
        : executor_(std::move(ex)), first_(std::move(first)), binary_(binary)
    {
    }
    asio::awaitable<net::ws_read_status> read(std::string& out, bool& binary) override
    {
        if (read_)
            co_return net::ws_read_status::closed;
        read_ = true;
        out = first_;
        binary = binary_;
        co_return net::ws_read_status::ok;
    }
    asio::awaitable<bool> write(std::string_view data, bool binary) override
    {
        FUZZ_CHECK(!close_code && !binary);
        written.emplace_back(data);
        co_return true;
    }
    asio::awaitable<void> close(std::uint16_t code, std::string) override
    {
        FUZZ_CHECK(!close_code);
        close_code = code;
        co_return;
    }
    // The relay never runs here: the voice agent's WebSocket cannot be dialled.
    void start_read(std::string&, bool&, net::ws_handler& handler) override
    {
        asio::post(executor_, [this, &handler] { handler.on_read(*this, net::ws_read_status::closed); });
    }
    void start_write(std::string_view data, bool binary, net::ws_handler& handler) override
    {
        FUZZ_CHECK(!close_code && !binary);
        written.emplace_back(data);
        asio::post(executor_, [this, &handler] { handler.on_written(*this, true); });
    }
    void abort() override {}
    asio::any_io_executor executor() override { return executor_; }

    std::vector<std::string> written;
    std::optional<std::uint16_t> close_code;

private:
    asio::any_io_executor executor_;
    std::string first_;
    bool binary_;
    bool read_ = false;
};

// Everything a media_bridge needs, built once: constructing a config
// service, call log and TLS client per input would dwarf the work.
struct bridge_world {
    asio::io_context io;
    memory_store store;
    engine::manual_clock clock{1'767'225'600'000'000};
    engine::fast_random random;
    engine::config_service config{store, clock, random, "/nonexistent/callgate-fuzz-admin-keys", 1024};
    engine::call_log calls{store, clock};
    dispatch::dispatch_metrics metrics{std::chrono::milliseconds(500)};
    net::outbound_client client{net::outbound_options{}};
    dispatch::webhook_client webhooks{client, clock, random, metrics, false};
    dispatch::call_decider decider{config, calls, webhooks, io.get_executor(), metrics, clock,
                                   std::chrono::milliseconds(500)};
    dispatch::media_bridge bridge{decider, client, metrics, clock, dispatch::media_bridge_options{}};
};

bridge_world& world()
{
    static auto* w = new bridge_world; // never destroyed: the call log's thread outlives main's return
    return *w;
}

// What the bridge's first-frame rules (media_bridge::run) make of a frame:
// a call event, or nullopt when the edge must be closed with 1008.
bool is_first_frame_call(std::string_view frame, bool binary, bool& format_ok)
{
    if (binary)
        return false;
    engine::json_object doc;
    if (doc.parse(frame) != engine::json_parse_error::ok)
        return false;
    const auto* event = doc.find("event");
    if (event == nullptr || event->type != json_type::string || event->text != "incoming_call")
        return false;
    auto text = [&doc](std::string_view key) -> const std::string* {
        const auto* f = doc.find(key);
        return f != nullptr && f->type == json_type::string ? &f->text : nullptr;
    };
    bool has_identity = text("agent_identity_id") != nullptr && engine::uuid::parse(*text("agent_identity_id"));
    bool has_local = text("local_phone_number") != nullptr;
    bool has_remote = text("remote_phone_number") != nullptr && !text("remote_phone_number")->empty();
    const auto* format = doc.find("media_format");
    format_ok = format == nullptr || format->type == json_type::null || format->type == json_type::object;
    return (has_identity || has_local) && has_remote;
}

void check_first_frame(std::string_view frame, bool binary)
{
    auto& w = world();
    fake_edge edge(w.io.get_executor(), std::string(frame), binary);
    bool finished = false;
    w.io.restart();
    asio::co_spawn(w.io, w.bridge.run(edge), [&finished](std::exception_ptr e) {
        FUZZ_CHECK(!e);
        finished = true;
    });
    w.io.run();
    FUZZ_CHECK(finished);
    FUZZ_CHECK(w.bridge.active() == 0);
    FUZZ_CHECK(edge.close_code.has_value());

    bool format_ok = true;
    bool is_call = is_first_frame_call(frame, binary, format_ok);
    if (!is_call) {
        FUZZ_CHECK(*edge.close_code == 1008);
        FUZZ_CHECK(edge.written.empty());
        return;
    }
    // A call: one decision frame, a reject (no client WebSocket is reachable
    // from here), then a normal close.
    FUZZ_CHECK(*edge.close_code == 1000);
    FUZZ_CHECK(edge.written.size() == 1);
    engine::json_object decision;
    FUZZ_CHECK(decision.parse(edge.written[0]) == engine::json_parse_error::ok);
    const auto* event = decision.find("event");
    const auto* action = decision.find("action");
    const auto* reason = decision.find("reason");
    FUZZ_CHECK(event != nullptr && event->text == "decision");
    FUZZ_CHECK(action != nullptr && action->text == "reject");
    FUZZ_CHECK(reason != nullptr && !reason->text.empty());
    if (!format_ok)
        FUZZ_CHECK(reason->text == "unsupported_media_format");
}

// ------------------------------------------------------------ media frames

// The relay reads an edge frame with json_object and a client frame with
// parse_fields({"event"}); both must see the same event, and the dtmf frame
// the bridge re-wraps for the client must stay well-formed JSON.
void check_media_frame(std::string_view frame)
{
    engine::json_object doc;
    auto tree = doc.parse(frame);
    static constexpr std::string_view keys[] = {"event"};
    std::array<engine::picked_field, 1> event;
    FUZZ_CHECK(engine::parse_fields(frame, keys, event) == tree);
    if (tree != engine::json_parse_error::ok)
        return;
    const auto* e = doc.find("event");
    FUZZ_CHECK(event[0].present == (e != nullptr));
    if (e == nullptr)
        return;
    FUZZ_CHECK(event[0].type == e->type);
    if (e->type != json_type::string)
        return;
    FUZZ_CHECK(event[0].text == e->text);
    if (e->text == "dtmf") {
        const auto* dtmf = doc.find("dtmf");
        const auto* digit = dtmf != nullptr ? dtmf->find("digit") : nullptr;
        std::string d = digit != nullptr && digit->type == json_type::string ? digit->text : std::string();
        engine::json_writer w;
        w.begin_object().field("event", "dtmf").field("stream_id", "s").key("dtmf").begin_object();
        w.field("digit", d).end_object().end_object();
        engine::json_object echoed;
        FUZZ_CHECK(echoed.parse(w.str()) == engine::json_parse_error::ok);
        FUZZ_CHECK(echoed.find("dtmf")->find("digit")->text == d);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    net::configure_logging(net::log_level::error, false);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] & 3) {
    case 0: check_decide_body(body); break;
    case 1: check_status_body(body); break;
    case 2: check_first_frame(body, (data[0] & 4) != 0); break;
    case 3: check_media_frame(body); break;
    }
    return 0;
}
