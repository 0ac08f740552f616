#include "callgate/dispatch/media_bridge.hpp"

#include "callgate/codec/base64.hpp"
#include "callgate/codec/decimal.hpp"

#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/stream_events.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/net/log.hpp"
#include "callgate/net/outbound_client.hpp"
#include "callgate/net/websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <new>
#include <optional>

namespace callgate::dispatch {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using engine::json_type;
namespace events = stream_events;
using events::close_normal;
using events::close_policy;

namespace {


constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string decision_reject_frame(outcome kind)
{
    engine::json_writer w;
    w.begin_object()
        .field("event", events::decision)
        .field("action", "reject")
        .field("reason", labels_of(kind).reason)
        .end_object();
    return w.take();
}

bool header_flag(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name)
{
    for (const auto& [k, v] : headers) {
        if (k.size() != name.size())
            continue;
        bool same = true;
        for (std::size_t i = 0; i < k.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(name[i]));
        if (same) {
            std::string value = v;
            for (auto& c : value)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return value != "false" && value != "0";
        }
    }
    return true; // absent: true, as Inkbox does
}

} // namespace

// One bridged call. Everything runs on the edge connection's executor.
//
// Each direction's queue is bounded twice: at most `media_limit` media frames,
// and at most `byte_limit` bytes of everything queued (payload plus the
// deque slot of each frame). When a frame does not fit, queued unknown events
// go first, then (for media and control frames) the oldest media; media and
// unknown events that still do not fit are dropped themselves; a control
// frame that still does not fit ends the call as peer_flood. Every drop is
// counted in the record and in the metrics.
//
// The relay is driven by completions, not coroutines: each connection has one
// read pending while the call lasts, each direction one write while its queue
// is not empty (ws_connection::start_read/start_write); a frame relayed costs
// no coroutine frame. `pending` counts the operations and tasks still to
// complete, and relay() holds the call until it is zero.
struct media_bridge::call final : std::enable_shared_from_this<media_bridge::call>, net::ws_handler {
    enum class frame_kind : std::uint8_t {
        control, // stop, dtmf, clear, mark, text, ...: never dropped while the call lasts
        media,   // audio: the oldest goes first
        unknown, // an event the protocol does not name: dropped before anything else
    };
    static constexpr std::size_t kinds = 3;
    struct frame {
        std::string data;
        bool binary = false;
        frame_kind kind = frame_kind::control;
    };
    // What a queued frame costs against the byte bound.
    static std::size_t cost(const frame& f) { return f.data.size() + sizeof(frame); }

    struct direction {
        explicit direction(net::ws_connection* to) : target(to) {}
        net::ws_connection* target; // where the queue is written
        std::deque<frame> queue;
        std::size_t bytes = 0; // cost() of everything queued
        std::size_t peak_bytes = 0;
        std::array<std::size_t, kinds> queued{};       // frames queued, by kind
        std::array<std::size_t, kinds> queued_bytes{}; // their cost, by kind
        frame in_flight;      // the frame being written
        bool writing = false; // a write of in_flight is pending
        bool finished = false; // closed, or a write failed: nothing more is written
        engine::media_counts counts;
        // Buffers of frames written, for the reader to fill again: a relayed
        // frame allocates nothing once the call has a few.
        std::vector<std::string> spare;
    };
    static constexpr std::size_t spare_buffers = 4;
    static constexpr std::size_t spare_capacity = 4096; // a larger buffer goes back to the heap

    static std::string take_buffer(direction& d)
    {
        if (d.spare.empty())
            return {};
        std::string s = std::move(d.spare.back());
        d.spare.pop_back();
        s.clear();
        return s;
    }

    static void recycle(direction& d, std::string s)
    {
        if (d.spare.size() < spare_buffers && s.capacity() <= spare_capacity && s.capacity() > 0)
            d.spare.push_back(std::move(s));
    }

    call(net::ws_connection& edge_connection, std::unique_ptr<net::ws_connection> client_connection,
         dispatch_metrics& m, std::size_t media_queue_limit, std::size_t queue_byte_limit)
        : edge(edge_connection),
          client(std::move(client_connection)),
          executor(edge_connection.executor()),
          to_client(client.get()),
          to_edge(&edge_connection),
          done(executor),
          duration(executor),
          metrics(m),
          media_limit(media_queue_limit),
          byte_limit(queue_byte_limit)
    {
    }

