// The HTTP/1.1 request parser as net/src/http_server.cpp configures and
// drives it: Beast's basic_parser filling callgate's request_store
// (net/src/request_reader.hpp), with the header limit of
// http_server_options, no body limit while the header is read, then the
// body limit before the body is read. The bytes arrive in two reads split at
// a point the fuzzer chooses, and must parse exactly as they do in one read
// (or fail in both cases).
//
// The server's ready lanes parse a request that is already whole in one pass
// (parse_whole_request); whatever they take must be what the two-step
// parse reads, byte for byte, so that answering it there or in the coroutine
// session is the same. And parse_whole_request, which reads the usual
// request without Beast, must agree with Beast's parser alone
// (parse_whole_request_with_beast) on everything it takes.
//
// Input: two bytes choosing the split point, then the bytes of the connection.

#include "callgate/net/http_server.hpp"
#include "callgate/net/request_framing.hpp"
#include "request_reader.hpp"

#include "fuzz_check.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

const callgate::net::http_server_options defaults;

struct parsed_request {
    beast::error_code error; // first error: from the header, the body, or the end of input
    bool header_done = false;
    bool done = false;
    std::size_t header_bytes = 0;
    std::size_t start_line_bytes = 0; // through its '\n'
    std::size_t request_bytes = 0;    // header and body, when done
    std::string method, target, body;
    unsigned version = 0;
    bool chunked = false;
    std::optional<std::uint64_t> content_length;
    std::vector<std::pair<std::string, std::string>> fields;
    unsigned framing_refused = 0; // the status the framing check answered, 0 if accepted

    bool operator==(const parsed_request& o) const
    {
        return error == o.error && header_done == o.header_done && done == o.done &&
               header_bytes == o.header_bytes && method == o.method && target == o.target && body == o.body &&
               version == o.version && chunked == o.chunked && content_length == o.content_length &&
               fields == o.fields && framing_refused == o.framing_refused;
    }
};

// Feeds `pending` to the parser, as Beast's read loop does over its buffer:
// consumed bytes leave the buffer; need_more waits for the next read.
bool feed(callgate::net::detail::request_reader& parser, std::string& pending, bool header_only,
          beast::error_code& ec, std::size_t& consumed)
{
    while (!pending.empty()) {
        if (header_only ? parser.is_header_done() : parser.is_done())
            return true;
        auto used = parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
        pending.erase(0, used);
        consumed += used;
        if (ec == http::error::need_more) {
            ec = {};
            return false; // wait for more bytes
        }
        if (ec)
            return true;
        if (used == 0 && !(header_only ? parser.is_header_done() : parser.is_done()))
            return false;
    }
    return header_only ? parser.is_header_done() : parser.is_done();
}

