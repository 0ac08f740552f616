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

// One WebSocket connection, accepted or dialled, plain or TLS. At most one
// read and one write (or close) may be pending at a time; all calls on the
// connection's executor.
class ws_connection {
public:
    virtual ~ws_connection() = default;
    virtual boost::asio::awaitable<ws_read_status> read(std::string& out, bool& binary) = 0;
    virtual boost::asio::awaitable<bool> write(std::string_view data, bool binary) = 0;
    // Sends a close frame with `code` and `reason` (at most 123 bytes; longer is cut),
    // and waits briefly for the peer's.
    virtual boost::asio::awaitable<void> close(std::uint16_t code, std::string reason = {}) = 0;
    // Aborts pending operations at once (no close frame).
    virtual void abort() = 0;
    virtual boost::asio::any_io_executor executor() = 0;
};

} // namespace callgate::net
