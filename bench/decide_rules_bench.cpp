// What contact rules add to a decision: call_decider::decide_only for an
// identity holding 100,000 contact rules against one holding none, in the
// same run, on the in-memory path an edge pays (every cache warm).
//
// The decider is wired as the server wires it: config_service over a RocksDB
// store in a temp dir, call_log, webhook_client over an outbound_client, a
// worker pool, dispatch_metrics and the system clock. The rules are created
// through config_service::create_rule. Each iteration runs one decide_only
// coroutine to completion on an io_context; every case pays that the same, so
// the difference between the cases is the screening.
//
// After the table the difference of the medians is printed (aim: <= 0.5 us).
#include "callgate/dispatch/call_decider.hpp"
#include "callgate/dispatch/dispatch_metrics.hpp"
#include "callgate/dispatch/webhook_client.hpp"
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/net/outbound_client.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <stdexcept>

#include <unistd.h>

namespace {

using namespace callgate;
namespace asio = boost::asio;

constexpr std::size_t rule_count = engine::max_rules_per_identity; // 100,000
constexpr std::size_t prefix_rule_count = 20'000; // the rest are exact numbers
constexpr std::size_t caller_count = 4096;        // distinct callers, cycled through
constexpr const char* plain_number = "+15550100";
constexpr const char* screened_number = "+15550200";
// The deep-prefix case: an allow rule 11 characters long, and a caller under it.
constexpr const char* deep_prefix = "+4420794601";
constexpr const char* deep_caller = "+442079460123";

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "decide_rules_bench: %s\n", what.c_str());
    std::exit(1);
}

// Calls `start(done)` and waits for `done(R)`.
template <class R, class Start>
R wait_for(Start start)
{
    std::promise<R> promise;
    auto future = promise.get_future();
    start([&promise](R r) { promise.set_value(std::move(r)); });
    return future.get();
}

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

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
struct scratch_dir {
    scratch_dir()
    {
        path = (std::filesystem::temp_directory_path() / "callgate-bench-XXXXXX").string();
        if (::mkdtemp(path.data()) == nullptr)
            fail("mkdtemp failed");
    }
    ~scratch_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string path;
};

std::unique_ptr<engine::store> open_store(const std::string& dir)
{
    std::string error;
    auto db = engine::store::open(dir + "/db", {}, error);
    if (!db)
        fail("cannot open store: " + error);
    return db;
}

// The decider and everything it decides with, wired as app/server.cpp does.
class decider_rig {
public:
    decider_rig()
        : db_(open_store(dir_.path)),
          service_(*db_, clock_, random_, dir_.path + "/admin_keys", 1'000'000),
          calls_(*db_, clock_),
          outbound_(net::outbound_options{}),
          webhooks_(outbound_, clock_, random_, metrics_, false),
          workers_(2),
          decider_(service_, calls_, webhooks_, workers_.get_executor(), metrics_, clock_, std::chrono::seconds(1))
    {
    }
    ~decider_rig()
    {
        workers_.join();
        calls_.stop();
        db_->close();
    }

    // An identity with `number` and an auto_accept action.
    engine::uuid add_identity(const std::string& handle, const std::string& number)
    {
        auto created = wait_for<engine::config_result<engine::snapshot_ptr>>(
            [&](auto done) { service_.create_identity({handle, std::nullopt, number, std::nullopt}, done); });
        if (!created.ok())
            fail("create_identity failed");
        auto id = created.value->identity.id;
        engine::incoming_call_action action;
        action.action = engine::call_action::auto_accept;
        action.client_websocket_url = "wss://agent.example.com/ws";
        auto put = wait_for<engine::config_result<engine::incoming_call_action>>(
            [&](auto done) { service_.put_action(id, action, done); });
        if (!put.ok())
            fail("put_action failed");
        return id;
    }

    // Creates every rule at once (the store group-commits them) and waits.
    void add_rules(const std::string& handle, std::vector<engine::new_contact_rule> rules)
    {
        std::atomic<std::size_t> left{rules.size()}, failed{0};
        std::promise<void> all_done;
        for (auto& r : rules)
            service_.create_rule(handle, std::move(r), [&](engine::config_result<engine::contact_rule> result) {
                if (!result.ok())
                    failed.fetch_add(1);
                if (left.fetch_sub(1) == 1)
                    all_done.set_value();
            });
        all_done.get_future().wait();
        if (failed.load() != 0)
            fail(std::to_string(failed.load()) + " contact rules were not created");
    }

    // One decision, run to completion; its outcome.
    dispatch::outcome decide(const std::string& dialed, const std::string& caller)
    {
        dispatch::call_event event;
        event.local_phone_number = dialed;
        event.remote_phone_number = caller;
        dispatch::outcome kind = dispatch::outcome::overloaded;
        asio::co_spawn(io_, decider_.decide_only(std::move(event)),
                       [&kind](std::exception_ptr e, dispatch::call_decision d) {
                           if (e)
                               std::rethrow_exception(e);
                           kind = d.kind;
                       });
        io_.run();
        io_.restart();
        return kind;
    }

    engine::config_service& service() { return service_; }

private:
    scratch_dir dir_; // first: removed after the store closed
    engine::system_clock_source clock_;
    engine::crypto_random random_;
    std::unique_ptr<engine::store> db_;
    engine::config_service service_;
    engine::call_log calls_;
    net::outbound_client outbound_;
    dispatch::dispatch_metrics metrics_;
    dispatch::webhook_client webhooks_;
    asio::thread_pool workers_;
    dispatch::call_decider decider_;
    asio::io_context io_{1};
};

std::unique_ptr<decider_rig> rig;
std::vector<std::string> callers;

// Decides calls to `dialed` from `from` (cycled), each expected to be answered
// from config without a store read.
void decide(benchmark::State& state, const char* dialed, const std::vector<std::string>& from)
{
    auto misses = rig->service().stats().misses;
    std::size_t i = 0, wrong = 0;
    for (auto _ : state)
        wrong += rig->decide(dialed, from[i++ % from.size()]) != dispatch::outcome::answer_config;
    if (wrong != 0)
        state.SkipWithError("a decision was not answer_config");
    if (rig->service().stats().misses != misses)
        state.SkipWithError("a decision missed a cache");
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
    // Defaults the command line can override: interleaved repetitions, so a
    // busy machine's load lands on every case alike.
    std::vector<char*> args{argv[0]};
    std::string repetitions = "--benchmark_repetitions=5", interleave = "--benchmark_enable_random_interleaving=true",
                aggregates = "--benchmark_report_aggregates_only=true";
    args.insert(args.end(), {repetitions.data(), interleave.data(), aggregates.data()});
    args.insert(args.end(), argv + 1, argv + argc);
    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data()))
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
