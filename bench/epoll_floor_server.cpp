// A second floor reference for `scripts/bench decide`, below the Beast one:
// about the least CPU a C++ server on this machine can spend answering the
// decide load without Asio. What beast_floor_server spends above this is the
// Asio/Beast stack; what nginx spends below it is nginx. Not a server to use:
// it answers every request with the same JSON body, whatever the method or target.
//
// nginx's `reuseport` set-up: one thread per core, each with its own epoll
// instance and its own listening socket on the same port (SO_REUSEPORT, the
// kernel spreads connections), edge-triggered. Per connection a fixed 16 KiB
// read buffer: read until EAGAIN, answer every complete request in it
// (pipelining-safe; headers over 8 KiB or chunked bodies close the
// connection, Content-Length bodies are skipped) with one send(), finish a
// partial send on EPOLLOUT. The response headers are the ones Beast sends.
//
//   epoll_floor_server <threads> <body-file>
// Listens on 127.0.0.1 port 0 and prints the port on stdout, then serves until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t read_buffer_size = 16 * 1024;
constexpr std::size_t max_header_size = 8 * 1024; // request line + headers + blank line
constexpr std::size_t max_pending_output = 1024 * 1024; // stop reading while this much is unsent

[[noreturn]] void die(const char* what)
{
    std::perror(what);
    std::exit(1);
}

// The four responses Beast's floor sends: HTTP/1.0 or 1.1, keep-alive or not.
struct responses {
    std::string v11_keep_alive, v11_close, v10_keep_alive, v10_close;

    explicit responses(const std::string& body)
    {
        auto make = [&](const char* version, const char* connection) {
            std::string r = std::string(version) + " 200 OK\r\nContent-Type: application/json\r\n";
            if (*connection)
                r += std::string("Connection: ") + connection + "\r\n";
            r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
            return r;
        };
        v11_keep_alive = make("HTTP/1.1", "");
        v11_close = make("HTTP/1.1", "close");
        v10_keep_alive = make("HTTP/1.0", "keep-alive");
        v10_close = make("HTTP/1.0", "");
    }
};

struct connection {
    int fd;
    std::size_t begin = 0, end = 0;  // unparsed bytes are in[begin, end)
    std::uint64_t body_left = 0;     // bytes of the current request's body still to skip
    bool keep_alive = true;          // of the request whose body is being skipped
    bool http10 = false;
    bool close_after_flush = false;  // Connection: close, EOF or a refused request
    bool waiting_for_out = false;    // EPOLLOUT registered
    bool read_pending = false;       // stopped reading with input possibly left in the socket
    std::string out;
    std::size_t out_sent = 0;
    char in[read_buffer_size];
};

bool iequals_prefix(std::string_view s, std::string_view lower_prefix)
{
    if (s.size() < lower_prefix.size())
        return false;
    for (std::size_t i = 0; i < lower_prefix.size(); ++i)
        if (static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))) != lower_prefix[i])
            return false;
    return true;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool has_token(std::string_view value, std::string_view lower_token)
{
    while (!value.empty()) {
        auto comma = value.find(',');
        auto item = trim(value.substr(0, comma));
        if (item.size() == lower_token.size() && iequals_prefix(item, lower_token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

// Parses one request head (request line to the blank line, inclusive) into c's
// per-request state. False if the request is to be refused.
bool parse_head(connection& c, std::string_view head)
{
    auto line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    if (request_line.size() < 8)
        return false;
    auto version = request_line.substr(request_line.size() - 8);
    if (version == "HTTP/1.1")
        c.http10 = false;
    else if (version == "HTTP/1.0")
        c.http10 = true;
    else
        return false;
    bool close = false, keep_alive = false, have_length = false;
    std::uint64_t length = 0;
    std::size_t pos = line_end + 2;
    while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos || eol == pos)
            break; // the blank line
        std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return false;
        std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
        if (name.size() == 14 && iequals_prefix(name, "content-length")) {
            if (value.empty() || value.size() > 18)
                return false;
            std::uint64_t n = 0;
            for (char ch : value) {
                if (ch < '0' || ch > '9')
                    return false;
                n = n * 10 + static_cast<unsigned>(ch - '0');
            }
            if (have_length && n != length)
                return false;
            have_length = true;
            length = n;
        } else if (name.size() == 17 && iequals_prefix(name, "transfer-encoding")) {
            return false; // chunked bodies: not needed for the floor
        } else if (name.size() == 10 && iequals_prefix(name, "connection")) {
            close = close || has_token(value, "close");
            keep_alive = keep_alive || has_token(value, "keep-alive");
        }
    }
    c.body_left = length;
    c.keep_alive = c.http10 ? keep_alive && !close : !close;
    return true;
}

class worker {
public:
    worker(int listener, const responses& r) : listener_(listener), responses_(r)
    {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0)
            die("epoll_create1");
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.ptr = nullptr; // the listener
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev) < 0)
            die("epoll_ctl listener");
    }

    void run()
    {
        epoll_event events[256];
        for (;;) {
            int n = epoll_wait(epoll_, events, 256, -1);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                die("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                auto* c = static_cast<connection*>(events[i].data.ptr);
                if (!c) {
                    accept_all();
                    continue;
                }
                std::uint32_t e = events[i].events;
                if ((e & EPOLLOUT) && !on_writable(*c))
                    continue; // closed
                if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                    on_readable(*c);
            }
        }
    }