    net::ws_connection& edge;
    std::unique_ptr<net::ws_connection> client;
    asio::any_io_executor executor;
    direction to_client;
    direction to_edge;
    asio::steady_timer done;
    asio::steady_timer duration;
    dispatch_metrics& metrics;
    std::size_t media_limit;
    std::size_t byte_limit;
    int pending = 0; // operations started and not yet completed, close tasks running
    bool ended = false;
    engine::hangup_reason hangup = engine::hangup_reason::none;
    std::uint16_t close_code = close_normal;
    std::string close_reason;
    std::string stream_id;
    std::string call_id;
    steady::time_point started = steady::now();
    std::uint64_t chunk = 0;
    // What each connection's pending read fills.
    std::string edge_data;
    bool edge_binary = false;
    std::string client_data;
    bool client_binary = false;

    std::size_t index_of(const direction& d) const { return &d == &to_client ? 0 : 1; }
    static std::size_t slot(frame_kind k) { return static_cast<std::size_t>(k); }

    // Queues a frame within the direction's bounds (see above). A control
    // frame that cannot fit ends the call.
    void push(direction& d, frame f)
    {
        if (ended) {
            ++d.counts.dropped; // after stop: never delivered
            return;
        }
        if (f.kind == frame_kind::media && d.queued[slot(frame_kind::media)] >= media_limit)
            drop_oldest(d, frame_kind::media);
        std::size_t size = cost(f);
        if (d.bytes + size > byte_limit) {
            std::size_t sheddable = d.queued_bytes[slot(frame_kind::unknown)];
            if (f.kind != frame_kind::unknown)
                sheddable += d.queued_bytes[slot(frame_kind::media)];
            if (d.bytes - sheddable + size > byte_limit) {
                if (f.kind == frame_kind::control)
                    flooded(d);
                else
                    count_drop(d, f.kind); // the new frame is the one that goes
                return;
            }
            while (d.bytes + size > byte_limit && d.queued[slot(frame_kind::unknown)] > 0)
                drop_oldest(d, frame_kind::unknown);
            while (d.bytes + size > byte_limit && d.queued[slot(frame_kind::media)] > 0)
                drop_oldest(d, frame_kind::media);
        }
        enqueue(d, std::move(f));
    }

    // Queues without looking at the bounds: only for the call's own few frames (start, stop).
    void enqueue(direction& d, frame f)
    {
        std::size_t size = cost(f);
        d.bytes += size;
        ++d.queued[slot(f.kind)];
        d.queued_bytes[slot(f.kind)] += size;
        if (d.bytes > d.peak_bytes) {
            d.peak_bytes = d.bytes;
            metrics.raise_queue_peak(index_of(d), d.bytes);
        }
        d.queue.push_back(std::move(f));
        wake(d);
    }

    // Starts the direction's writer if it is idle, here and now: everything
    // of the call runs on the edge connection's executor, so the write starts
    // before the caller goes on.
    void wake(direction& d)
    {
        if (!d.writing && !d.finished)
            write_next(d);
    }

    frame pop(direction& d)
    {
        frame f = std::move(d.queue.front());
        d.queue.pop_front();
        forget(d, f);
        return f;
    }

    void forget(direction& d, const frame& f)
    {
        std::size_t size = cost(f);
        d.bytes -= size;
        --d.queued[slot(f.kind)];
        d.queued_bytes[slot(f.kind)] -= size;
    }

    void clear(direction& d)
    {
        d.queue.clear();
        d.bytes = 0;
        d.queued = {};
        d.queued_bytes = {};
    }

    // Drops the oldest queued frame of `kind` (media or unknown; one must be queued).
    void drop_oldest(direction& d, frame_kind kind)
    {
        for (auto it = d.queue.begin(); it != d.queue.end(); ++it) {
            if (it->kind == kind) {
                forget(d, *it);
                d.queue.erase(it);
                count_drop(d, kind);
                return;
            }
        }
    }

    void count_drop(direction& d, frame_kind kind)
    {
        ++d.counts.dropped;
        if (kind == frame_kind::media)
            metrics.media_frames_dropped[index_of(d)].inc();
        else if (kind == frame_kind::unknown)
            metrics.events_dropped[index_of(d)].inc();
    }

    // Control frames would pass the byte bound: the reader is not keeping up
    // with what its peer sends. What is queued will never be delivered (counted
    // as dropped); both sides get stop with peer_flood, then close 1008.
    void flooded(direction& d)
    {
        metrics.floods[index_of(d)].inc();
        d.counts.dropped += d.queue.size();
        clear(d);
        close_code = close_policy;
        close_reason = "peer_flood";
        end(engine::hangup_reason::peer_flood, "peer_flood", "peer_flood");
    }

