#include "report.hpp"

#include "histogram.hpp"

#include "callgate/engine/json_writer.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace callgate::load {
namespace {

double ms(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

std::string number(double v, int decimals = 3)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// ---- JSON ----

void write_summary(engine::json_writer& w, std::string_view name, const latency_summary& s)
{
    w.key(name).begin_object();
    w.field("count", static_cast<std::int64_t>(s.count));
    w.key("p50_ms").raw(number(s.p50)).key("p90_ms").raw(number(s.p90)).key("p99_ms").raw(number(s.p99));
    w.key("p999_ms").raw(number(s.p999)).key("max_ms").raw(number(s.max)).key("mean_ms").raw(number(s.mean));
    w.end_object();
}

void write_points(engine::json_writer& w, std::string_view name, const points& p, int decimals)
{
    w.key(name).begin_array();
    for (auto [x, y] : p)
        w.begin_array().raw(number(x, decimals)).raw(number(y, 3)).end_array();
    w.end_array();
}

void write_counts(engine::json_writer& w, std::string_view name, const std::map<std::string, std::uint64_t>& m)
{
    w.key(name).begin_object();
    for (const auto& [k, v] : m)
        w.field(k, static_cast<std::int64_t>(v));
    w.end_object();
}

using simdjson::dom::element;

double get_number(element e, std::string_view key, double fallback = 0)
{
    double v = fallback;
    if (auto field = e[key]; !field.error()) {
        if (field.is_double())
            v = field.get_double().value();
        else if (field.is_int64())
            v = static_cast<double>(field.get_int64().value());
        else if (field.is_uint64())
            v = static_cast<double>(field.get_uint64().value());
    }
    return v;
}

std::string get_text(element e, std::string_view key)
{
    std::string_view v;
    return e[key].get(v) ? std::string() : std::string(v);
}

latency_summary read_summary(element e, std::string_view key)
{
    latency_summary s;
    element h;
    if (e[key].get(h))
        return s;
    s.count = static_cast<std::uint64_t>(get_number(h, "count"));
    s.p50 = get_number(h, "p50_ms");
    s.p90 = get_number(h, "p90_ms");
    s.p99 = get_number(h, "p99_ms");
    s.p999 = get_number(h, "p999_ms");
    s.max = get_number(h, "max_ms");
    s.mean = get_number(h, "mean_ms");
    return s;
}

points read_points(element e, std::string_view key)
{
    points out;
    simdjson::dom::array a;
    if (e[key].get(a))
        return out;
    for (element pair : a) {
        simdjson::dom::array xy;
        if (pair.get(xy) || xy.size() != 2)
            continue;
        double x = 0, y = 0;
        if (xy.at(0).get(x) || xy.at(1).get(y))
            continue;
        out.emplace_back(x, y);
    }
    return out;
}

std::map<std::string, std::uint64_t> read_counts(element e, std::string_view key)
{
    std::map<std::string, std::uint64_t> out;
    simdjson::dom::object o;
    if (e[key].get(o))
        return out;
    for (auto [k, v] : o) {
        std::uint64_t n = 0;
        if (!v.get(n))
            out.emplace(std::string(k), n);
    }
    return out;
}

// ---- SVG ----

// The percentile axis: x = -log10(1 - q), so p90 is 1, p99 2, p99.9 3.
double percentile_x(double q) { return q >= 1 ? 4 : -std::log10(1 - q); }

struct series {
    std::string label;
    std::string color;
    bool dashed = false;
    points data;
};

std::string escape(std::string_view text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

// A line chart. Each series gets a legend line (its label: the run's
// scenario, parameters and date) above the plot; y starts at 0.
std::string svg_chart(const std::vector<series>& all, const std::string& x_label, const std::string& y_label,
                      bool percentile_axis)
{
    const double w = 720, legend = 16.0 * static_cast<double>(all.size()) + 8, plot_h = 220;
    const double left = 70, right = 20, top = legend + 10, bottom = 44, h = top + plot_h + bottom;
    double max_x = 0, max_y = 0;
    for (const auto& s : all)
        for (auto [x, y] : s.data) {
            max_x = std::max(max_x, x);
            max_y = std::max(max_y, y);
        }
    std::vector<std::pair<double, std::string>> x_ticks;
    double x_hi = 0;
    if (percentile_axis) {
        const std::pair<double, const char*> marks[] = {{0, "p0"},     {0.5, "p50"},    {0.9, "p90"},
                                                        {0.99, "p99"}, {0.999, "p99.9"}, {0.9999, "p99.99"}};
        for (auto [q, name] : marks)
            x_ticks.emplace_back(percentile_x(q), name);
        x_hi = 4;
    } else {
        auto ticks = nice_ticks(0, std::max(max_x, 1.0));
        for (double t : ticks)
            x_ticks.emplace_back(t, tick_label(t, ticks.size() > 1 ? ticks[1] - ticks[0] : 1));
        x_hi = ticks.back();
    }
    auto y_ticks = nice_ticks(0, max_y > 0 ? max_y : 1);
    double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1, y_hi = y_ticks.back();
    auto sx = [&](double x) { return left + (w - left - right) * x / x_hi; };
    auto sy = [&](double y) { return top + plot_h - plot_h * y / y_hi; };

    std::string out;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' class='chart' "
                  "font-family='sans-serif'><rect x='0' y='0' width='%g' height='%g' fill='#fff'/>",
                  w, h, w, h);
    out += buf;
    for (std::size_t i = 0; i < all.size(); ++i) {
        double y = 16.0 * static_cast<double>(i) + 14;
        std::snprintf(buf, sizeof buf,
                      "<line x1='10' y1='%g' x2='34' y2='%g' stroke='%s' stroke-width='2'%s/>"
                      "<text x='40' y='%g' font-size='11' class='legend'>",
                      y - 4, y - 4, all[i].color.c_str(), all[i].dashed ? " stroke-dasharray='6 4'" : "", y);
        out += buf;
        out += escape(all[i].label) + "</text>";
    }
    for (double t : y_ticks) {
        std::snprintf(buf, sizeof buf,
                      "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#e3e3e3'/>"
                      "<text x='%g' y='%g' font-size='11' text-anchor='end' class='tick'>%s</text>",
                      left, sy(t), w - right, sy(t), left - 6, sy(t) + 4, tick_label(t, y_step).c_str());
        out += buf;
    }
    for (const auto& [x, name] : x_ticks) {
        std::snprintf(buf, sizeof buf,
                      "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#e3e3e3'/>"
                      "<text x='%g' y='%g' font-size='11' text-anchor='middle' class='tick'>%s</text>",
                      sx(x), top, sx(x), top + plot_h, sx(x), top + plot_h + 15, name.c_str());
        out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#333'/><line x1='%g' y1='%g' x2='%g' y2='%g' "
                  "stroke='#333'/><text x='%g' y='%g' font-size='12' text-anchor='middle'>%s</text>"
                  "<text x='14' y='%g' font-size='12' transform='rotate(-90 14 %g)' text-anchor='middle'>%s</text>",
                  left, top + plot_h, w - right, top + plot_h, left, top, left, top + plot_h, (left + w - right) / 2,
                  h - 8, escape(x_label).c_str(), top + plot_h / 2, top + plot_h / 2, escape(y_label).c_str());
    out += buf;
    for (const auto& s : all) {
        out += "<polyline fill='none' stroke='" + s.color + "' stroke-width='2'" +
               (s.dashed ? " stroke-dasharray='6 4'" : "") + " points='";
        for (auto [x, y] : s.data) {
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", sx(std::min(x, x_hi)), sy(y));
            out += buf;
        }
        out += "'/>";
    }
    return out + "</svg>";
}

std::string label_of(const run_report& run, const char* which)
{
    return std::string(which) + ": " + run.scenario + ", " + run.parameters + (run.date.empty() ? "" : ", " + run.date);
}

// The percentile curve of a run read from an older file without one.
points curve_or_percentiles(const run_report& run)
{
    if (!run.curve_ms.empty())
        return run.curve_ms;
    const auto& s = run.charted == "relay_edge_to_agent" ? run.relay_edge_to_agent : run.latency;
    return {{0.5, s.p50}, {0.9, s.p90}, {0.99, s.p99}, {0.999, s.p999}};
}

} // namespace

latency_summary latency_summary::of(const latency_histogram& h)
{
    return {h.count(),          ms(h.percentile(0.5)),   ms(h.percentile(0.9)), ms(h.percentile(0.99)),
            ms(h.percentile(0.999)), ms(h.max()), h.mean() / 1000.0};
}

points run_report::curve_of(const latency_histogram& h)
{
    points out;
    for (int i = 0; i <= 80; ++i) {
        double q = 1 - std::pow(10.0, -i / 20.0); // x from 0 to 4 in steps of 0.05
        out.emplace_back(i == 80 ? 0.9999 : q, ms(h.percentile(q)));
    }
    return out;
}

std::string to_json(const run_report& r)
{
    engine::json_writer w;
    w.begin_object();
    w.field("scenario", r.scenario).field("parameters", r.parameters).field("date", r.date);
    w.key("duration_s").raw(number(r.duration_s)).key("rate").raw(number(r.rate));
    w.field("concurrency", static_cast<std::int64_t>(r.concurrency));
    w.field("started", static_cast<std::int64_t>(r.started)).field("completed", static_cast<std::int64_t>(r.completed));
    w.field("errors", static_cast<std::int64_t>(r.errors)).key("error_rate").raw(number(r.error_rate, 6));
    w.key("throughput_per_s").raw(number(r.throughput_per_s));
    write_summary(w, "latency", r.latency);
    write_summary(w, "relay_edge_to_agent", r.relay_edge_to_agent);
    write_summary(w, "relay_agent_to_edge", r.relay_agent_to_edge);
    w.key("frames").begin_object();
    const char* directions[] = {"edge_to_agent", "agent_to_edge"};
    for (int d = 0; d < 2; ++d) {
        w.key(directions[d]).begin_object();
        w.field("due", static_cast<std::int64_t>(r.frames[d][0])).field("sent", static_cast<std::int64_t>(r.frames[d][1]));
        w.field("received", static_cast<std::int64_t>(r.frames[d][2])).end_object();
    }
    w.end_object();
    write_counts(w, "outcomes", r.outcomes);
    write_counts(w, "error_kinds", r.error_kinds);
    write_points(w, "p99_ms_over_time", r.p99_ms_over_time, 1);
    write_points(w, "rate_over_time", r.rate_over_time, 1);
    w.field("charted", r.charted);
    write_points(w, "curve_ms", r.curve_ms, 6);
    w.end_object();
    return w.take() + "\n";
}

bool from_json(std::string_view text, run_report& r, std::string& error)
{
    simdjson::dom::parser parser;
    element doc;
    if (auto e = parser.parse(text.data(), text.size()).get(doc); e || !doc.is_object()) {
        error = e ? std::string("not JSON: ") + simdjson::error_message(e) : "not a JSON object";
        return false;
    }
    r.scenario = get_text(doc, "scenario");
    if (r.scenario.empty()) {
        error = "no \"scenario\": not a callgate-load --json file";
        return false;
    }
    r.parameters = get_text(doc, "parameters");
    r.date = get_text(doc, "date");
    r.duration_s = get_number(doc, "duration_s");
    r.rate = get_number(doc, "rate");
    r.concurrency = static_cast<int>(get_number(doc, "concurrency"));
    if (r.parameters.empty()) // files of earlier versions
        r.parameters = r.rate > 0 ? number(r.rate, 0) + " calls/s" : std::to_string(r.concurrency) + " at a time";
    r.started = static_cast<std::uint64_t>(get_number(doc, "started"));
    r.completed = static_cast<std::uint64_t>(get_number(doc, "completed"));
    r.errors = static_cast<std::uint64_t>(get_number(doc, "errors"));
    r.error_rate = get_number(doc, "error_rate");
    r.throughput_per_s = get_number(doc, "throughput_per_s");
    r.latency = read_summary(doc, "latency");
    r.relay_edge_to_agent = read_summary(doc, "relay_edge_to_agent");
    r.relay_agent_to_edge = read_summary(doc, "relay_agent_to_edge");
    element frames;
    const char* directions[] = {"edge_to_agent", "agent_to_edge"};
    const char* kinds[] = {"due", "sent", "received"};
    if (!doc["frames"].get(frames))
        for (int d = 0; d < 2; ++d) {
            element dir;
            if (!frames[directions[d]].get(dir))
                for (int k = 0; k < 3; ++k)
                    r.frames[d][k] = static_cast<std::uint64_t>(get_number(dir, kinds[k]));
        }
    r.outcomes = read_counts(doc, "outcomes");
    r.error_kinds = read_counts(doc, "error_kinds");
    r.p99_ms_over_time = read_points(doc, "p99_ms_over_time");
    r.rate_over_time = read_points(doc, "rate_over_time");
    r.charted = get_text(doc, "charted");
    if (r.charted.empty())
        r.charted = r.scenario == "bridge" ? "relay_edge_to_agent" : "latency";
    r.curve_ms = read_points(doc, "curve_ms");
    return true;
}

std::vector<double> nice_ticks(double lo, double hi, int max_ticks)
{
    if (!(hi > lo))
        hi = lo + 1;
    double raw = (hi - lo) / std::max(1, max_ticks);
    double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = magnitude;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * magnitude >= raw * (1 - 1e-9)) {
            step = m * magnitude;
            break;
        }
    // From the tick at or below lo to the first at or above hi, where "above"
    // forgives 1% of a step (a 10.02 s run ends its axis at 10, not 15).
    std::vector<double> out;
    auto first = static_cast<long long>(std::floor(lo / step + 1e-9));
    auto last = static_cast<long long>(std::ceil(hi / step - 0.01));
    for (long long k = first; k <= last; ++k)
        out.push_back(static_cast<double>(k) * step);
    if (out.size() < 2)
        out.push_back(out.back() + step);
    return out;
}