parsed_request parse(std::string_view bytes, std::size_t split)
{
    std::vector<std::string_view> reads{bytes.substr(0, split), bytes.substr(split)};
    parsed_request out;
    callgate::net::detail::request_store req;
    callgate::net::detail::request_reader parser(req);
    // As http_server::impl::serve_requests configures it.
    parser.header_limit(static_cast<std::uint32_t>(defaults.header_limit));
    parser.body_limit(boost::none);

    std::string pending;
    std::size_t next = 0;
    beast::error_code ec;
    std::size_t consumed = 0;
    // The header (parse_from in http_server.cpp). Like Beast's read loop, the
    // parser sees the buffer again only once a read added bytes.
    for (;;) {
        if (feed(parser, pending, true, ec, consumed))
            break;
        while (next < reads.size() && reads[next].empty())
            ++next;
        if (next == reads.size()) {
            // The peer closed: as Beast's read does, end_of_stream before any byte.
            if (parser.got_some())
                parser.put_eof(ec);
            else
                ec = http::error::end_of_stream;
            break;
        }
        pending.append(reads[next++]);
    }
    out.error = ec;
    out.header_done = !ec && parser.is_header_done();
    if (!out.header_done)
        return out;
    out.header_bytes = consumed;
    out.start_line_bytes = bytes.find('\n') + 1;
    out.method = std::string(req.method());
    out.target = std::string(req.target());
    out.version = req.version();
    out.chunked = parser.chunked();
    if (auto length = parser.content_length())
        out.content_length = *length;
    for (const auto& f : req.fields())
        out.fields.emplace_back(std::string(req.name(f)), std::string(req.value(f)));

    // The server's RFC 9112 framing check, as http_server.cpp calls it: a
    // refused request is answered (400/501) and the connection closed, so
    // no body is read. What it accepts with a Transfer-Encoding, Beast must
    // frame as chunked (else a second request could hide in the "body").
    {
        std::vector<std::string_view> lengths, codings;
        for (const auto& f : req.fields()) {
            if (f.id == http::field::content_length)
                lengths.emplace_back(req.value(f));
            else if (f.id == http::field::transfer_encoding)
                codings.emplace_back(req.value(f));
        }
        auto verdict = callgate::net::check_request_framing(req.version(), lengths, codings);
        out.framing_refused = verdict.status;
        if (verdict.status != 0)
            return out;
        FUZZ_CHECK(codings.empty() || parser.chunked());
        FUZZ_CHECK(lengths.size() <= 1);
    }

    // The body, as request_view::read_body reads it for a JSON handler.
    if (out.content_length && *out.content_length > defaults.body_limit) {
        out.error = http::error::body_limit; // 413 without reading
        return out;
    }
    parser.body_limit(defaults.body_limit);
    parser.eager(true);
    for (;;) {
        if (feed(parser, pending, false, ec, consumed))
            break;
        while (next < reads.size() && reads[next].empty())
            ++next;
        if (next == reads.size()) {
            parser.put_eof(ec); // the peer closed mid-body
            break;
        }
        pending.append(reads[next++]);
    }
    out.error = ec;
    out.done = !ec && parser.is_done();
    if (out.done) {
        out.body = req.body();
        out.request_bytes = consumed;
    }
    return out;
}

// The same request, or a refusal in both cases. Beast checks a header line
// by line while it arrives, but once a read left it incomplete it only looks
// for the header's end (within the header limit) before parsing again; so
// the same bad bytes can fail with a syntax error in one read, and with
// partial_message or header_limit (431 instead of 400) when split.
//
// Beast (1.81) also applies header_limit per parse step, not to the whole
// header: the start line is checked alone, complete fields are consumed up to
// the limit, and once a step stopped mid-header the rest must end within the
// limit. So a header over the limit (up to start line + 2 x limit) may be
// accepted one way and refused with header_limit (431) the other: allowed
// here, and bounded by check().
bool same_outcome(const parsed_request& a, const parsed_request& b)
{
    if (!a.error && !b.error)
        return a == b;
    auto over_limit_once = [](const parsed_request& ok, const parsed_request& refused) {
        return !ok.error && ok.header_bytes > defaults.header_limit && refused.error == http::error::header_limit;
    };
    return (a.error && b.error) || over_limit_once(a, b) || over_limit_once(b, a);
}

void describe(const char* label, const parsed_request& r)
{
    std::fprintf(stderr,
                 "%s: error=\"%s\" header_done=%d done=%d header_bytes=%zu start_line_bytes=%zu method=%s "
                 "target=%s body=%zu\n",
                 label, r.error.message().c_str(), r.header_done, r.done, r.header_bytes, r.start_line_bytes,
                 r.method.c_str(), r.target.c_str(), r.body.size());
}

bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check(const parsed_request& r)
{
    if (!r.header_done)
        return;
    if (std::getenv("CALLGATE_FUZZ_VERBOSE") != nullptr)
        describe("checking", r);
    // Beast's bound on header_limit (see same_outcome).
    FUZZ_CHECK(r.start_line_bytes <= defaults.header_limit);
    FUZZ_CHECK(r.header_bytes <= r.start_line_bytes + 2 * defaults.header_limit);
    FUZZ_CHECK(!r.method.empty());
    for (char c : r.method)
        FUZZ_CHECK(is_tchar(c));
    FUZZ_CHECK(!r.target.empty());
    for (char c : r.target) {
        auto u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u > 0x20 && u != 0x7F);
    }
    FUZZ_CHECK(r.version == 10 || r.version == 11);
    for (const auto& [name, value] : r.fields) {
        FUZZ_CHECK(!name.empty());
        for (char c : name)
            FUZZ_CHECK(is_tchar(c));
        for (char c : value)
            FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    }
    // One framing at most: never chunked and a Content-Length at once, and
    // every Content-Length field says the same length.
    FUZZ_CHECK(!(r.chunked && r.content_length));
    if (!r.done)
        return;
    FUZZ_CHECK(r.body.size() <= defaults.body_limit);
    if (r.content_length)
        FUZZ_CHECK(r.body.size() == *r.content_length);
    if (!r.chunked && !r.content_length)
        FUZZ_CHECK(r.body.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);
    std::size_t split = bytes.empty() ? 0 : (static_cast<std::size_t>(data[0]) << 8 | data[1]) % (bytes.size() + 1);
    auto whole = parse(bytes, bytes.size());
    check(whole);
    auto in_two = parse(bytes, split);
    check(in_two);
    if (!same_outcome(in_two, whole)) {
        describe("one read", whole);
        std::fprintf(stderr, "split at %zu\n", split);
        describe("two reads", in_two);
    }
    FUZZ_CHECK(same_outcome(in_two, whole));

    // What a ready lane takes (whole, not chunked, framing accepted) the
    // two-step parse reads the same way.
    callgate::net::detail::request_store store;
    auto lane = callgate::net::detail::parse_whole_request(store, bytes, defaults.header_limit, defaults.body_limit);
    if (lane.used > 0 && !lane.chunked && whole.framing_refused == 0) {
        if (!whole.done)
            describe("one read", whole);
        FUZZ_CHECK(whole.done);
        FUZZ_CHECK(lane.used == whole.request_bytes);
        FUZZ_CHECK(store.method() == whole.method && store.target() == whole.target &&
                   store.version() == whole.version && store.body() == whole.body);
        FUZZ_CHECK(store.fields().size() == whole.fields.size());
        for (std::size_t i = 0; i < whole.fields.size() && i < store.fields().size(); ++i)
            FUZZ_CHECK(store.name(store.fields()[i]) == whole.fields[i].first &&
                       store.value(store.fields()[i]) == whole.fields[i].second);
    }

    // parse_whole_request reads the usual request without Beast: what it
    // takes, Beast's parser alone takes the same way, to the field ids.
    callgate::net::detail::request_store beast_store;
    auto beast_only = callgate::net::detail::parse_whole_request_with_beast(beast_store, bytes, defaults.header_limit,
                                                                            defaults.body_limit);
    FUZZ_CHECK(lane.used == beast_only.used);
    if (lane.used > 0) {
        FUZZ_CHECK(lane.chunked == beast_only.chunked && lane.keep_alive == beast_only.keep_alive);
        FUZZ_CHECK(store.method() == beast_store.method() && store.verb() == beast_store.verb() &&
                   store.target() == beast_store.target() && store.version() == beast_store.version() &&
                   store.body() == beast_store.body());
        FUZZ_CHECK(store.fields().size() == beast_store.fields().size());
        for (std::size_t i = 0; i < store.fields().size() && i < beast_store.fields().size(); ++i) {
            const auto &a = store.fields()[i], &b = beast_store.fields()[i];
            FUZZ_CHECK(a.id == b.id && store.name(a) == beast_store.name(b) && store.value(a) == beast_store.value(b));
        }
    }
    return 0;
}