    std::string stop_frame_for_client(std::string_view reason) const
    {
        engine::json_writer w;
        w.begin_object().field("event", events::stop).field("stream_id", stream_id).field("reason", reason).end_object();
        return w.take();
    }

    static std::string stop_frame_for_edge(std::string_view reason)
    {
        engine::json_writer w;
        w.begin_object().field("event", events::stop).field("reason", reason).end_object();
        return w.take();
    }

    // Ends the call once: tells the side(s) that did not hang up, then the
    // writers drain their queues and close both connections.
    void end(engine::hangup_reason why, std::string_view client_reason, std::string_view edge_reason)
    {
        if (ended)
            return;
        ended = true;
        hangup = why;
        if (!client_reason.empty())
            enqueue(to_client, {stop_frame_for_client(client_reason), false, frame_kind::control});
        if (!edge_reason.empty())
            enqueue(to_edge, {stop_frame_for_edge(edge_reason), false, frame_kind::control});
        wake(to_client);
        wake(to_edge);
        duration.cancel();
        done.cancel(); // run() waits for the end
    }

    // The direction's next step once no write is pending: write the oldest
    // queued frame, or, once the call ended and the queue is empty, close.
    void write_next(direction& d)
    {
        if (!d.queue.empty()) {
            d.in_flight = pop(d);
            d.writing = true;
            begin();
            d.target->start_write(d.in_flight.data, d.in_flight.binary, *this);
            return; // the write may have completed already
        }
        if (ended) {
            d.finished = true;
            spawn(d.target->close(close_code, close_reason));
        }
    }

    void on_written(net::ws_connection& to, bool ok) override
    {
        direction& d = &to == &edge ? to_edge : to_client;
        d.writing = false;
        if (!ok) {
            d.finished = true; // the stop end() queues here is never written
            bool to_agent = &to == client.get();
            end(to_agent ? engine::hangup_reason::local : engine::hangup_reason::remote, to_agent ? "" : "remote_hang_up",
                to_agent ? "local" : "");
            clear(d);
        } else {
            ++d.counts.frames;
            d.counts.bytes += d.in_flight.data.size();
            metrics.media_frames[index_of(d)].inc();
            recycle(d, std::move(d.in_flight.data));
            write_next(d);
        }
        complete();
    }

    // One operation started; complete() when it completed.
    void begin() { ++pending; }
    void complete()
    {
        if (--pending == 0)
            done.cancel();
    }

    void read_edge()
    {
        if (ended)
            return;
        begin();
        edge.start_read(edge_data, edge_binary, *this);
    }

    void read_client()
    {
        if (ended)
            return;
        begin();
        client->start_read(client_data, client_binary, *this);
    }

    void on_read(net::ws_connection& from, net::ws_read_status status) override
    {
        bool edge_side = &from == &edge;
        if (status != net::ws_read_status::ok) {
            if (edge_side)
                end(engine::hangup_reason::remote, "remote_hang_up", "");
            else
                end(engine::hangup_reason::local, "", "local");
        } else {
            // Out of memory while a frame is built: that frame is dropped,
            // the call goes on (the exception must not leave the handler:
            // it would end the I/O thread's run, not just this call).
            try {
                if (edge_side)
                    from_edge(edge_data, edge_binary);
                else
                    from_client(client_data, client_binary);
            } catch (const std::bad_alloc&) {
                ++(edge_side ? to_client : to_edge).counts.dropped;
            }
        }
        if (edge_side)
            read_edge();
        else
            read_client();
        complete();
    }

