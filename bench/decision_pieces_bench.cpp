// The pieces of one edge decision (POST /v1/calls/decide for an identity with
// a phone number and an auto_accept action, every cache warm), each timed on
// its own, so a change to one piece shows in its own figure instead of in the
// noise of a load run (scripts/bench decide):
//   parse/decide_body   dispatch::read_decide_body of the body bench/decide.lua sends.
//   decide/cache_hit    call_decider::decide_only run to completion on an
//                       io_context, as decide_rules_bench runs it.
//   serialize/decision  dispatch::decision_body of that decision, the 200's body.
//   record/enqueue      engine::call_log::record of the record call_decider::record
//                       writes for it: what the I/O thread pays. The log drops
//                       records past 64k pending, so every 1,000 it is flushed
//                       with timing paused. That store work is ~20 times the
//                       enqueue, so the case runs a fixed count (a time-based
//                       run would take minutes and write gigabytes), and every
//                       copy keeps the sample's id: its writes overwrite one
//                       record instead of leaving compactions behind for the
//                       other cases.
//   record/stored       that record, with a fresh id and time as decide_only
//                       mints them, until it is stored, in CPU of the whole
//                       process per record: the store's commit thread and
//                       RocksDB's flushes and compactions, which run on other
//                       threads, count. Flushed every 128 records with timing
//                       running, so recording cannot outrun the store; at least
//                       2 s a run, so memtable flushes land in every run.
//   list/newest         GET /calls's read: the 50 newest of at least 300,000
//                       call records (in memtables and files); list/identity
//                       the same for one identity's calls. What a change to
//                       the record's layout costs its readers.
// The decider is wired as the server wires it (decider_rig.hpp).
#include "decider_rig.hpp"

#include "callgate/dispatch/edge_request_body.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace callgate;
using bench::decider_rig;
using bench::fail;

// What bench/decide.lua sends by default.
constexpr const char* dialed_number = "+15550100";
constexpr const char* caller_number = "+15550199";
constexpr std::string_view decide_body = R"({"local_phone_number":"+15550100","remote_phone_number":"+15550199"})";

std::unique_ptr<decider_rig> rig;
dispatch::call_decision answered;  // a decision decide/cache_hit makes
engine::call_record answered_record; // as call_decider::record stored it for `answered`

// `answered_record` as another call.
engine::call_record next_record()
{
    engine::call_record r = answered_record;
    r.created_at_us = r.updated_at_us = rig->clock().now_us();
    r.id = engine::uuid::generate_v7(rig->decider().ids(), r.created_at_us);
    return r;
}

// Waits until every record queued so far is stored.
bool flushed()
{
    return bench::wait_for<bool>([](auto done) { rig->calls().flush(done); });
}

void parse_decide_body(benchmark::State& state)
{
    std::size_t refused = 0;
    for (auto _ : state) {
        dispatch::call_event event;
        std::string detail;
        refused += !dispatch::read_decide_body(decide_body, event, detail);
        benchmark::DoNotOptimize(event);
    }
    if (refused != 0)
        state.SkipWithError("the body was refused");
}

void decide_cache_hit(benchmark::State& state)
{
    static const std::vector<std::string> caller{caller_number};
    rig->time_cached_decisions(state, dialed_number, caller);
}

void serialize_decision(benchmark::State& state)
{
    for (auto _ : state) {
        auto body = dispatch::decision_body(answered);
        benchmark::DoNotOptimize(body);
    }
}

void record_enqueue(benchmark::State& state)
{
    constexpr std::size_t batch = 1000;
    auto dropped = rig->calls().dropped();
    bool stored = true;
    std::vector<engine::call_record> records;
    std::size_t next = batch;
    for (auto _ : state) {
        if (next == batch) {
            state.PauseTiming();
            stored = flushed() && stored;
            records.assign(batch, answered_record);
            next = 0;
            state.ResumeTiming();
        }
        rig->calls().record(std::move(records[next++]));
    }
    stored = flushed() && stored;
    if (!stored || rig->calls().dropped() != dropped)
        state.SkipWithError("a record was not stored");
}

void record_stored(benchmark::State& state)
{
    auto dropped = rig->calls().dropped();
    bool stored = true;
    std::size_t n = 0;
    for (auto _ : state) {
        rig->calls().record(next_record());
        if (++n % 128 == 0)
            stored = flushed() && stored;
    }
    stored = flushed() && stored;
    if (!stored || rig->calls().dropped() != dropped)
        state.SkipWithError("a record was not stored");
}

void list_newest(benchmark::State& state, std::optional<engine::uuid> identity)
{
    // Cases run in random order: make sure there is a history to list.
    static bool filled = false;
    if (!filled) {
        bool stored = true;
        for (int i = 1; i <= 300'000; ++i) {
            rig->calls().record(next_record());
            if (i % 4096 == 0)
                stored = flushed() && stored; // the queue holds 64 Ki records at most
        }
        if (!flushed() || !stored) {
            state.SkipWithError("the records were not stored");
            return;
        }
        filled = true;
    }
    for (auto _ : state) {
        auto page = rig->calls().list(identity, 50, 0);
        if (!page.ok() || page.value.size() != 50) {
            state.SkipWithError("the list did not return 50 records");
            break;
        }
        benchmark::DoNotOptimize(page);
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (!bench::initialize_benchmark(argc, argv, 3))
        return 1;

    rig = std::make_unique<decider_rig>();
    rig->add_identity("bench", dialed_number);
    // The first decision fills the caches; the next is the sample.
    if (rig->decide(dialed_number, caller_number) != dispatch::outcome::answer_config)
        fail("the warm-up decision was not answer_config");
    answered = rig->decision(dialed_number, caller_number);
    if (answered.kind != dispatch::outcome::answer_config)
        fail("the sample decision was not answer_config");
    rig->decider().record(answered, engine::call_status::ringing);
    if (!flushed())
        fail("the sample's record was not stored");
    auto stored = rig->calls().get(answered.call.call_id);
    if (!stored.ok())
        fail("the sample's record cannot be read back");
    answered_record = std::move(stored.value);
    std::printf("a decision's body: %zu bytes; its call record: %zu bytes encoded\n",
                dispatch::decision_body(answered).size(), engine::encode(answered_record).size());

    benchmark::RegisterBenchmark("parse/decide_body", parse_decide_body);
    benchmark::RegisterBenchmark("decide/cache_hit", decide_cache_hit);
    benchmark::RegisterBenchmark("serialize/decision", serialize_decision);
    benchmark::RegisterBenchmark("record/enqueue", record_enqueue)->Iterations(200'000);
    benchmark::RegisterBenchmark("record/stored", record_stored)->MeasureProcessCPUTime()->UseRealTime()->MinTime(2);
    benchmark::RegisterBenchmark("list/newest", list_newest, std::nullopt)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("list/identity", list_newest, answered.agent_identity_id)->Unit(benchmark::kMicrosecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    rig.reset();
    return 0;
}
