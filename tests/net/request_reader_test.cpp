// The ready lanes' request parser: the usual request is read without Beast
// (parse_whole_request's own path), and whatever that path takes must read
// exactly as Beast's parser reads it (parse_whole_request_with_beast): the
// same bytes used, keep-alive, method, verb, target, fields (ids, names and
// values) and body. Anything unusual goes to Beast's parser, so the two
// agree on every input; these tests hold them to it on requests written to
// sit on either side of each rule, and on many random mutations of one.
#include "request_reader.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace callgate::net::detail {
namespace {

constexpr std::size_t header_limit = 8 * 1024;
constexpr std::size_t body_limit = 64 * 1024;

struct outcome {
    whole_request whole;
    std::string method, target, body;
    boost::beast::http::verb verb = boost::beast::http::verb::unknown;
    unsigned version = 0;
    std::vector<std::tuple<boost::beast::http::field, std::string, std::string>> fields;
};

template <class Parse>
outcome read_with(Parse parse, std::string_view input)
{
    request_store store;
    outcome out;
    out.whole = parse(store, input, header_limit, body_limit);
    if (out.whole.used == 0)
        return out;
    out.method = store.method();
    out.target = store.target();
    out.body = store.body();
    out.verb = store.verb();
    out.version = store.version();
    for (const auto& f : store.fields())
        out.fields.emplace_back(f.id, store.name(f), store.value(f));
    return out;
}

// Both parsers on `input`; true when parse_whole_request took it on the same terms as Beast.
void expect_same(std::string_view input)
{
    auto ours = read_with(parse_whole_request, input);
    auto beast = read_with(parse_whole_request_with_beast, input);
    ASSERT_EQ(ours.whole.used, beast.whole.used) << input;
    if (ours.whole.used == 0)
        return;
    EXPECT_EQ(ours.whole.chunked, beast.whole.chunked) << input;
    EXPECT_EQ(ours.whole.keep_alive, beast.whole.keep_alive) << input;
    EXPECT_EQ(ours.method, beast.method) << input;
    EXPECT_EQ(ours.verb, beast.verb) << input;
    EXPECT_EQ(ours.target, beast.target) << input;
    EXPECT_EQ(ours.version, beast.version) << input;
    EXPECT_EQ(ours.body, beast.body) << input;
    EXPECT_EQ(ours.fields, beast.fields) << input;
}

const std::string usual = "POST /v1/calls/decide HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8081\r\n"
                          "Content-Type: application/json\r\n"
                          "X-Edge-Token: cg_edge_0123456789abcdef\r\n"
                          "Content-Length: 16\r\n"
                          "\r\n"
                          "{\"a\":\"b\",\"c\":1}\n";

TEST(request_reader, the_usual_request_reads_as_beast_reads_it)
{
    expect_same(usual);
    expect_same(usual + usual); // the first of two
    request_store store;
    auto whole = parse_whole_request(store, usual, header_limit, body_limit);
    EXPECT_EQ(whole.used, usual.size());
    EXPECT_TRUE(whole.keep_alive);
    EXPECT_EQ(store.header("x-edge-token"), "cg_edge_0123456789abcdef");
    EXPECT_EQ(store.header(boost::beast::http::field::content_type), "application/json");
    EXPECT_EQ(store.body(), "{\"a\":\"b\",\"c\":1}\n");
}

TEST(request_reader, a_field_is_found_by_its_name_in_any_case)
{
    request_store store;
    ASSERT_EQ(parse_whole_request(store, usual, header_limit, body_limit).used, usual.size());
    // Three names of 12 bytes: the one asked for, in its own spelling or another's.
    EXPECT_EQ(store.header("X-Edge-Token"), "cg_edge_0123456789abcdef");
    EXPECT_EQ(store.header("X-EDGE-TOKEN"), "cg_edge_0123456789abcdef");
    EXPECT_EQ(store.header("content-type"), "application/json");
    EXPECT_EQ(store.header("Content-Type"), "application/json");
    EXPECT_EQ(store.header("X-Request-ID"), "");
    EXPECT_EQ(store.header("X-Edge-Tokens"), "");
    EXPECT_EQ(store.header(""), "");
}

TEST(request_reader, each_rule_reads_as_beast_reads_it_on_either_side)
{
    const char* cases[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: 02\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",          // not whole yet
        "POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\nab",      // over the body limit
        "GET / HTTP/1.1\r\nX-A:   padded value \t \r\n\r\n",       // OWS trimmed both sides
        "GET / HTTP/1.1\r\nX-A:\r\nX-B: \r\n\r\n",                 // empty values
        "GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n",              // obs-text
        "GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n",                   // a control character
        "GET / HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: folded\r\n  on\r\n\r\n",           // obs-fold
        "GET / HTTP/1.1\r\nX-A : b\r\n\r\n",                       // space before the colon
        "GET / HTTP/1.1\r\n(X): b\r\n\r\n",                        // not a token
        "GET / HTTP/1.1\nHost: x\n\n",                             // bare LF
        "GET / HTTP/1.1\r\nHost: x\n\r\n",
        "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",                       // a target byte above 0x7F
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "BREW /pot HTTP/1.1\r\n\r\n",                              // a method Beast knows no verb for
        "\r\nGET / HTTP/1.1\r\n\r\n",
        "get / HTTP/1.1\r\n\r\n",
    };
    for (const char* c : cases)
        expect_same(c);
    std::string big_header = "GET / HTTP/1.1\r\nX-Big: " + std::string(header_limit, 'a') + "\r\n\r\n";
    expect_same(big_header);
    for (std::size_t n = header_limit - 40; n <= header_limit; ++n) { // the header limit's edge
        std::string at = "GET / HTTP/1.1\r\nX: ";
        at += std::string(n - at.size() - 4, 'v') + "\r\n\r\n";
        expect_same(at);
    }
}

TEST(request_reader, random_mutations_of_the_usual_request_read_as_beast_reads_them)
{
    std::mt19937 rng(20261201);
    const std::string alphabet = "\r\n \t:,;\"\\/aZ09-_\x01\x7f\x80\xff";
    for (int n = 0; n < 20000; ++n) {
        std::string input = usual;
        for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
            std::size_t at = rng() % input.size();
            char c = rng() % 2 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
            switch (rng() % 3) {
            case 0: input[at] = c; break;
            case 1: input.insert(at, 1, c); break;
            default: input.erase(at, 1);
            }
        }
        expect_same(input);
        if (HasFailure())
            return;
    }
}

} // namespace
} // namespace callgate::net::detail