    // Edge → client: media re-wrapped in the client's format, dtmf, stop.
    void from_edge(std::string& data, bool binary)
    {
        if (binary) {
            push(to_client, {client_media(data, true), false, frame_kind::media});
            return;
        }
        engine::json_object doc;
        if (doc.parse(data) != engine::json_parse_error::ok) {
            ++to_client.counts.dropped;
            return;
        }
        const auto* event = doc.find("event");
        std::string_view name =
            event != nullptr && event->type == json_type::string ? std::string_view(event->text) : std::string_view();
        if (name == events::media) {
            const auto* media = doc.find("media");
            const auto* payload = media != nullptr ? media->find("payload") : nullptr;
            // Copied into the client's JSON as it is: only strict, padded
            // base64 may pass (its alphabet needs no JSON escaping).
            if (payload != nullptr && payload->type == json_type::string && codec::is_base64(payload->text))
                push(to_client, {client_media(payload->text, false), false, frame_kind::media});
            else
                ++to_client.counts.dropped;
        } else if (name == events::dtmf) {
            const auto* dtmf = doc.find("dtmf");
            const auto* digit = dtmf != nullptr ? dtmf->find("digit") : nullptr;
            engine::json_writer w;
            w.begin_object().field("event", events::dtmf).field("stream_id", stream_id).key("dtmf").begin_object();
            w.field("digit", digit != nullptr && digit->type == json_type::string ? digit->text : std::string());
            w.end_object().end_object();
            push(to_client, {w.take(), false, frame_kind::control});
        } else if (name == events::stop) {
            end(engine::hangup_reason::remote, "remote_hang_up", "");
        } else {
            push(to_client, {std::move(data), false, frame_kind::unknown}); // relayed unchanged
            data = take_buffer(to_client);
        }
    }

    // The client's media event for `payload`: audio bytes when `encode`
    // (base64-encoded into the event), else base64 text copied as it is.
    std::string client_media(std::string_view payload, bool encode)
    {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count();
        std::string out = take_buffer(to_client);
        out.reserve((encode ? (payload.size() + 2) / 3 * 4 : payload.size()) + 160);
        out += "{\"event\":\"";
        out += events::media;
        out += "\",\"stream_id\":\"";
        out += stream_id;
        out += "\",\"media\":{\"track\":\"inbound\",\"chunk\":";
        codec::append_decimal(out, ++chunk);
        out += ",\"timestamp\":\"";
        codec::append_decimal(out, ms);
        out += "\",\"payload\":\"";
        if (encode)
            codec::append_base64(out, payload);
        else
            out += payload; // already base64: no escaping needed
        out += "\"}}";
        return out;
    }

    // The events media-stream.md names for client → engine (stop aside).
    static frame_kind client_event_kind(std::string_view name)
    {
        if (name == events::media)
            return frame_kind::media;
        for (auto known : events::client_control)
            if (name == known)
                return frame_kind::control;
        return frame_kind::unknown;
    }

    // Client → edge: frames forwarded unchanged; only `event` is looked at.
    void from_client(std::string& data, bool binary)
    {
        if (binary) {
            push(to_edge, {std::move(data), true, frame_kind::media});
            data = take_buffer(to_edge);
            return;
        }
        static constexpr std::string_view keys[] = {"event"};
        std::array<engine::picked_field, 1> event;
        if (engine::parse_fields(data, keys, event) != engine::json_parse_error::ok) {
            ++to_edge.counts.dropped; // not a JSON object
            metrics.media_frames_dropped[1].inc();
            return;
        }
        // (A view of event[0].text, not of a temporary string: `cond ? text : ""` would be a std::string.)
        std::string_view name = event[0].type == json_type::string ? std::string_view(event[0].text) : std::string_view();
        if (name == events::stop) {
            end(engine::hangup_reason::local, "", "local");
            return;
        }
        push(to_edge, {std::move(data), false, client_event_kind(name)});
        data = take_buffer(to_edge);
    }

    void limit_duration(std::chrono::seconds limit_for)
    {
        if (ended) // the start frame's write may have failed at once
            return;
        duration.expires_after(limit_for);
        begin();
        duration.async_wait([this](boost::system::error_code ec) {
            if (!ec)
                end(engine::hangup_reason::max_duration, "max_duration", "max_duration");
            complete();
        });
    }

    void spawn(asio::awaitable<void> task)
    {
        begin();
        // Weak: should the executor's context go away mid-call, the task must
        // not keep the call alive.
        asio::co_spawn(executor, std::move(task), [weak = weak_from_this()](std::exception_ptr) {
            if (auto self = weak.lock())
                self->complete();
        });
    }

