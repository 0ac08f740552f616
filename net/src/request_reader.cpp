#include "request_reader.hpp"

#include "callgate/codec/word_scan.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace callgate::net::detail {

std::string_view request_store::header(std::string_view name) const
{
    // Clients nearly always spell a name as the caller does: an exact match
    // (a memcmp) first, the case-insensitive one only when that misses.
    for (const auto& f : fields_)
        if (f.name_size == name.size()) {
            auto stored = view(f.name_at, f.name_size);
            if (stored == name ||
                boost::beast::iequals(boost::beast::string_view(stored.data(), stored.size()),
                                      boost::beast::string_view(name.data(), name.size())))
                return value(f);
        }
    return {};
}

std::string_view request_store::header(boost::beast::http::field id) const
{
    for (const auto& f : fields_)
        if (f.id == id)
            return value(f);
    return {};
}

namespace {

// RFC 9110's tchar: the bytes of a method or a field name.
constexpr auto tchar = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[static_cast<std::size_t>(c)] = t[static_cast<std::size_t>(c - 'a' + 'A')] = true;
    for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[c] = true;
    return t;
}();

bool is_tchar(char c) { return tchar[static_cast<unsigned char>(c)]; }
// A byte of a request target (visible ASCII) or of a field value (visible, SP, HTAB, obs-text).
bool is_target_char(char c) { return c > 0x20 && c < 0x7F; }
bool is_value_char(char c) { return static_cast<unsigned char>(c) >= 0x20 ? c != 0x7F : c == '\t'; }

// The usual request's start line and body, read by parse_usual_request.
struct usual_request {
    whole_request whole;
    std::string_view method, target, body;
};

// A token (a method, a field name) from `p` on, up to the byte `after`,
// which `p` is left at; nullopt if there is no token or another byte ends it.
std::optional<std::string_view> token_before(const char*& p, const char* end, char after)
{
    const char* start = p;
    while (p < end && is_tchar(*p))
        ++p;
    if (p == start || p == end || *p != after)
        return std::nullopt;
    return std::string_view(start, static_cast<std::size_t>(p - start));
}

// Whether [p, end) holds only bytes a field value may: visible ASCII, SP,
// HTAB and obs-text, as Beast's parser checks them (no other control byte, no
// DEL). Eight bytes at a time.
bool plain_value(const char* p, const char* end)
{
    using namespace codec::word_scan;
    for (; end - p >= 8; p += 8) {
        auto word = load_word(p);
        if (((control_bytes(word) & ~bytes_equal(word, '\t')) | bytes_equal(word, 0x7F)) != 0)
            return false;
    }
    for (; p < end; ++p)
        if (!is_value_char(*p))
            return false;
    return true;
}

