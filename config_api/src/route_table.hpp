#pragma once

#include "callgate/config_api/api_router.hpp"
#include "callgate/net/http_server.hpp"

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::config_api {

struct request_context;

// Serves one matched request. The context outlives the returned coroutine.
using route_handler = boost::asio::awaitable<net::http_response> (*)(request_context&);

// One row of a route table: each method and path is declared once, with who
// may call it and what serves it.
struct route {
    std::string_view method;  // "GET"
    std::string_view pattern; // "/identities/{agent_handle}": a {name} segment matches any non-empty one
    route_access access;
    route_handler handler;
};

// The {name} segments of a matched path. They view the request target, still
// percent-encoded: valid while the request is.
class path_params {
public:
    static constexpr std::size_t max = 4;

    // The decoded value of segment {name}. Asking for a name the route does
    // not have is a programming error (std::logic_error).
    std::string operator[](std::string_view name) const;

private:
    friend class route_table;
    std::string_view pattern_;
    std::array<std::string_view, max> values_{};
};

enum class route_lookup {
    found,
    malformed_path,     // a bad percent escape: 400
    no_such_path,       // 404
    method_not_allowed, // 405 with `allow`
};

struct route_match {
    const route* found = nullptr; // when found
    std::string_view pattern;     // when found or method_not_allowed: the matched path's pattern
    std::string_view allow;       // when method_not_allowed: "GET, POST"
    path_params params;           // when found
};

// Dispatch, 405 and the Allow header derived from a table of routes.
//
// A path matches a pattern segment by segment after percent-decoding each
// segment (so "%2F" never splits one); a trailing slash is ignored. Where two
// patterns match, the one whose first differing segment is literal wins
// ("/api-keys/self" over "/api-keys/{id}"). The Allow header lists a path's
// methods in declaration order. find() does not allocate.
//
// Built once at start-up (a malformed pattern or a route declared twice is a
// programming error: std::logic_error); then read-only, safe from any thread.
class route_table {
public:
    explicit route_table(std::span<const route> routes);

    route_lookup find(std::string_view method, std::string_view path, route_match& out) const;

    // The rows, in declaration order.
    std::span<const route> routes() const { return routes_; }

private:
    static constexpr std::size_t max_segments = 8;
    using segments = std::array<std::string_view, max_segments>;

    // The routes sharing one pattern.
    struct resource {
        std::string_view pattern;
        segments literals{}; // each segment's text; "" for a {name}
        std::size_t segment_count = 0;
        std::string allow;
        std::vector<const route*> methods;

        bool matches(const segments& path, std::size_t count, const std::array<bool, max_segments>& encoded) const;
    };

    std::span<const route> routes_;
    std::vector<resource> resources_; // most specific first
};

} // namespace callgate::config_api