    // The relay, from the first read until the call ended and every operation
    // completed; `grace` after the call ended, both connections are cut.
    asio::awaitable<void> run(std::chrono::seconds limit_for, std::chrono::milliseconds grace)
    {
        limit_duration(limit_for);
        read_client();
        read_edge();
        while (!ended) {
            done.expires_at(steady::time_point::max());
            co_await done.async_wait(use_tuple);
        }
        auto deadline = steady::now() + grace;
        bool aborted = false;
        while (pending > 0) {
            done.expires_at(aborted ? steady::time_point::max() : deadline);
            auto [ec] = co_await done.async_wait(use_tuple);
            if (!ec && !aborted) {
                edge.abort();
                client->abort();
                aborted = true;
            }
        }
    }
};

media_bridge::media_bridge(call_decider& decider, net::outbound_client& client, dispatch_metrics& metrics,
                           engine::clock_source& clock, media_bridge_options options)
    : decider_(decider), client_(client), metrics_(metrics), clock_(clock), options_(options)
{
    // A single control frame of the largest size must fit with room to spare,
    // or a legitimate peer would be taken for a flood.
    options_.queue_bytes = std::max(options_.queue_bytes, 2 * options_.frame_limit);
}

media_bridge::~media_bridge() = default;

std::size_t media_bridge::active() const
{
    std::lock_guard lock(mutex_);
    return calls_.size();
}

void media_bridge::shutdown()
{
    std::lock_guard lock(mutex_);
    for (auto& c : calls_)
        asio::post(c->executor, [c] { c->end(engine::hangup_reason::local, "engine_shutdown", "engine_shutdown"); });
}

namespace {

// The first frame of a bridged call, once it is known to be an incoming_call.
struct incoming_call {
    call_event request;
    bool media_format_ok = true;
};

// Absent or null, or audio/x-mulaw, 8000 Hz, one channel (a missing member is the default).
bool media_format_supported(const engine::json_object& doc)
{
    const auto* format = doc.find("media_format");
    if (format == nullptr || format->type == json_type::null)
        return true;
    const auto* encoding = format->find("encoding");
    const auto* rate = format->find("sample_rate");
    const auto* channels = format->find("channels");
    return format->type == json_type::object &&
           (encoding == nullptr || (encoding->type == json_type::string && encoding->text == "audio/x-mulaw")) &&
           (rate == nullptr || (rate->type == json_type::integer && rate->integer == 8000)) &&
           (channels == nullptr || (channels->type == json_type::integer && channels->integer == 1));
}

// Step 1: the first frame must be an incoming_call with a number (or identity)
// and a caller; anything else is closed with 1008. Nothing when the edge is gone.
asio::awaitable<std::optional<incoming_call>> read_incoming_call(net::ws_connection& edge)
{
    std::string first;
    bool binary = false;
    if (co_await edge.read(first, binary) != net::ws_read_status::ok)
        co_return std::nullopt;
    engine::json_object doc;
    const engine::json_field* event = nullptr;
    if (!binary && doc.parse(first) == engine::json_parse_error::ok)
        event = doc.find("event");
    if (event == nullptr || event->type != json_type::string || event->text != events::incoming_call) {
        co_await edge.close(close_policy);
        co_return std::nullopt;
    }
    incoming_call out;
    auto text = [&doc](std::string_view key) -> std::optional<std::string> {
        const auto* f = doc.find(key);
        if (f != nullptr && f->type == json_type::string)
            return f->text;
        return std::nullopt;
    };
    auto& request = out.request;
    if (auto id = text("call_id"))
        request.call_id = engine::uuid::parse(*id);
    if (auto id = text("agent_identity_id"))
        request.agent_identity_id = engine::uuid::parse(*id);
    request.local_phone_number = text("local_phone_number");
    request.remote_phone_number = text("remote_phone_number").value_or("");
    if ((!request.local_phone_number && !request.agent_identity_id) || request.remote_phone_number.empty()) {
        co_await edge.close(close_policy);
        co_return std::nullopt;
    }
    out.media_format_ok = media_format_supported(doc);
    co_return out;
}

// Step 2: the decision; an unsupported media format is the engine's own reject.
asio::awaitable<call_decision> decide(call_decider& decider, incoming_call first)
{
    if (!first.media_format_ok)
        co_return decider.engine_reject(std::move(first.request), outcome::unsupported_media_format);
    auto op = decider.decide_only(std::move(first.request));
    co_return co_await std::move(op);
}

// A call that is not bridged: recorded as canceled with `kind`, told to the edge, closed 1000.
asio::awaitable<void> reject(call_decider& decider, net::ws_connection& edge, call_decision d, outcome kind)
{
    d.kind = kind;
    decider.record(d, engine::call_status::canceled);
    auto frame = decision_reject_frame(kind);
    co_await edge.write(frame, false);
    co_await edge.close(close_normal);
}

std::string answer_frame(const call_decision& d,
                         const std::vector<std::pair<std::string, std::string>>& client_response_headers)
{
    engine::json_writer answer;
    answer.begin_object()
        .field("event", events::decision)
        .field("action", "answer")
        .field("client_websocket_url", d.client_websocket_url)
        .field("use_inkbox_tts", header_flag(client_response_headers, "X-Use-Inkbox-Text-To-Speech"))
        .field("use_inkbox_stt", header_flag(client_response_headers, "X-Use-Inkbox-Speech-To-Text"))
        .end_object();
    return answer.take();
}

std::string start_frame(const media_bridge::call& c)
{
    engine::json_writer start;
    start.begin_object()
        .field("event", events::start)
        .field("stream_id", c.stream_id)
        .key("start")
        .begin_object()
        .field("call_control_id", c.call_id)
        .key("media_format")
        .begin_object()
        .field("encoding", "audio/x-mulaw")
        .field("sample_rate", std::int64_t{8000})
        .field("channels", std::int64_t{1})
        .end_object()
        .end_object()
        .end_object();
    return start.take();
}

// Step 6: the record of a bridged call: completed, who hung up, the media counts.
void record_completion(call_decider& decider, engine::clock_source& clock, const engine::uuid& call_id,
                       const media_bridge::call& c)
{
    auto ended_us = clock.now_us();
    auto hangup = c.hangup;
    auto e2c = c.to_client.counts;
    auto c2e = c.to_edge.counts;
    decider.calls().update(
        call_id,
        [hangup, e2c, c2e, ended_us](engine::call_record& r) {
            r.status = engine::call_status::completed;
            r.hangup = hangup;
            r.ended_at_us = ended_us;
            r.has_media = true;
            r.edge_to_client = e2c;
            r.client_to_edge = c2e;
            return true;
        },
        [](engine::config_errc) {});
}

} // namespace

// The story of one bridged call, as named steps.
asio::awaitable<void> media_bridge::run(net::ws_connection& edge, std::string request_id)
{
    auto read_op = read_incoming_call(edge);
    auto first = co_await std::move(read_op);
    if (!first)
        co_return;
    first->request.request_id = request_id;
    auto decide_op = decide(decider_, std::move(*first));
    auto d = co_await std::move(decide_op);
    if (!is_answer(d.kind)) {
        auto kind = d.kind;
        auto op = reject(decider_, edge, std::move(d), kind);
        co_await std::move(op);
        co_return;
    }

    // Step 3: the client WebSocket; the edge hears "answer" only once it is there.
    auto dial_op = client_.open_websocket(*d.client_websocket_url, d.client_headers,
                                          steady::now() + options_.client_handshake_timeout, options_.frame_limit,
                                          options_.send_buffer);
    auto dialled = co_await std::move(dial_op);
    if (!dialled.connection) {
        net::log(net::log_level::info, "client_websocket_failed",
                 "Could not open the voice agent's WebSocket; the call is rejected",
                 {{"call_id", d.call.call_id.to_string()}, {"request_id", request_id}, {"detail", dialled.detail}});
        auto kind = dialled.error == net::outbound_error::blocked ? outcome::client_blocked : outcome::client_unreachable;
        auto op = reject(decider_, edge, std::move(d), kind);
        co_await std::move(op);
        co_return;
    }

    // Step 4: answered: recorded, told to the edge, and the client's start frame queued.
    auto c = std::make_shared<call>(edge, std::move(dialled.connection), metrics_, options_.queue_frames,
                                    options_.queue_bytes);
    c->call_id = d.call.call_id.to_string();
    c->stream_id = engine::uuid::generate(decider_.ids()).to_string();
    decider_.record(d, engine::call_status::answered, clock_.now_us());
    auto answer = answer_frame(d, dialled.response_headers);
    if (!co_await edge.write(answer, false)) {
        c->client->abort();
        co_return;
    }
    c->enqueue(c->to_client, {start_frame(*c), false, call::frame_kind::control});

    // Step 5: the relay, until one side ends the call; step 6: its record.
    auto relay_op = relay(c);
    co_await std::move(relay_op);
    record_completion(decider_, clock_, d.call.call_id, *c);
}

asio::awaitable<void> media_bridge::relay(std::shared_ptr<call> c)
{
    std::list<std::shared_ptr<call>>::iterator position;
    {
        std::lock_guard lock(mutex_);
        position = calls_.insert(calls_.end(), c);
    }
    metrics_.bridged_calls_active.fetch_add(1);
    co_await c->run(options_.max_call_duration, std::chrono::seconds(3));
    metrics_.bridged_calls_active.fetch_sub(1);
    std::lock_guard lock(mutex_);
    calls_.erase(position);
}

} // namespace callgate::dispatch
