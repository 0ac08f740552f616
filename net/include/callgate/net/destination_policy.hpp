#pragma once

#include <boost/asio/ip/address.hpp>

namespace callgate::net {

// Whether an outbound destination (webhook, client WebSocket) may be dialled
// by default: false for loopback, private (RFC 1918), link-local (including
// 169.254.169.254), CGNAT 100.64/10, unspecified, broadcast, reserved and
// multicast IPv4; loopback, unspecified, unique-local fc00::/7, link-local
// fe80::/10 and multicast IPv6; and IPv4-mapped or -compatible IPv6 forms of
// the refused IPv4 ranges. `--allow-private-destinations` skips this check.
bool is_public_address(const boost::asio::ip::address& address);

} // namespace callgate::net
