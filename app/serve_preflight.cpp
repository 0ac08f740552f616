#include "serve_preflight.hpp"

#include "edge_token_file.hpp"

#include "callgate/net/http_server.hpp" // split_host_port

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace callgate::app {
namespace {

namespace fs = std::filesystem;

// The data dir, or the nearest ancestor that exists (where it would be made),
// is a directory this process can write to.
bool check_data_dir(const std::string& dir, std::string& error)
{
    std::error_code ec;
    fs::path at = fs::absolute(dir, ec);
    if (ec) {
        error = "data dir " + dir + ": " + ec.message();
        return false;
    }
    bool exists = fs::exists(at, ec);
    while (!exists && at.has_relative_path()) {
        at = at.parent_path();
        exists = fs::exists(at, ec);
    }
    if (!fs::is_directory(at, ec)) {
        error = (at == fs::absolute(dir) ? "data dir " + dir : "cannot create data dir " + dir + ": " + at.string()) +
                " is not a directory";
        return false;
    }
    if (::access(at.c_str(), W_OK | X_OK) != 0) {
        error = (at == fs::absolute(dir) ? "data dir " + dir + " is not writable"
                                         : "cannot create data dir " + dir + ": " + at.string() + " is not writable") +
                ": " + std::strerror(errno);
        return false;
    }
    return true;
}

std::string openssl_error()
{
    char buf[256] = {};
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

// A certificate chain (`cert_flag`) and its key that load and match, and a
// CA file that loads; an empty path is not used. Errors name the flag.
struct pem_files {
    const char* cert_flag;
    const std::string& cert;
    const char* key_flag;
    const std::string& key;
    const char* ca_flag;
    const std::string& ca;
};

bool check_pem_files(const pem_files& f, std::string& error)
{
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
    auto fail = [&](const char* flag, const std::string& path, const char* what) {
        error = std::string(flag) + " " + path + ": " + what + ": " + openssl_error();
        return false;
    };
    if (!ctx)
        return fail("OpenSSL", "", "no context");
    if (!f.cert.empty() && SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert.c_str()) != 1)
        return fail(f.cert_flag, f.cert, "cannot load a PEM certificate chain");
    // (OpenSSL checks that the key matches the certificate loaded before it.)
    std::string key_problem = std::string("not a PEM private key matching ") + f.cert_flag;
    if (!f.key.empty() && (SSL_CTX_use_PrivateKey_file(ctx.get(), f.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
                           SSL_CTX_check_private_key(ctx.get()) != 1))
        return fail(f.key_flag, f.key, key_problem.c_str());
    if (!f.ca.empty() && SSL_CTX_load_verify_locations(ctx.get(), f.ca.c_str(), nullptr) != 1)
        return fail(f.ca_flag, f.ca, "cannot load PEM certificates");
    return true;
}

struct socket_closer {
    void operator()(const int* fd) const
    {
        ::close(*fd);
        delete fd;
    }
};
using probe_socket = std::unique_ptr<int, socket_closer>;

// Resolves a listen address as the server will (its first result) and binds
// a socket to it; the socket stays open in `held` so that the next probe sees
// this address taken.
bool probe_listen(const std::string& flag, const std::string& address, std::vector<probe_socket>& held,
                  std::string& error)
{
    std::string host;
    std::uint16_t port = 0;
    if (!net::split_host_port(address, host, port)) {
        error = "invalid " + flag + " '" + address + "'";
        return false;
    }
    addrinfo hints{};
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
        error = flag + " " + address + ": cannot resolve " + host + ": " + ::gai_strerror(rc);
        return false;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> results(found, ::freeaddrinfo);
    int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    if (fd < 0) {
        error = flag + " " + address + ": " + std::strerror(errno);
        return false;
    }
    probe_socket socket(new int(fd));
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); // as the server's acceptor does
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0) {
        error = flag + " " + address + ": cannot bind: " + std::strerror(errno);
        return false;
    }
    if (port != 0 && ::listen(fd, 1) != 0) { // a second listener on the address fails only once this one listens
        error = flag + " " + address + ": cannot listen: " + std::strerror(errno);
        return false;
    }
    held.push_back(std::move(socket));
    return true;
}

} // namespace

bool check_serve_environment(const serve_options& options, const std::map<std::string, std::string>& env,
                             std::string& error)
{
    if (auto it = env.find("CALLGATE_ADMIN_KEY"); it != env.end() && !it->second.empty() && it->second.size() < 16) {
        error = "CALLGATE_ADMIN_KEY must be at least 16 characters";
        return false;
    }
    if (!check_data_dir(options.data_dir, error))
        return false;
    if (!check_pem_files({"--tls-cert", options.tls_cert, "--tls-key", options.tls_key, "--ca-file", options.ca_file},
                         error) ||
        !check_pem_files({"--etcd-cert-file", options.etcd_cert_file, "--etcd-key-file", options.etcd_key_file,
                          "--etcd-ca-file", options.etcd_ca_file},
                         error))
        return false;
    std::vector<std::string> tokens;
    std::string token_file = options.edge_token_file;
    std::error_code ec;
    if (token_file.empty() && fs::exists(options.data_dir + "/edge.token", ec))
        token_file = options.data_dir + "/edge.token";
    if (!token_file.empty() && !read_edge_token_file(token_file, tokens, error))
        return false;
    std::vector<probe_socket> held;
    return probe_listen("--api-listen", options.api_listen, held, error) &&
           probe_listen("--edge-listen", options.edge_listen, held, error);
}

} // namespace callgate::app