// The usual request, read without Beast: an HTTP/1.1 request line, fields
// of token names and plain values, at most one Content-Length, and nothing
// that changes framing or the connection beyond "Connection: keep-alive" or
// "close" (the fields Beast's parser acts on: Connection, Proxy-Connection,
// Content-Length, Transfer-Encoding, Upgrade; and Expect). Its fields go to
// `fields` and its views point into `input`, as Beast's parser would read
// them. Anything else (another version, those fields, other Connection
// tokens, obs-fold, a bare LF, a limit passed, a request not yet whole) is
// nullopt and goes to Beast's parser, which decides it; the tests and the
// fuzz target (fuzz/http_request_fuzz.cpp) check that both agree.
std::optional<usual_request> parse_usual_request(std::string_view input, std::size_t header_limit,
                                                 std::size_t body_limit,
                                                 std::vector<request_store::field_ref>& fields)
{
    namespace http = boost::beast::http;
    // The whole header, final CRLF included, lies within the header limit.
    const char* p = input.data();
    const char* end = p + std::min(input.size(), header_limit);

    auto method_text = token_before(p, end, ' ');
    if (!method_text)
        return std::nullopt;
    const char* target = ++p;
    while (p < end && is_target_char(*p))
        ++p;
    if (p == target || end - p < 11 || std::string_view(p, 11) != " HTTP/1.1\r\n")
        return std::nullopt;
    std::string_view target_text(target, static_cast<std::size_t>(p - target));
    p += 11;

    bool keep_alive = true;
    std::optional<std::uint64_t> length;
    fields.clear();
    for (;;) {
        if (end - p < 2)
            return std::nullopt;
        if (p[0] == '\r') {
            if (p[1] != '\n')
                return std::nullopt;
            p += 2;
            break; // the end of the header
        }
        const char* name = p;
        auto name_field = token_before(p, end, ':');
        if (!name_field)
            return std::nullopt;
        std::string_view name_text = *name_field;
        ++p;
        while (p < end && (*p == ' ' || *p == '\t'))
            ++p;
        const char* value = p;
        auto cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
        if (cr == nullptr || end - cr < 2 || cr[1] != '\n' || !plain_value(value, cr))
            return std::nullopt;
        const char* value_end = cr;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            --value_end;
        std::string_view value_text(value, static_cast<std::size_t>(value_end - value));
        p = cr + 2;
        auto id = http::string_to_field(name_text);
        switch (id) {
        case http::field::content_length: {
            if (length || value_text.empty() || value_text.size() > 15)
                return std::nullopt;
            std::uint64_t n = 0;
            for (char c : value_text) {
                if (c < '0' || c > '9')
                    return std::nullopt;
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
            length = n;
            break;
        }
        case http::field::connection: {
            boost::beast::string_view tokens(value_text.data(), value_text.size());
            if (boost::beast::iequals(tokens, "close"))
                keep_alive = false;
            else if (!boost::beast::iequals(tokens, "keep-alive"))
                return std::nullopt;
            break;
        }
        case http::field::proxy_connection: // read as Connection by Beast
        case http::field::transfer_encoding:
        case http::field::upgrade:
        case http::field::expect:
            return std::nullopt;
        default: break;
        }
        fields.push_back({id, static_cast<std::uint32_t>(name - input.data()),
                          static_cast<std::uint32_t>(name_text.size()),
                          static_cast<std::uint32_t>(value_text.data() - input.data()),
                          static_cast<std::uint32_t>(value_text.size())});
    }
    auto used = static_cast<std::size_t>(p - input.data());
    std::uint64_t body = length.value_or(0);
    if (body > body_limit || body > input.size() - used)
        return std::nullopt;
    return usual_request{{used + body, false, keep_alive}, *method_text, target_text, input.substr(used, body)};
}

} // namespace

whole_request parse_whole_request(request_store& store, std::string_view input, std::size_t header_limit,
                                  std::size_t body_limit)
{
    store.clear();
    store.borrow(input);
    if (auto usual = parse_usual_request(input, header_limit, body_limit, store.fields_)) {
        store.verb_ = boost::beast::http::string_to_verb(usual->method);
        store.method_at_ = store.keep(usual->method);
        store.method_size_ = static_cast<std::uint32_t>(usual->method.size());
        store.target_at_ = store.keep(usual->target);
        store.target_size_ = static_cast<std::uint32_t>(usual->target.size());
        store.version_ = 11;
        store.body_.assign(usual->body);
        return usual->whole;
    }
    return parse_whole_request_with_beast(store, input, header_limit, body_limit);
}

whole_request parse_whole_request_with_beast(request_store& store, std::string_view input, std::size_t header_limit,
                                             std::size_t body_limit)
{
    request_reader parser(store); // clears the store
    store.borrow(input);
    parser.header_limit(static_cast<std::uint32_t>(header_limit));
    parser.body_limit(body_limit);
    parser.eager(true);
    std::size_t used = 0;
    while (!parser.is_done()) {
        boost::beast::error_code ec;
        std::size_t n = parser.put(boost::asio::const_buffer(input.data() + used, input.size() - used), ec);
        used += n;
        if (ec || n == 0)
            return {};
    }
    return {used, parser.chunked(), parser.keep_alive()};
}

} // namespace callgate::net::detail
