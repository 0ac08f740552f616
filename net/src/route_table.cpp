#include "callgate/net/route_table.hpp"

#include "callgate/net/percent_encoding.hpp"

#include <algorithm>
#include <stdexcept>

namespace callgate::net {

namespace {

// The '/'-separated segments of a path or pattern, after its leading '/'.
// "" has none, "/" one empty segment.
class segment_reader {
public:
    explicit segment_reader(std::string_view path) : rest_(path), done_(path.empty())
    {
        if (rest_.starts_with('/'))
            rest_.remove_prefix(1);
    }

    bool next(std::string_view& segment)
    {
        if (done_)
            return false;
        auto slash = rest_.find('/');
        segment = rest_.substr(0, slash);
        done_ = slash == std::string_view::npos;
        rest_.remove_prefix(done_ ? rest_.size() : slash + 1);
        return true;
    }

private:
    std::string_view rest_;
    bool done_;
};

bool is_param(std::string_view segment)
{
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// One letter a segment, literal ('a') before parameter ('b'): patterns sort
// most specific first by it.
std::string shape_of(std::string_view pattern)
{
    std::string shape;
    segment_reader segments(pattern);
    for (std::string_view s; segments.next(s);)
        shape.push_back(is_param(s) ? 'b' : 'a');
    return shape;
}

void check_pattern(std::string_view pattern, std::size_t max_segments)
{
    auto fail = [&](const char* why) {
        throw std::logic_error("route pattern \"" + std::string(pattern) + "\": " + why);
    };
    if (!pattern.starts_with('/') || pattern.size() < 2)
        fail("must start with '/' and name a segment");
    std::size_t params = 0, count = 0;
    segment_reader segments(pattern);
    for (std::string_view s; segments.next(s); ++count) {
        if (s.empty())
            fail("has an empty segment");
        if (is_param(s))
            ++params;
        else if (s.find_first_of("{}%") != std::string_view::npos)
            fail("has a malformed segment");
    }
    if (params > path_params::max || count > max_segments)
        fail("has too many parameters or segments");
}

} // namespace

std::string path_params::operator[](std::string_view name) const
{
    segment_reader segments(pattern_);
    std::size_t n = 0;
    for (std::string_view s; segments.next(s);) {
        if (!is_param(s))
            continue;
        if (s.substr(1, s.size() - 2) == name) {
            std::string value;
            percent_decode(values_[n], value, false); // checked when matched
            return value;
        }
        ++n;
    }
    throw std::logic_error("route " + std::string(pattern_) + " has no parameter " + std::string(name));
}

route_index::route_index(std::vector<route_key> rows) : rows_(std::move(rows))
{
    for (std::size_t row = 0; row < rows_.size(); ++row) {
        const auto& r = rows_[row];
        check_pattern(r.pattern, max_segments);
        auto same = [&](const resource& x) { return x.pattern == r.pattern; };
        auto it = std::find_if(resources_.begin(), resources_.end(), same);
        if (it == resources_.end()) {
            resource fresh;
            fresh.pattern = r.pattern;
            segment_reader segments(r.pattern);
            for (std::string_view s; segments.next(s);)
                fresh.literals[fresh.segment_count++] = is_param(s) ? std::string_view{} : s;
            it = resources_.insert(resources_.end(), std::move(fresh));
        }
        for (std::size_t other : it->rows)
            if (rows_[other].method == r.method)
                throw std::logic_error("route " + std::string(r.method) + " " + std::string(r.pattern) +
                                       " is declared twice");
        it->allow += it->allow.empty() ? "" : ", ";
        it->allow += r.method;
        it->rows.push_back(row);
    }
    std::stable_sort(resources_.begin(), resources_.end(), [](const resource& a, const resource& b) {
        return shape_of(a.pattern) < shape_of(b.pattern);
    });
}

bool route_index::resource::matches(const segments& path, std::size_t count,
                                    const std::array<bool, max_segments>& encoded) const
{
    if (count != segment_count)
        return false;
    for (std::size_t i = 0; i < count; ++i) {
        std::string_view literal = literals[i];
        bool same = literal.empty() ? !path[i].empty()
                    : encoded[i]    ? decodes_to(path[i], literal)
                                    : path[i] == literal;
        if (!same)
            return false;
    }
    return true;
}

route_lookup route_index::find(std::string_view method, std::string_view path, match& out) const
{
    if (path.size() > 1 && path.back() == '/')
        path.remove_suffix(1);
    if (!is_valid_percent_encoding(path))
        return route_lookup::malformed_path;
    segments given;
    std::array<bool, max_segments> encoded{};
    std::size_t count = 0;
    segment_reader reader(path);
    for (std::string_view s; reader.next(s); ++count) {
        if (count == max_segments)
            return route_lookup::no_such_path; // longer than any pattern
        given[count] = s;
        encoded[count] = s.find('%') != std::string_view::npos;
    }
    for (const auto& r : resources_) {
        if (!r.matches(given, count, encoded))
            continue;
        for (std::size_t row : r.rows) {
            if (rows_[row].method != method)
                continue;
            out.row = row;
            out.params.pattern_ = r.pattern;
            for (std::size_t i = 0, n = 0; i < count; ++i)
                if (r.literals[i].empty())
                    out.params.values_[n++] = given[i];
            return route_lookup::found;
        }
        out.allow = r.allow;
        return route_lookup::method_not_allowed;
    }
    return route_lookup::no_such_path;
}

} // namespace callgate::net
