#include "callgate/engine/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace callgate::engine {

namespace {

// Prometheus' number syntax: the shortest %g form that reads back exactly, +Inf, -Inf, NaN.
std::string_view format_number(char (&buf)[32], double value)
{
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
    return {buf, static_cast<std::size_t>(end - buf)};
}

std::string_view format_number(char (&buf)[32], std::uint64_t value)
{
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    return {buf, static_cast<std::size_t>(end - buf)};
}

std::string_view type_name(metric_type type)
{
    switch (type) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

// A label value: backslash, double quote and line feed escaped.
void append_label_value(std::string& out, std::string_view value)
{
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

} // namespace

histogram::histogram(std::vector<double> bounds, std::size_t children)
    : bounds_(std::move(bounds)), children_(children), values_(children * (bounds_.size() + 3))
{
}

std::vector<double> histogram::latency_bounds()
{
    return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> histogram::bounds_up_to(double from, double to)
{
    std::vector<double> bounds;
    for (double decade = from; decade < to; decade *= 10) {
        for (double step : {1.0, 2.5, 5.0}) {
            // Rounded to 12 significant digits, so that 2.5 × 1e-6 prints as 2.5e-06.
            char buf[32];
            double bound = 0;
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, decade * step, std::chars_format::general, 12);
            std::from_chars(buf, end, bound);
            if (bound >= to)
                break;
            bounds.push_back(bound);
        }
    }
    bounds.push_back(to);
    return bounds;
}

void histogram::observe(double seconds, std::size_t child)
{
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
    auto bucket = child * (bounds_.size() + 1) + static_cast<std::size_t>(it - bounds_.begin());
    values_.add(bucket, 1);
    values_.add(count_at(child), 1);
    values_.add(sum_at(child), static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9));
}

std::uint64_t histogram::bucket(std::size_t child, std::size_t i) const
{
    return values_.value(child * (bounds_.size() + 1) + i);
}

double histogram::sum(std::size_t child) const
{
    return static_cast<double>(values_.value(sum_at(child))) / 1e9;
}

metrics_writer& metrics_writer::family(const metric_family& f)
{
    name_ = f.name;
    out_ += "# HELP ";
    out_ += f.name;
    out_ += ' ';
    out_ += f.help;
    out_ += "\n# TYPE ";
    out_ += f.name;
    out_ += ' ';
    out_ += type_name(f.type);
    out_ += '\n';
    return *this;
}

void metrics_writer::series(std::string_view suffix, std::initializer_list<metric_label> labels, std::string_view le,
                            std::string_view value)
{
    out_ += name_;
    out_ += suffix;
    char separator = '{';
    for (const auto& [label, text] : labels) {
        if (text.empty())
            continue;
        out_ += separator;
        out_ += label;
        out_ += "=\"";
        append_label_value(out_, text);
        out_ += '"';
        separator = ',';
    }
    if (!le.empty()) {
        out_ += separator;
        out_ += "le=\"";
        out_ += le;
        out_ += '"';
        separator = ',';
    }
    if (separator == ',')
        out_ += '}';
    out_ += ' ';
    out_ += value;
    out_ += '\n';
}

metrics_writer& metrics_writer::sample(std::uint64_t value, std::initializer_list<metric_label> labels)
{
    char buf[32];
    series({}, labels, {}, format_number(buf, value));
    return *this;
}

metrics_writer& metrics_writer::sample(double value, std::initializer_list<metric_label> labels)
{
    char buf[32];
    series({}, labels, {}, format_number(buf, value));
    return *this;
}

metrics_writer& metrics_writer::histogram_sample(const histogram& h, std::size_t child,
                                                 std::initializer_list<metric_label> labels)
{
    const auto& bounds = h.bounds();
    std::uint64_t cumulative = 0;
    char le[32], value[32];
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += h.bucket(child, i);
        series("_bucket", labels, i < bounds.size() ? format_number(le, bounds[i]) : "+Inf",
               format_number(value, cumulative));
    }
    series("_sum", labels, {}, format_number(value, h.sum(child)));
    series("_count", labels, {}, format_number(value, cumulative));
    return *this;
}

} // namespace callgate::engine
