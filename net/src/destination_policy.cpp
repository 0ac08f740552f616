#include "callgate/net/destination_policy.hpp"

namespace callgate::net {
namespace {

bool is_public_v4(const boost::asio::ip::address_v4& a)
{
    auto v = a.to_uint();
    auto in = [v](std::uint32_t net, int bits) {
        std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
        return (v & mask) == net;
    };
    return !(in(0x00000000, 8) ||   // 0/8 "this network", incl. 0.0.0.0
             in(0x0A000000, 8) ||   // 10/8
             in(0x64400000, 10) ||  // 100.64/10 CGNAT
             in(0x7F000000, 8) ||   // 127/8 loopback
             in(0xA9FE0000, 16) ||  // 169.254/16 link-local, cloud metadata
             in(0xAC100000, 12) ||  // 172.16/12
             in(0xC0000000, 24) ||  // 192.0.0/24 IETF protocol assignments
             in(0xC0A80000, 16) ||  // 192.168/16
             in(0xC6120000, 15) ||  // 198.18/15 benchmarking
             in(0xE0000000, 4) ||   // 224/4 multicast
             in(0xF0000000, 4));    // 240/4 reserved, incl. broadcast
}

} // namespace

bool is_public_address(const boost::asio::ip::address& address)
{
    if (address.is_v4())
        return is_public_v4(address.to_v4());
    auto v6 = address.to_v6();
    if (v6.is_v4_mapped())
        return is_public_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
    auto b = v6.to_bytes();
    bool v4_compatible = true;
    for (int i = 0; i < 12; ++i)
        v4_compatible = v4_compatible && b[i] == 0;
    if (v4_compatible) { // ::a.b.c.d, and :: and ::1
        if (v6.is_unspecified() || v6.is_loopback())
            return false;
        return is_public_v4(boost::asio::ip::address_v4({b[12], b[13], b[14], b[15]}));
    }
    auto v4_at = [&b](int i, std::uint8_t flip = 0) {
        return boost::asio::ip::address_v4({static_cast<std::uint8_t>(b[i] ^ flip), static_cast<std::uint8_t>(b[i + 1] ^ flip),
                                            static_cast<std::uint8_t>(b[i + 2] ^ flip),
                                            static_cast<std::uint8_t>(b[i + 3] ^ flip)});
    };
    auto starts_with = [&b](std::initializer_list<std::uint8_t> prefix) {
        int i = 0;
        for (auto byte : prefix)
            if (b[i++] != byte)
                return false;
        return true;
    };
    // Addresses that carry an IPv4 address inside are judged by that address.
    if (starts_with({0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0})) // 64:ff9b::/96 NAT64 well-known
        return is_public_v4(v4_at(12));
    if (starts_with({0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01})) // 64:ff9b:1::/48 local-use NAT64
        return false;
    if (starts_with({0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0})) // ::ffff:0:a.b.c.d IPv4-translated
        return is_public_v4(v4_at(12));
    if (starts_with({0x20, 0x02})) // 2002::/16 6to4
        return is_public_v4(v4_at(2));
    if (starts_with({0x20, 0x01, 0x00, 0x00})) // 2001::/32 Teredo: server, and client (inverted)
        return is_public_v4(v4_at(4)) && is_public_v4(v4_at(12, 0xFF));
    if (starts_with({0x20, 0x01, 0x0D, 0xB8})) // 2001:db8::/32 documentation
        return false;
    if (starts_with({0x01, 0x00, 0, 0, 0, 0, 0, 0})) // 100::/64 discard-only
        return false;
    if ((b[0] & 0xFE) == 0xFC) // fc00::/7 unique local
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) // fe80::/10 link-local
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) // fec0::/10 site-local (deprecated)
        return false;
    if (b[0] == 0xFF) // multicast
        return false;
    return true;
}

} // namespace callgate::net
