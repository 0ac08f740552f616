#pragma once

// An HTTP/1.1 request read by Beast's basic_parser (its RFC 9112 grammar,
// chunked decoding, header and body limits) into storage a connection keeps
// from one request to the next, instead of a fresh http::request whose fields
// are a heap node each. Private to net (http_server.cpp, the fuzz target).

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::net::detail {

struct whole_request;
class request_store;
whole_request parse_whole_request(request_store& store, std::string_view input, std::size_t header_limit,
                                  std::size_t body_limit);

// One request's start line, header fields and body. The text of all of them
// lives in one string, so their views stay valid while the connection's
// input buffer moves; clear() keeps the capacity for the next request. A
// request parsed from bytes that stay put while it is used
// (parse_whole_request) borrows them instead: its views point into them,
// and only what the parser rewrote (an obs-fold value) is copied.
class request_store {
public:
    struct field_ref {
        boost::beast::http::field id; // http::field::unknown for a name Beast does not know
        std::uint32_t name_at, name_size, value_at, value_size;
    };

    void clear()
    {
        borrowed_ = {};
        text_.clear();
        fields_.clear();
        body_.clear();
        verb_ = boost::beast::http::verb::unknown;
        version_ = 11;
    }

    std::string_view method() const { return view(method_at_, method_size_); }
    std::string_view target() const { return view(target_at_, target_size_); }
    boost::beast::http::verb verb() const { return verb_; }
    unsigned version() const { return version_; }
    const std::vector<field_ref>& fields() const { return fields_; }
    std::string_view name(const field_ref& f) const { return view(f.name_at, f.name_size); }
    std::string_view value(const field_ref& f) const { return view(f.value_at, f.value_size); }

    // The value of the first field with this name (case-insensitive), or "".
    std::string_view header(std::string_view name) const;
    // The same for a field Beast knows by id.
    std::string_view header(boost::beast::http::field id) const;

    // Views of the request's text point into `input` from now on (until clear()).
    void borrow(std::string_view input) { borrowed_ = input; }

    std::string& body() { return body_; }
    const std::string& body() const { return body_; }

private:
    friend class request_reader;
    friend whole_request parse_whole_request(request_store&, std::string_view, std::size_t, std::size_t);
    // A position with this bit is in text_; without it, in borrowed_.
    static constexpr std::uint32_t copied = 0x8000'0000u;
    std::string_view view(std::uint32_t at, std::uint32_t size) const
    {
        if (at & copied)
            return {text_.data() + (at & ~copied), size};
        return {borrowed_.data() + at, size};
    }
    // Where `s` is kept: in the borrowed bytes when it lies in them, else a copy.
    std::uint32_t keep(std::string_view s)
    {
        // As addresses: `s` may lie in another object (Beast's obs-fold buffer).
        auto where = reinterpret_cast<std::uintptr_t>(s.data()), from = reinterpret_cast<std::uintptr_t>(borrowed_.data());
        if (!borrowed_.empty() && where >= from && where + s.size() <= from + borrowed_.size())
            return static_cast<std::uint32_t>(where - from);
        auto at = static_cast<std::uint32_t>(text_.size()) | copied;
        text_.append(s.data(), s.size());
        return at;
    }

    std::string_view borrowed_; // the input parse_whole_request reads, while it is used
    std::string text_;
    std::vector<field_ref> fields_;
    std::string body_;
    std::uint32_t method_at_ = 0, method_size_ = 0, target_at_ = 0, target_size_ = 0;
    boost::beast::http::verb verb_ = boost::beast::http::verb::unknown;
    unsigned version_ = 11;
};

// Parses one request into a request_store. Construct one per request (it is
// a few words, no allocation); the store is cleared on construction.
class request_reader final : public boost::beast::http::basic_parser<true> {
public:
    explicit request_reader(request_store& store) : store_(store) { store_.clear(); }

private:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;

    void on_request_impl(boost::beast::http::verb method, string_view method_str, string_view target, int version,
                         error_code&) override
    {
        store_.verb_ = method;
        store_.method_at_ = store_.keep(method_str);
        store_.method_size_ = static_cast<std::uint32_t>(method_str.size());
        store_.target_at_ = store_.keep(target);
        store_.target_size_ = static_cast<std::uint32_t>(target.size());
        store_.version_ = static_cast<unsigned>(version);
    }
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field id, string_view name, string_view value, error_code&) override
    {
        request_store::field_ref f{id, store_.keep(name), static_cast<std::uint32_t>(name.size()), 0,
                                   static_cast<std::uint32_t>(value.size())};
        f.value_at = store_.keep(value);
        store_.fields_.push_back(f);
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {} // cleared with the store
    std::size_t on_body_impl(string_view body, error_code&) override
    {
        store_.body_.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override
    {
        store_.body_.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    request_store& store_;
};

// One request parsed from bytes already in memory, as the server's ready
// lanes read them: the header limit, then the body limit, in one pass.
struct whole_request {
    std::size_t used = 0;    // the request's bytes; 0 when it is not whole or does not parse
    bool chunked = false;    // framed by chunked encoding
    bool keep_alive = false; // the connection may carry another request after it
};
// Parses the request at the start of `input` into `store`, whose views then
// point into `input`: keep it unchanged while the request is used. used == 0
// means that the coroutine session should read it instead (it needs more
// bytes, or it is an error that session answers).
whole_request parse_whole_request(request_store& store, std::string_view input, std::size_t header_limit,
                                  std::size_t body_limit);
// The same with Beast's parser alone. parse_whole_request reads the usual
// request (see request_reader.cpp) without it, and must agree with this on
// every request it takes: the tests and the fuzz target hold it to that.
whole_request parse_whole_request_with_beast(request_store& store, std::string_view input, std::size_t header_limit,
                                             std::size_t body_limit);

} // namespace callgate::net::detail
