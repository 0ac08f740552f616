#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace callgate::net {

enum class ws_read_status {
    ok,
    closed,   // the peer closed (or the connection ended)
    too_big,  // a message over the limit: the connection was failed with 1009
    error,    // anything else (reset, timeout, protocol error)
};

class ws_connection;

// Hears how start_read and start_write went, on the connection's executor.
// A completion may come before start_read or start_write returns (a write the
// socket took at once is completed in place), so a caller sets up whatever the
// completion looks at before it starts the operation, and touches nothing
// after.
class ws_handler {
public:
    virtual void on_read(ws_connection& from, ws_read_status status) = 0;
    virtual void on_written(ws_connection& to, bool ok) = 0;

protected:
    ~ws_handler() = default;
};

// One WebSocket connection, accepted or dialled, plain or TLS. At most one
// read and one write (or close) may be pending at a time; all calls on the
// connection's executor.
class ws_connection {
public:
    virtual ~ws_connection() = default;
    virtual boost::asio::awaitable<ws_read_status> read(std::string& out, bool& binary) = 0;
    virtual boost::asio::awaitable<bool> write(std::string_view data, bool binary) = 0;
    // read and write for a loop that relays messages: the same operations,
    // completed by a call to `handler` instead of resuming a coroutine (no
    // coroutine frame per message). `out`, `binary`, `data` and `handler`
    // must outlive the operation.
    virtual void start_read(std::string& out, bool& binary, ws_handler& handler) = 0;
    virtual void start_write(std::string_view data, bool binary, ws_handler& handler) = 0;
    // Sends a close frame with `code` and `reason` (at most 123 bytes; longer is cut),
    // and waits briefly for the peer's.
    virtual boost::asio::awaitable<void> close(std::uint16_t code, std::string reason = {}) = 0;
    // Aborts pending operations at once (no close frame).
    virtual void abort() = 0;
    virtual boost::asio::any_io_executor executor() = 0;
};

} // namespace callgate::net