private:
    void accept_all()
    {
        for (;;) {
            int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                return; // EAGAIN, or EMFILE and the like: try again on the next edge
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto* c = new connection;
            c->fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
            ev.data.ptr = c;
            if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close_connection(*c);
                continue;
            }
            // Data may already be waiting: with EPOLLET there would be no edge for it.
            on_readable(*c);
        }
    }

    void close_connection(connection& c)
    {
        close(c.fd); // also removes it from the epoll set
        delete &c;
    }

    // Answers every complete request in c.in[begin, end); compacts the rest to
    // the front. False if the connection is to be closed at once.
    bool parse(connection& c)
    {
        while (c.begin < c.end && !c.close_after_flush) {
            if (c.body_left > 0) {
                auto skip = std::min<std::uint64_t>(c.body_left, c.end - c.begin);
                c.begin += skip;
                c.body_left -= skip;
                if (c.body_left > 0)
                    break;
                respond(c);
                continue;
            }
            std::string_view pending(c.in + c.begin, c.end - c.begin);
            auto head_end = pending.substr(0, max_header_size).find("\r\n\r\n");
            if (head_end == std::string_view::npos) {
                if (pending.size() >= max_header_size)
                    return false; // headers over 8 KiB
                break;            // incomplete head: wait for more
            }
            if (!parse_head(c, pending.substr(0, head_end + 4)))
                return false;
            c.begin += head_end + 4;
            if (c.body_left == 0)
                respond(c);
        }
        if (c.begin == c.end) {
            c.begin = c.end = 0;
        } else if (c.begin > 0) {
            std::memmove(c.in, c.in + c.begin, c.end - c.begin);
            c.end -= c.begin;
            c.begin = 0;
        }
        return true;
    }

    void respond(connection& c)
    {
        const std::string& r = c.http10 ? (c.keep_alive ? responses_.v10_keep_alive : responses_.v10_close)
                                        : (c.keep_alive ? responses_.v11_keep_alive : responses_.v11_close);
        c.out += r;
        if (!c.keep_alive)
            c.close_after_flush = true; // anything pipelined after it is dropped
    }

    // Reads until EAGAIN, answers what was read, sends. False if c was closed.
    bool on_readable(connection& c)
    {
        c.read_pending = false;
        bool eof = false;
        for (;;) {
            if (c.close_after_flush)
                break; // nothing after this request is answered
            if (c.out.size() - c.out_sent >= max_pending_output) {
                // Pipelined answers pile up: send them before reading more; if the
                // client is not reading them, stop until on_writable has sent them.
                if (!flush(c))
                    return false;
                if (!c.out.empty()) {
                    c.read_pending = true;
                    return true;
                }
                continue;
            }
            // parse() leaves at most an incomplete head (< 8 KiB) in the buffer: never full here.
            ssize_t n = recv(c.fd, c.in + c.end, sizeof c.in - c.end, 0);
            if (n > 0) {
                c.end += static_cast<std::size_t>(n);
                if (!parse(c)) {
                    close_connection(c);
                    return false;
                }
                continue;
            }
            if (n == 0) {
                eof = true;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            close_connection(c); // ECONNRESET and the like
            return false;
        }
        if (eof)
            c.close_after_flush = true; // answer what was asked before the EOF, then close
        return flush(c);
    }

    // Sends pending output with one send(). Closes the connection, or waits
    // for EPOLLOUT, as needed. False if the connection was closed.
    bool flush(connection& c)
    {
        while (c.out_sent < c.out.size()) {
            ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
            if (n >= 0) {
                c.out_sent += static_cast<std::size_t>(n);
                continue; // usually done after the first
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c.waiting_for_out)
                    set_events(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, true);
                return true;
            }
            close_connection(c);
            return false;
        }
        c.out.clear(); // keeps its capacity: no allocation per request once warm
        c.out_sent = 0;
        if (c.close_after_flush) {
            close_connection(c);
            return false;
        }
        if (c.waiting_for_out)
            set_events(c, EPOLLIN | EPOLLRDHUP | EPOLLET, false);
        return true;
    }

    // Finishes a partial send; resumes reading if it had stopped for it. False if c was closed.
    bool on_writable(connection& c)
    {
        if (!flush(c))
            return false;
        if (c.read_pending && c.out.empty())
            return on_readable(c);
        return true;
    }

    void set_events(connection& c, std::uint32_t events, bool waiting)
    {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = &c;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
        c.waiting_for_out = waiting;
    }

    int epoll_;
    int listener_;
    const responses& responses_;
};

int listen_on(std::uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        die("SO_REUSEPORT");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        die("bind");
    if (listen(fd, SOMAXCONN) < 0)
        die("listen");
    return fd;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: epoll_floor_server <threads> <body-file>\n");
        return 2;
    }
    unsigned threads = static_cast<unsigned>(std::max(1, std::atoi(argv[1])));
    std::string body;
    {
        std::ifstream in(argv[2], std::ios::binary);
        body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const responses r(body);
    std::signal(SIGPIPE, SIG_IGN);

    // All listeners exist before the port is printed: no connection can reach
    // a port that has fewer listeners than threads.
    std::vector<int> listeners{listen_on(0)};
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (getsockname(listeners[0], reinterpret_cast<sockaddr*>(&addr), &len) < 0)
        die("getsockname");
    const std::uint16_t port = ntohs(addr.sin_port);
    for (unsigned i = 1; i < threads; ++i)
        listeners.push_back(listen_on(port));
    std::printf("%u\n", static_cast<unsigned>(port));
    std::fflush(stdout);

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i)
        pool.emplace_back([fd = listeners[i], &r] { worker(fd, r).run(); });
    worker(listeners[0], r).run();
    for (auto& t : pool)
        t.join();
}
