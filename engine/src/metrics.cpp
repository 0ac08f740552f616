#include "callgate/engine/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace callgate::engine {

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1)
{
}

std::vector<double> histogram::latency_bounds()
{
    return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

void histogram::observe(double seconds)
{
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
    buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9),
                      std::memory_order_relaxed);
}

void histogram::render(std::string& out, std::string_view name, std::string_view labels) const
{
    std::uint64_t cumulative = 0;
    char buf[64];
    auto series = [&](std::string_view suffix, std::string_view le, const char* value) {
        out += name;
        out += suffix;
        if (!labels.empty() || !le.empty()) {
            out += '{';
            out += labels;
            if (!le.empty()) {
                if (!labels.empty())
                    out += ',';
                out += "le=\"";
                out += le;
                out += '"';
            }
            out += '}';
        }
        out += ' ';
        out += value;
        out += '\n';
    };
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        char le[32];
        if (i < bounds_.size())
            std::snprintf(le, sizeof le, "%g", bounds_[i]);
        else
            std::snprintf(le, sizeof le, "+Inf");
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(cumulative));
        series("_bucket", le, buf);
    }
    std::snprintf(buf, sizeof buf, "%.9f",
                  static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
    series("_sum", "", buf);
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(count()));
    series("_count", "", buf);
}

void render_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void render_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value)
{
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

} // namespace callgate::engine
