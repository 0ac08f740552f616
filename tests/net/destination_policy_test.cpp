#include "callgate/net/destination_policy.hpp"

#include "callgate/net/outbound_client.hpp"

#include <gtest/gtest.h>

namespace callgate::net {
namespace {

TEST(destination_policy, refuses_every_private_range_of_the_spec)
{
    const char* refused[] = {
        "127.0.0.1",       "127.255.255.254", "10.0.0.1",      "10.255.255.255", "172.16.0.1",
        "172.31.255.255",  "192.168.1.1",     "169.254.169.254", "169.254.0.1",  "100.64.0.1",
        "100.127.255.254", "0.0.0.0",         "224.0.0.1",     "239.255.255.250", "255.255.255.255",
        "::1",             "::",              "fc00::1",       "fd12:3456::1",   "fe80::1",
        "ff02::1",         "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    };
    for (const char* a : refused)
        EXPECT_FALSE(is_public_address(boost::asio::ip::make_address(a))) << a;
}

TEST(destination_policy, judges_embedded_ipv4_by_the_ipv4_inside)
{
    const char* refused[] = {
        "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1",  "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.0.1",
        "64:ff9b:1::8.8.8.8", // local-use NAT64: whatever is inside, it is a private translator
        "2002:7f00:1::1",     "2002:a00:1::1",      "2002:a9fe:a9fe::",    "2002:c0a8:101::1",
        "::ffff:0:127.0.0.1", "::ffff:0:10.1.2.3",
        // Teredo: server 65.54.227.120, client obfuscated 127.0.0.1 / 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
        // Teredo with a private server address
        "2001:0:a00:1:8000:63bf:f7f7:f7f7",
        "2001:db8::1", "100::1",
    };
    for (const char* a : refused)
        EXPECT_FALSE(is_public_address(boost::asio::ip::make_address(a))) << a;
    const char* allowed[] = {"64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:0:8.8.8.8",
                             "2001:0:4136:e378:8000:63bf:f7f7:f7f7"}; // Teredo client 8.8.8.8
    for (const char* a : allowed)
        EXPECT_TRUE(is_public_address(boost::asio::ip::make_address(a))) << a;
}

TEST(destination_policy, allows_public_addresses)
{
    const char* allowed[] = {"8.8.8.8",     "1.1.1.1",       "172.15.255.255", "172.32.0.1",
                             "100.63.255.255", "100.128.0.1", "192.169.0.1",    "2001:4860:4860::8888",
                             "::ffff:8.8.8.8", "2606:4700::1111"};
    for (const char* a : allowed)
        EXPECT_TRUE(is_public_address(boost::asio::ip::make_address(a))) << a;
}

TEST(outbound_url, parses_scheme_host_port_and_target)
{
    url_target t;
    ASSERT_TRUE(parse_url("https://hooks.example.com/in?x=1", t));
    EXPECT_EQ(t.scheme, "https");
    EXPECT_EQ(t.host, "hooks.example.com");
    EXPECT_EQ(t.port, 443);
    EXPECT_EQ(t.target, "/in?x=1");
    ASSERT_TRUE(parse_url("HTTP://[::1]:8080", t));
    EXPECT_EQ(t.scheme, "http");
    EXPECT_EQ(t.host, "::1");
    EXPECT_EQ(t.port, 8080);
    EXPECT_EQ(t.target, "/");
    ASSERT_TRUE(parse_url("wss://a.example.com?q", t));
    EXPECT_EQ(t.target, "/?q");
    EXPECT_FALSE(parse_url("https://user@host/", t));
    EXPECT_FALSE(parse_url("https://host:0/", t));
    EXPECT_FALSE(parse_url("no-scheme", t));
}

TEST(parse_url, splits_into_host_port_and_target)
{
    url_target t;
    ASSERT_TRUE(parse_url("wss://agent.example.com/ws?x=1", t));
    EXPECT_EQ(t.scheme, "wss");
    EXPECT_EQ(t.host, "agent.example.com");
    EXPECT_EQ(t.port, 443);
    EXPECT_EQ(t.target, "/ws?x=1");
    ASSERT_TRUE(parse_url("HTTP://[::1]:8080", t));
    EXPECT_EQ(t.scheme, "http");
    EXPECT_EQ(t.host, "::1");
    EXPECT_EQ(t.port, 8080);
    EXPECT_EQ(t.target, "/");
    ASSERT_TRUE(parse_url("wss://h:/", t)); // empty port: the scheme's
    EXPECT_EQ(t.port, 443);
    ASSERT_TRUE(parse_url("http://h?x=%41", t));
    EXPECT_EQ(t.port, 80);
    EXPECT_EQ(t.target, "/?x=%41"); // escapes kept as written
    ASSERT_TRUE(parse_url("https://ex%61mple.com/", t));
    EXPECT_EQ(t.host, "example.com");
    for (const char* refused : {"wss://h/%zz", "wss://u@h/", "wss://h/#f", "wss://h:0/", "wss://h:65536/", "wss:///x",
                                "h:80", "wss://[v1.x]/"})
        EXPECT_FALSE(parse_url(refused, t)) << refused;
}

} // namespace
} // namespace callgate::net
