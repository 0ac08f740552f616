// What contact rules add to a decision: call_decider::decide_only for an
// identity holding 100,000 contact rules against one holding none, in the
// same run, on the in-memory path an edge pays (every cache warm).
//
// The decider is wired as the server wires it (decider_rig.hpp): config_service
// over a RocksDB store in a temp dir, call_log, webhook_client over an
// outbound_client, a worker pool, dispatch_metrics and the system clock. The
// rules are created through config_service::create_rule. Each iteration runs one decide_only
// coroutine to completion on an io_context; every case pays that the same, so
// the difference between the cases is the screening.
//
// After the table the difference of the medians is printed (aim: <= 0.5 us).
#include "decider_rig.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace callgate;
using bench::decider_rig;
using bench::fail;

constexpr std::size_t rule_count = engine::max_rules_per_identity; // 100,000
constexpr std::size_t prefix_rule_count = 20'000; // the rest are exact numbers
constexpr std::size_t caller_count = 4096;        // distinct callers, cycled through
constexpr const char* plain_number = "+15550100";
constexpr const char* screened_number = "+15550200";
// The deep-prefix case: an allow rule 11 characters long, and a caller under it.
constexpr const char* deep_prefix = "+4420794601";
constexpr const char* deep_caller = "+442079460123";

// Deterministic digits (xorshift64), so every run screens the same rules.
class digit_source {
public:
    char digit(char lowest = '0') { return static_cast<char>(lowest + next() % static_cast<unsigned>('9' - lowest + 1)); }
    // "+", a first digit 2-9 (never "+1": the callers under test are +1...), then digits up to `length`.
    std::string number(std::size_t length)
    {
        std::string s = "+";
        s += digit('2');
        while (s.size() < length)
            s += digit();
        return s;
    }
    std::size_t between(std::size_t lo, std::size_t hi) { return lo + next() % (hi - lo + 1); }

private:
    std::uint64_t next()
    {
        x_ ^= x_ << 13;
        x_ ^= x_ >> 7;
        x_ ^= x_ << 17;
        return x_;
    }
    std::uint64_t x_ = 88172645463325252ull;
};

// 80,000 exact numbers of 9-16 characters and 20,000 prefixes of 2-16
// characters (every length present, so a caller matching none pays a lookup
// per length), a mix of allow and block, none starting "+1"; plus the one deep
// allow prefix.
std::vector<engine::new_contact_rule> make_rules()
{
    digit_source d;
    std::set<std::string> exact, prefixes{deep_prefix};
    while (prefixes.size() < prefix_rule_count)
        prefixes.insert(d.number(d.between(2, 16)));
    while (exact.size() < rule_count - prefix_rule_count)
        exact.insert(d.number(d.between(9, 16)));
    std::vector<engine::new_contact_rule> rules;
    for (const auto& p : prefixes)
        rules.push_back({p == deep_prefix || d.between(0, 3) == 0 ? engine::rule_action::allow
                                                                  : engine::rule_action::block,
                         engine::match_type::prefix, p});
    for (const auto& e : exact)
        rules.push_back({d.between(0, 3) == 0 ? engine::rule_action::allow : engine::rule_action::block,
                         engine::match_type::exact_number, e});
    return rules;
}

// US-style callers no rule matches.
std::vector<std::string> make_callers()
{
    digit_source d;
    std::vector<std::string> callers;
    for (std::size_t i = 0; i < caller_count; ++i) {
        std::string c = "+1555";
        while (c.size() < 12)
            c += d.digit();
        callers.push_back(std::move(c));
    }
    return callers;
}

std::unique_ptr<decider_rig> rig;
std::vector<std::string> callers;

void decide(benchmark::State& state, const char* dialed, const std::vector<std::string>& from)
{
    rig->time_cached_decisions(state, dialed, from);
}

// Console output plus, at the end, the differences that matter.
class difference_reporter : public benchmark::ConsoleReporter {
public:
    difference_reporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override
    {
        for (const auto& run : runs) {
            if (run.error_occurred)
                continue;
            bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
            if (median || single)
                cpu_ns_[run.run_name.function_name] =
                    run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e9;
        }
        ConsoleReporter::ReportRuns(runs);
    }

    void Finalize() override
    {
        ConsoleReporter::Finalize();
        auto base = cpu_ns_.find("decide/no_rules");
        if (base == cpu_ns_.end())
            return;
        std::printf("\nadded CPU per decision, %zu contact rules vs none (medians; aim: <= 0.50 us):\n", rule_count);
        for (const auto& [name, ns] : cpu_ns_)
            if (name != base->first)
                std::printf("  %-44s %+8.3f us  (%.3f vs %.3f us)\n", name.c_str(), (ns - base->second) / 1000,
                            ns / 1000, base->second / 1000);
    }

private:
    std::map<std::string, double> cpu_ns_;
};

} // namespace

int main(int argc, char** argv)
{
    if (!bench::initialize_benchmark(argc, argv, 5))
        return 1;

    rig = std::make_unique<decider_rig>();
    callers = make_callers();
    rig->add_identity("plain", plain_number);
    auto screened = rig->add_identity("screened", screened_number);
    auto started = std::chrono::steady_clock::now();
    rig->add_rules("screened", make_rules());
    std::chrono::duration<double> created = std::chrono::steady_clock::now() - started;

    // Warm every cache: the identity, its number, and its rule set (whose
    // load is the scan a rule write costs the next decision).
    started = std::chrono::steady_clock::now();
    auto rules = rig->service().load_rules(screened);
    std::chrono::duration<double> loaded = std::chrono::steady_clock::now() - started;
    if (!rules.ok())
        fail("load_rules failed");
    for (const auto& caller : callers)
        if (rules.value->match(caller))
            fail("a caller meant to match no rule matches one: " + caller);
    if (rules.value->match(deep_caller) != engine::rule_action::allow)
        fail("the deep-prefix caller does not match its allow rule");
    for (const char* dialed : {plain_number, screened_number})
        if (rig->decide(dialed, callers[0]) != dispatch::outcome::answer_config)
            fail("the warm-up decision was not answer_config");
    std::printf("%zu contact rules created through config_service::create_rule in %.1f s; "
                "their set loaded from the store in %.0f ms\n",
                rule_count, created.count(), loaded.count() * 1000);

    const std::vector<std::string> deep{deep_caller};
    benchmark::RegisterBenchmark("decide/no_rules", decide, plain_number, callers);
    benchmark::RegisterBenchmark("decide/100k_rules/caller_matches_none", decide, screened_number, callers);
    benchmark::RegisterBenchmark("decide/100k_rules/caller_matches_deep_prefix", decide, screened_number, deep);
    difference_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    rig.reset();
    return 0;
}
