#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>

namespace callgate::engine {
class clock_source;
}

namespace callgate::net {
class outbound_client;
class ws_connection;
} // namespace callgate::net

namespace callgate::dispatch {

class call_decider;
struct dispatch_metrics;

struct media_bridge_options {
    std::chrono::milliseconds client_handshake_timeout{5000};
    std::chrono::seconds max_call_duration{4 * 3600};
    std::size_t queue_frames = 50;         // media frames queued per direction (≈ 1 s of audio)
    std::size_t queue_bytes = 256 * 1024;  // everything queued per direction (at least 2 × frame_limit)
    std::size_t frame_limit = 64 * 1024;   // larger frames fail the connection with 1009
    int send_buffer = 32 * 1024;           // SO_SNDBUF of the client socket
};

// Bridged calls (edge-protocol.md section 2, media-stream.md): the first
// frame, the decision, the client WebSocket, then the relay both ways with a
// queue per direction bounded in media frames and in bytes: a full queue drops
// unknown events first, then the oldest media; control frames are never
// dropped — one that would pass the byte bound ends the call as peer_flood.
// The call lasts until either side hangs up, the edge goes quiet, the call runs
// too long, a peer floods, or the engine shuts down. Every call keeps a record.
//
// run() is a coroutine on the edge connection's executor; the call's other
// coroutines run on the same executor, so a call needs no locks.
class media_bridge {
public:
    media_bridge(call_decider& decider, net::outbound_client& client, dispatch_metrics& metrics,
                 engine::clock_source& clock, media_bridge_options options);
    ~media_bridge();

    // Bridges the one call on `edge`; `request_id` (the upgrade request's
    // X-Request-ID) goes into the call's log lines.
    boost::asio::awaitable<void> run(net::ws_connection& edge, std::string request_id = {});

    // Ends every bridged call with stop(engine_shutdown). Any thread.
    void shutdown();
    std::size_t active() const;

    struct call;

private:
    // Registers the call (for shutdown), runs its readers, writers and duration
    // limit until the call ends and both connections are closed, unregisters it.
    boost::asio::awaitable<void> relay(std::shared_ptr<call> c);

    call_decider& decider_;
    net::outbound_client& client_;
    dispatch_metrics& metrics_;
    engine::clock_source& clock_;
    media_bridge_options options_;
    mutable std::mutex mutex_;
    std::list<std::shared_ptr<call>> calls_;
};

} // namespace callgate::dispatch
