#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace callgate::net {

// The {name} segments of a matched path. They view the request target, still
// percent-encoded: valid while the request is.
class path_params {
public:
    static constexpr std::size_t max = 4;

    // The decoded value of segment {name}. Asking for a name the route does
    // not have is a programming error (std::logic_error).
    std::string operator[](std::string_view name) const;

private:
    friend class route_index;
    std::string_view pattern_;
    std::array<std::string_view, max> values_{};
};

enum class route_lookup {
    found,
    malformed_path,     // a bad percent escape: 400
    no_such_path,       // 404
    method_not_allowed, // 405 with `allow`
};

// One row's method and path pattern, as route_index sees it.
struct route_key {
    std::string_view method;  // "GET"
    std::string_view pattern; // "/identities/{agent_handle}": a {name} segment matches any non-empty one
};

// Dispatch, 405 and the Allow header derived from a list of (method, pattern)
// rows; route_table below puts a listener's own row type on top.
//
// A path matches a pattern segment by segment after percent-decoding each
// segment (so "%2F" never splits one); a trailing slash is ignored. Where two
// patterns match, the one whose first differing segment is literal wins
// ("/api-keys/self" over "/api-keys/{id}"). The Allow header lists a path's
// methods in declaration order. find() does not allocate.
//
// Built once at start-up (a malformed pattern or a route declared twice is a
// programming error: std::logic_error); then read-only, safe from any thread.
class route_index {
public:
    struct match {
        std::size_t row = 0;    // when found: the index of the matched row
        std::string_view allow; // when method_not_allowed: "GET, POST"
        path_params params;     // when found
    };

    explicit route_index(std::vector<route_key> rows);

    route_lookup find(std::string_view method, std::string_view path, match& out) const;

private:
    static constexpr std::size_t max_segments = 8;
    using segments = std::array<std::string_view, max_segments>;

    // The rows sharing one pattern.
    struct resource {
        std::string_view pattern;
        segments literals{}; // each segment's text; "" for a {name}
        std::size_t segment_count = 0;
        std::string allow;
        std::vector<std::size_t> rows;

        bool matches(const segments& path, std::size_t count, const std::array<bool, max_segments>& encoded) const;
    };

    std::vector<route_key> rows_;
    std::vector<resource> resources_; // most specific first
};

template <class Route>
struct route_match {
    const Route* found = nullptr; // when found
    std::string_view allow;       // when method_not_allowed: "GET, POST"
    path_params params;           // when found
};

// A listener's route table: one row a route, each declaring its method and
// path once (`Route` has string_view members `method` and `pattern`, plus
// whatever the listener needs: who may call it, what serves it). Dispatch,
// 405, the Allow header and the list of routes a test checks the API
// document against all come from the same rows.
template <class Route>
class route_table {
public:
    explicit route_table(std::span<const Route> routes) : routes_(routes), index_(keys_of(routes)) {}

    route_lookup find(std::string_view method, std::string_view path, route_match<Route>& out) const
    {
        route_index::match m;
        auto result = index_.find(method, path, m);
        if (result == route_lookup::found)
            out.found = &routes_[m.row];
        out.allow = m.allow;
        out.params = m.params;
        return result;
    }

    // The rows, in declaration order.
    std::span<const Route> routes() const { return routes_; }

private:
    static std::vector<route_key> keys_of(std::span<const Route> routes)
    {
        std::vector<route_key> keys;
        keys.reserve(routes.size());
        for (const auto& r : routes)
            keys.push_back({r.method, r.pattern});
        return keys;
    }

    std::span<const Route> routes_;
    route_index index_;
};

} // namespace callgate::net
