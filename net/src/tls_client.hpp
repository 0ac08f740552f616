#pragma once

// Client TLS set-up shared by the outbound client and the etcd client. Private to net.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>

#include <string>

namespace callgate::net::detail {

// Whether `host` is an IPv4 or IPv6 address rather than a name.
inline bool is_ip_literal(const std::string& host)
{
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    return !ec;
}

// Sets a client TLS stream (asio::ssl::stream or beast::ssl_stream) up to talk
// to `host`: its name in SNI unless it is an IP literal, and a peer
// certificate that must chain to a trusted CA and name `host`.
template <class TlsStream>
void verify_server(TlsStream& stream, const std::string& host)
{
    if (!is_ip_literal(host)) // SNI carries names only (RFC 6066 section 3)
        SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    stream.set_verify_mode(boost::asio::ssl::verify_peer);
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
}

} // namespace callgate::net::detail
