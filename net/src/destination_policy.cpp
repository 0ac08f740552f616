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
