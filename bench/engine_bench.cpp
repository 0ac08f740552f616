// Engine hot paths: a cache hit, a cache miss served from RocksDB with
// 1,000,000 identities stored, and parsing a PUT /incoming-call-action body.
//
// The 1M-identity store is built once under $CALLGATE_BENCH_DIR (default
// build/bench-data) and reused by later runs.
#include "callgate/config_api/request_body.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/records.hpp"
#include "callgate/engine/store.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>

namespace {

using namespace callgate;

constexpr std::size_t stored_identities = 1'000'000;

engine::uuid id_for(std::uint64_t i)
{
    engine::uuid u;
    std::uint64_t a = i * 0x9E3779B97F4A7C15ull + 1, b = i ^ 0xC2B2AE3D27D4EB4Full;
    std::memcpy(u.bytes.data(), &a, 8);
    std::memcpy(u.bytes.data() + 8, &b, 8);
    return u;
}

std::string bench_dir()
{
    const char* dir = std::getenv("CALLGATE_BENCH_DIR");
    return dir != nullptr ? dir : "build/bench-data";
}

// Opens (building on first use) a store holding `stored_identities` identities,
// each with an auto_accept action.
engine::store& million_store()
{
    static std::unique_ptr<engine::store> db = [] {
        std::string path = bench_dir() + "/identities-1m";
        std::filesystem::create_directories(path);
        bool built = std::filesystem::exists(path + "/BUILT");
        std::string error;
        auto store = engine::store::open(path + "/db", {}, error);
        if (!store) {
            std::fprintf(stderr, "cannot open bench store: %s\n", error.c_str());
            std::exit(1);
        }
        if (!built) {
            std::fprintf(stderr, "building a store of %zu identities in %s (once)...\n", stored_identities,
                         path.c_str());
            constexpr std::size_t per_batch = 20'000;
            for (std::size_t start = 0; start < stored_identities; start += per_batch) {
                std::promise<bool> done;
                store->submit({[start](engine::write_txn& txn) {
                                   for (std::size_t i = start; i < start + per_batch; ++i) {
                                       engine::identity_record r{id_for(i), "agent-" + std::to_string(i),
                                                                 "Agent " + std::to_string(i), std::nullopt,
                                                                 1'700'000'000'000'000, 1'700'000'000'000'000};
                                       txn.put(engine::column::identities, r.id.as_key(), engine::encode(r));
                                       txn.put(engine::column::handles, r.agent_handle, r.id.as_key());
                                       engine::incoming_call_action a{engine::call_action::auto_accept,
                                                                      "wss://agent.example.com/ws/" + std::to_string(i),
                                                                      std::nullopt};
                                       txn.put(engine::column::actions, r.id.as_key(), engine::encode(a));
                                   }
                                   return true;
                               },
                               [&done](const engine::store_status& s) { done.set_value(s.ok); }});
                if (!done.get_future().get()) {
                    std::fprintf(stderr, "bench store build failed\n");
                    std::exit(1);
                }
            }
            if (auto s = store->compact(); !s.ok) {
                std::fprintf(stderr, "bench store compaction failed: %s\n", s.message.c_str());
                std::exit(1);
            }
            std::ofstream(path + "/BUILT") << stored_identities << "\n";
        }
        return store;
    }();
    return *db;
}

engine::system_clock_source clock_source;
engine::crypto_random random_source;

void cache_hit(benchmark::State& state)
{
    auto& db = million_store();
    engine::config_service service(db, clock_source, random_source, bench_dir() + "/admin_keys", 1'000'000);
    // 10,000 identities taking turns (the shared cache), or one called
    // again and again (each thread's front: see bounded_cache).
    const auto hot = static_cast<std::size_t>(state.range(0));
    for (std::size_t i = 0; i < hot; ++i)
        service.load_snapshot(id_for(i));
    std::size_t i = 0;
    for (auto _ : state) {
        auto snapshot = service.try_snapshot(id_for(i++ % hot));
        benchmark::DoNotOptimize(snapshot);
    }
    auto stats = service.stats();
    state.counters["hit_ratio"] = benchmark::Counter(
        static_cast<double>(stats.hits) / static_cast<double>(stats.hits + stats.misses), benchmark::Counter::kAvgThreads);
}
BENCHMARK(cache_hit)->Arg(10'000)->Arg(1)->Threads(1)->Threads(2);

void cache_miss_from_rocksdb(benchmark::State& state)
{
    auto& db = million_store();
    // A one-entry cache: every lookup of a random identity reads RocksDB.
    engine::config_service service(db, clock_source, random_source, bench_dir() + "/admin_keys", 1);
    std::uint64_t x = 88172645463325252ull + static_cast<std::uint64_t>(state.thread_index());
    std::size_t found = 0;
    for (auto _ : state) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        auto result = service.load_snapshot(id_for(x % stored_identities));
        found += result.value != nullptr;
        benchmark::DoNotOptimize(result);
    }
    if (found != static_cast<std::size_t>(state.iterations()))
        state.SkipWithError("an identity was not found");
    state.counters["identities_stored"] = benchmark::Counter(stored_identities, benchmark::Counter::kAvgThreads);
}
BENCHMARK(cache_miss_from_rocksdb)->Threads(1)->Threads(2);

void parse_put_body(benchmark::State& state)
{
    const std::string body = R"({"agent_identity_id":"123e4567-e89b-12d3-a456-426614174000",)"
                             R"("incoming_call_action":"webhook",)"
                             R"("client_websocket_url":"wss://agent.example.com/ws/voice?tenant=acme",)"
                             R"("incoming_call_webhook_url":"https://hooks.example.com/inkbox/incoming"})";
    engine::json_object doc;
    config_api::put_action_request request;
    std::string detail;
    for (auto _ : state) {
        if (doc.parse(body) != engine::json_parse_error::ok ||
            !config_api::read_put_action(doc, true, false, request, detail))
            state.SkipWithError("parse failed");
        benchmark::DoNotOptimize(request);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(parse_put_body);

} // namespace
