#include "callgate/testing/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <optional>
#include <stdexcept>

namespace callgate::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

void split_address(const std::string& address, std::string& host, std::string& port)
{
    auto colon = address.rfind(':');
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (!host.empty() && host.front() == '[')
        host = host.substr(1, host.size() - 2);
}

} // namespace

std::string http_reply::header(const std::string& name) const
{
    for (const auto& [k, v] : headers)
        if (beast::iequals(k, name))
            return v;
    return {};
}

struct http_connection::impl {
    asio::io_context ioc;
    std::optional<asio::ssl::context> tls;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    std::string address, host, port, tls_host, ca_file;
    bool open = false;

    beast::tcp_stream& lowest()
    {
        return secure ? beast::get_lowest_layer(*secure) : *plain;
    }

    bool connect(std::chrono::milliseconds timeout)
    {
        buffer.clear();
        plain.reset();
        secure.reset();
        beast::error_code ec;
        tcp::resolver resolver(ioc);
        auto results = resolver.resolve(host, port, ec);
        if (ec)
            return false;
        if (tls) {
            secure.emplace(ioc, *tls);
            SSL_set_tlsext_host_name(secure->native_handle(), tls_host.c_str());
            secure->set_verify_callback(asio::ssl::host_name_verification(tls_host));
        } else {
            plain.emplace(ioc);
        }
        lowest().expires_after(timeout);
        lowest().connect(results, ec);
        if (ec)
            return false;
        if (secure) {
            secure->handshake(asio::ssl::stream_base::client, ec);
            if (ec)
                return false;
        }
        open = true;
        return true;
    }

    template <class Stream>
    http_reply exchange(Stream& stream, http::request<http::string_body>& req,
                        std::chrono::milliseconds timeout)
    {
        http_reply reply;
        beast::error_code ec;
        lowest().expires_after(timeout);
        http::write(stream, req, ec);
        if (ec) {
            open = false;
            return reply;
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        parser.skip(req.method() == http::verb::head);
        // Synchronous beast ops ignore tcp_stream timeouts; run async with a deadline.
        bool done = false;
        http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
        ioc.restart();
        ioc.run_for(timeout + std::chrono::seconds(1));
        if (!done) {
            lowest().close();
            ioc.restart();
            ioc.run();
            open = false;
            return reply;
        }
        if (ec) {
            open = false;
            return reply;
        }
        auto& res = parser.get();
        reply.status = static_cast<int>(res.result_int());
        reply.body = res.body();
        for (const auto& field : res)
            reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        if (!res.keep_alive())
            open = false;
        return reply;
    }
};

http_connection::http_connection(std::string address, std::string ca_file, std::string tls_host,
                                 std::string cert_file, std::string key_file)
    : impl_(std::make_unique<impl>())
{
    impl_->address = std::move(address);
    split_address(impl_->address, impl_->host, impl_->port);
    impl_->tls_host = std::move(tls_host);
    impl_->ca_file = std::move(ca_file);
    if (!impl_->ca_file.empty()) {
        impl_->tls.emplace(asio::ssl::context::tls_client);
        impl_->tls->load_verify_file(impl_->ca_file);
        impl_->tls->set_verify_mode(asio::ssl::verify_peer);
        if (!cert_file.empty()) {
            impl_->tls->use_certificate_chain_file(cert_file);
            impl_->tls->use_private_key_file(key_file, asio::ssl::context::pem);
        }
    }
}

http_connection::~http_connection() = default;

bool http_connection::connected() const { return impl_->open; }

http_reply http_connection::request(const std::string& method, const std::string& target,
                                    const header_list& headers, const std::string& body,
                                    std::chrono::milliseconds timeout)
{
    if (!impl_->open && !impl_->connect(timeout))
        return {};
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, impl_->host);
    req.keep_alive(true);
    for (const auto& [k, v] : headers)
        req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.body() = body;
        req.prepare_payload();
    }
    if (impl_->secure)
        return impl_->exchange(*impl_->secure, req, timeout);
    return impl_->exchange(*impl_->plain, req, timeout);
}

http_reply http_request(const std::string& address, const std::string& method,
                        const std::string& target, const header_list& headers,
                        const std::string& body)
{
    http_connection c(address);
    return c.request(method, target, headers, body);
}

raw_connection::raw_connection(const std::string& address)
{
    std::string host, port;
    split_address(address, host, port);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
    ::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &sa.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

raw_connection::~raw_connection()
{
    if (fd_ >= 0)
        ::close(fd_);
}

bool raw_connection::send(const std::string& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool raw_connection::shutdown_send() { return ::shutdown(fd_, SHUT_WR) == 0; }

std::string raw_connection::read_until_close(std::chrono::milliseconds timeout) { return read_until({}, timeout); }

std::string raw_connection::read_until(const std::string& marker, std::chrono::milliseconds timeout)
{
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[16384];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
        if (!marker.empty() && out.find(marker) != std::string::npos)
            break;
    }
    return out;
}

bool raw_connection::closed_by_peer_within(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return false;
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
    }
}

raw_reply split_raw_reply(const std::string& bytes)
{
    auto end = bytes.find("\r\n\r\n");
    if (end == std::string::npos)
        return {bytes, {}};
    return {bytes.substr(0, end + 4), bytes.substr(end + 4)};
}

} // namespace callgate::testing