std::string tick_label(double value, double step)
{
    int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    if (step < 1 && std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6)
        ++decimals; // 0.25 needs 2 though its log is -0.6
    if (std::abs(value) < step * 1e-6)
        return "0"; // the origin, plainly
    return number(value, std::min(decimals, 9));
}

std::string to_html(const run_report& run, const run_report* before)
{
    std::string out = "<!doctype html><html><head><meta charset='utf-8'><title>callgate-load: " + escape(run.scenario) +
                      "</title><style>body{font-family:sans-serif;margin:24px;color:#222}"
                      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
                      "th{background:#f3f3f3}td.name{text-align:left}.chart{border:1px solid #ddd;margin:8px 0}"
                      "</style></head><body>";
    out += "<h1>callgate-load: " + escape(run.scenario) + "</h1>";
    auto describe = [](const run_report& r, const char* which) {
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "<p><b>%s</b>: %s, %s; %s. %.1f s: %llu calls started, %llu completed, %llu errors "
                      "(%.2f%%).</p>",
                      which, escape(r.scenario).c_str(), escape(r.parameters).c_str(),
                      r.date.empty() ? "date unknown" : escape(r.date).c_str(), r.duration_s,
                      static_cast<unsigned long long>(r.started), static_cast<unsigned long long>(r.completed),
                      static_cast<unsigned long long>(r.errors), r.error_rate * 100);
        return std::string(buf);
    };
    out += describe(run, before ? "This run" : "Run");
    if (before)
        out += describe(*before, "Compared with");
    out += "<table><tr><th>latency (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>"
           "<th>count</th></tr>";
    auto row = [&](const std::string& name, const latency_summary& s) {
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "<tr><td class='name'>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                      "<td>%llu</td></tr>",
                      name.c_str(), s.p50, s.p90, s.p99, s.p999, s.max, static_cast<unsigned long long>(s.count));
        out += buf;
    };
    auto rows = [&](const run_report& r, const std::string& suffix) {
        bool bridge = r.scenario == "bridge";
        row((bridge ? "time to answer" : "decide") + suffix, r.latency);
        if (bridge) {
            row("relay edge&rarr;agent" + suffix, r.relay_edge_to_agent);
            row("relay agent&rarr;edge" + suffix, r.relay_agent_to_edge);
        }
    };
    rows(run, before ? " (this run)" : "");
    if (before)
        rows(*before, " (compared with)");
    out += "</table>";

    auto chart = [&](const char* title, auto pick, const std::string& x, const std::string& y, bool percentile) {
        std::vector<series> all{{label_of(run, before ? "this run" : "run"), "#c0392b", false, pick(run)}};
        if (before)
            all.push_back({label_of(*before, "compared with"), "#7f8c8d", true, pick(*before)});
        out += std::string("<h2>") + title + "</h2>" + svg_chart(all, x, y, percentile);
    };
    chart("p99 latency over time", [](const run_report& r) { return r.p99_ms_over_time; }, "seconds since the start",
          "p99 ms (each second)", false);
    chart("Throughput over time", [](const run_report& r) { return r.rate_over_time; }, "seconds since the start",
          "calls completed per second", false);
    std::string charted = run.charted == "relay_edge_to_agent" ? "edge-to-agent relay latency" : "latency";
    chart(
        "Latency by percentile",
        [](const run_report& r) {
            points p;
            for (auto [q, v] : curve_or_percentiles(r))
                p.emplace_back(percentile_x(q), v);
            return p;
        },
        "percentile (log scale: each step right is ten times rarer)", charted + " ms", true);

    out += "<h2>Outcomes</h2><table><tr><th>outcome</th><th>calls</th>" +
           std::string(before ? "<th>compared with</th>" : "") + "</tr>";
    auto counts = [&](const std::string& prefix, const std::map<std::string, std::uint64_t>& now,
                      const std::map<std::string, std::uint64_t>* then) {
        std::map<std::string, int> keys;
        for (const auto& [k, v] : now)
            keys[k];
        if (then)
            for (const auto& [k, v] : *then)
                keys[k];
        for (const auto& [k, unused] : keys) {
            auto get = [&k](const std::map<std::string, std::uint64_t>& m) {
                auto it = m.find(k);
                return std::to_string(it == m.end() ? 0 : it->second);
            };
            out += "<tr><td class='name'>" + prefix + escape(k.empty() ? "?" : k) + "</td><td>" + get(now) + "</td>" +
                   (then ? "<td>" + get(*then) + "</td>" : std::string()) + "</tr>";
        }
    };
    counts("", run.outcomes, before ? &before->outcomes : nullptr);
    counts("error: ", run.error_kinds, before ? &before->error_kinds : nullptr);
    out += "</table></body></html>\n";
    return out;
}

} // namespace callgate::load
