#pragma once

// The decider and everything it decides with, wired as app/server.cpp wires
// them, for the benchmarks that time a decision or its pieces: config_service
// over a RocksDB store in a temp dir, call_log, webhook_client over an
// outbound_client, a worker pool, dispatch_metrics and the system clock.

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
#include <exception>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <errno.h>
#include <stdlib.h>

namespace callgate::bench {

namespace asio = boost::asio;

// Set-up went wrong: no figure would mean anything.
[[noreturn]] inline void fail(const std::string& what)
{
    std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
    std::exit(1);
}

// Google Benchmark's set-up with defaults the command line can override:
// `repetitions` interleaved repetitions, aggregates only, so a busy
// machine's load lands on every case alike. False if an argument is unknown.
inline bool initialize_benchmark(int argc, char** argv, int repetitions)
{
    std::vector<char*> args{argv[0]};
    std::string repeat = "--benchmark_repetitions=" + std::to_string(repetitions),
                interleave = "--benchmark_enable_random_interleaving=true",
                aggregates = "--benchmark_report_aggregates_only=true";
    args.insert(args.end(), {repeat.data(), interleave.data(), aggregates.data()});
    args.insert(args.end(), argv + 1, argv + argc);
    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    return !benchmark::ReportUnrecognizedArguments(count, args.data());
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

inline std::unique_ptr<engine::store> open_store(const std::string& dir)
{
    std::string error;
    auto db = engine::store::open(dir + "/db", {}, error);
    if (!db)
        fail("cannot open store: " + error);
    return db;
}

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
        dispatch::outcome kind = dispatch::outcome::overloaded;
        run(dialed, caller, [&kind](dispatch::call_decision& d) { kind = d.kind; });
        return kind;
    }

    // Times decisions of calls to `dialed` from `callers` (cycled), each
    // expected to be answered from config without a store read; the run is
    // marked as an error if one is not.
    void time_cached_decisions(benchmark::State& state, const std::string& dialed,
                               const std::vector<std::string>& callers)
    {
        auto misses = service_.stats().misses;
        std::size_t i = 0, wrong = 0;
        for (auto _ : state)
            wrong += decide(dialed, callers[i++ % callers.size()]) != dispatch::outcome::answer_config;
        if (wrong != 0)
            state.SkipWithError("a decision was not answer_config");
        if (service_.stats().misses != misses)
            state.SkipWithError("a decision missed a cache");
    }

    // One decision, run to completion.
    dispatch::call_decision decision(const std::string& dialed, const std::string& caller)
    {
        dispatch::call_decision out;
        run(dialed, caller, [&out](dispatch::call_decision& d) { out = std::move(d); });
        return out;
    }

    engine::config_service& service() { return service_; }
    engine::call_log& calls() { return calls_; }
    dispatch::call_decider& decider() { return decider_; }
    engine::clock_source& clock() { return clock_; }

private:
    // Runs decide_only on the rig's io_context until it completes and hands
    // `take` the decision; `take` decides what of it outlives the coroutine.
    template <class Take>
    void run(const std::string& dialed, const std::string& caller, Take take)
    {
        dispatch::call_event event;
        event.local_phone_number = dialed;
        event.remote_phone_number = caller;
        asio::co_spawn(io_, decider_.decide_only(std::move(event)),
                       [&take](std::exception_ptr e, dispatch::call_decision d) {
                           if (e)
                               std::rethrow_exception(e);
                           take(d);
                       });
        io_.run();
        io_.restart();
    }

    scratch_dir dir_; // first: removed after the store closed
    engine::system_clock_source clock_;
    engine::crypto_random random_;
    std::unique_ptr<engine::store> db_;
    engine::config_service service_;
    engine::call_log calls_;
    net::outbound_client outbound_;
    dispatch::dispatch_metrics metrics_{std::chrono::seconds(1)};
    dispatch::webhook_client webhooks_;
    asio::thread_pool workers_;
    dispatch::call_decider decider_;
    asio::io_context io_{1};
};

} // namespace callgate::bench
