// The call log's storage layout: records under time-ordered record keys, ids
// the edge supplied found through column::call_keys, retention, and the
// conversion of a data dir written in the layout before it.
#include "callgate/engine/call_records.hpp"
#include "callgate/engine/clock.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/store.hpp"

#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>

namespace callgate::engine {
namespace {

constexpr std::int64_t t0 = 1'790'000'000'000'000; // µs, late 2026

std::unique_ptr<store> open_store(const std::string& dir)
{
    std::string error;
    auto db = store::open(dir + "/db", {}, error);
    EXPECT_TRUE(db) << error;
    return db;
}

void flush(call_log& calls)
{
    std::promise<bool> done;
    auto future = done.get_future();
    calls.flush([&done](bool ok) { done.set_value(ok); });
    ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_TRUE(future.get());
}

void write(store& db, std::function<bool(write_txn&)> prepare)
{
    std::promise<bool> done;
    auto future = done.get_future();
    db.submit({std::move(prepare), [&done](const store_status& s) { done.set_value(s.ok); }});
    ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_TRUE(future.get());
}

std::size_t count_keys(store& db, column c)
{
    std::size_t n = 0;
    EXPECT_TRUE(db.scan(c, "", 0, [&](std::string_view, std::string_view) { return ++n, true; }).ok);
    return n;
}

call_record make_record(const uuid& id, const uuid& identity, std::int64_t created_us)
{
    call_record r;
    r.id = id;
    r.agent_identity_id = identity;
    r.local_phone_number = "+15550100";
    r.remote_phone_number = "+15550199";
    r.status = call_status::ringing;
    r.answered_decision = true;
    r.decision_source = "config";
    r.client_websocket_url = "wss://agent.example.com/ws";
    r.created_at_us = r.updated_at_us = created_us;
    return r;
}

std::vector<uuid> ids_of(const config_result<std::vector<call_record>>& listed)
{
    EXPECT_TRUE(listed.ok());
    std::vector<uuid> out;
    for (const auto& r : listed.value)
        out.push_back(r.id);
    return out;
}

std::string big_endian(std::int64_t v)
{
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * (7 - i)));
    return out;
}

std::string identity_key(const uuid& identity, std::int64_t created_us, const uuid& key)
{
    return std::string(identity.as_key()) + big_endian(~created_us) + std::string(key.as_key());
}

class call_log_layout : public ::testing::Test {
protected:
    testing::temp_dir dir;
    std::unique_ptr<store> db = open_store(dir.path());
    manual_clock clock{t0};
    fast_random random;
    uuid identity = uuid::generate(random);
};

TEST_F(call_log_layout, minted_ids_are_their_own_record_keys_with_no_alias)
{
    call_log calls(*db, clock);
    EXPECT_TRUE(calls.converted());
    std::vector<uuid> minted;
    for (int i = 0; i < 5; ++i) {
        auto created = t0 + i * 1'000'250; // a second and a quarter millisecond apart
        minted.push_back(uuid::generate_v7(random, created));
        calls.record(make_record(minted.back(), identity, created));
    }
    flush(calls);
    EXPECT_EQ(count_keys(*db, column::calls), 5u);
    // One index entry per identity per write: 1 if the five went in one, at most 5.
    auto entries = count_keys(*db, column::calls_by_identity);
    EXPECT_GE(entries, 1u);
    EXPECT_LE(entries, 5u);
    EXPECT_EQ(count_keys(*db, column::call_keys), 0u);
    EXPECT_EQ(count_keys(*db, column::calls_by_time), 0u);
    for (const auto& id : minted) {
        std::string value;
        EXPECT_EQ(db->get(column::calls, id.as_key(), value), read_result::found);
        EXPECT_TRUE(calls.get(id).ok());
    }
    std::vector<uuid> newest_first(minted.rbegin(), minted.rend());
    EXPECT_EQ(ids_of(calls.list(std::nullopt, 10, 0)), newest_first);
    EXPECT_EQ(ids_of(calls.list(identity, 10, 0)), newest_first);
    EXPECT_EQ(ids_of(calls.list(std::nullopt, 2, 1)), std::vector<uuid>(newest_first.begin() + 1, newest_first.begin() + 3));
}

TEST_F(call_log_layout, an_edge_supplied_id_is_found_updated_listed_in_time_order_and_purged)
{
    call_log calls(*db, clock);
    auto before = uuid::generate_v7(random, t0);
    auto edge_id = uuid::generate(random); // version 4, as FreeSWITCH sends
    auto edge_v7 = uuid::generate_v7(random, t0 - 60'000'000); // the edge's own clock
    auto after = uuid::generate_v7(random, t0 + 3000);
    calls.record(make_record(before, identity, t0));
    calls.record(make_record(edge_id, identity, t0 + 1000));
    calls.record(make_record(edge_v7, identity, t0 + 2000));
    calls.record(make_record(after, identity, t0 + 3000));
    flush(calls);
    EXPECT_EQ(count_keys(*db, column::calls), 4u);
    EXPECT_EQ(count_keys(*db, column::call_keys), 2u);
    std::string value;
    EXPECT_EQ(db->get(column::calls, edge_id.as_key(), value), read_result::not_found);

    auto got = calls.get(edge_id);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got.value.created_at_us, t0 + 1000);
    EXPECT_EQ(ids_of(calls.list(std::nullopt, 10, 0)), (std::vector<uuid>{after, edge_v7, edge_id, before}));
    EXPECT_EQ(ids_of(calls.list(identity, 10, 0)), (std::vector<uuid>{after, edge_v7, edge_id, before}));

    std::promise<config_errc> updated;
    calls.update(edge_id, [](call_record& r) { r.status = call_status::answered; return true; },
                 [&updated](config_errc e) { updated.set_value(e); });
    EXPECT_EQ(updated.get_future().get(), config_errc::ok);
    EXPECT_EQ(calls.get(edge_id).value.status, call_status::answered);
    EXPECT_EQ(count_keys(*db, column::calls), 4u); // changed in place, not copied

    std::promise<config_errc> missing;
    calls.update(uuid::generate(random), [](call_record&) { return true; },
                 [&missing](config_errc e) { missing.set_value(e); });
    EXPECT_EQ(missing.get_future().get(), config_errc::no_config);
    EXPECT_EQ(calls.get(uuid::generate(random)).error, config_errc::no_config);

    // Retention: everything created before t0 + 2000 goes, with its keys.
    auto purged = calls.purge_older_than(t0 + 2000);
    ASSERT_TRUE(purged.ok());
    EXPECT_EQ(purged.value, 2u);
    EXPECT_EQ(calls.get(edge_id).error, config_errc::no_config);
    EXPECT_EQ(calls.get(before).error, config_errc::no_config);
    EXPECT_TRUE(calls.get(edge_v7).ok());
    EXPECT_EQ(count_keys(*db, column::calls), 2u);
    EXPECT_EQ(count_keys(*db, column::call_keys), 1u);
    EXPECT_EQ(ids_of(calls.list(identity, 10, 0)), (std::vector<uuid>{after, edge_v7}));
    EXPECT_EQ(calls.purge_older_than(t0 + 4000).value, 2u);
    EXPECT_EQ(count_keys(*db, column::calls_by_identity), 0u); // no index entry outlives its records
    EXPECT_TRUE(calls.list(identity, 10, 0).value.empty());
    EXPECT_EQ(calls.purge_older_than(t0 + 2000).value, 0u);
}

// The identity index holds a group per identity per write, under its newest
// record; the others, newest first, are its value (created time + record key).
std::string group_value(const std::vector<std::pair<std::int64_t, uuid>>& members)
{
    std::string out;
    for (const auto& [created, key] : members)
        out += big_endian(created) + std::string(key.as_key());
    return out;
}

TEST_F(call_log_layout, groups_of_the_identity_index_list_in_time_order_across_groups_and_pages)
{
    // Written as groups directly: a group's older records can be newer than
    // the next group's head (a record queued late, after its webhook).
    std::vector<uuid> k;
    std::vector<call_record> records;
    for (int i = 0; i < 8; ++i) {
        k.push_back(uuid::generate_v7(random, t0 + i * 1000));
        records.push_back(make_record(k.back(), identity, t0 + i * 1000));
    }
    auto other = uuid::generate(random);
    auto elsewhere = uuid::generate_v7(random, t0 + 3500);
    write(*db, [&](write_txn& txn) {
        for (const auto& r : records)
            txn.put(column::calls, r.id.as_key(), encode(r));
        txn.put(column::calls, elsewhere.as_key(), encode(make_record(elsewhere, other, t0 + 3500)));
        txn.put(column::meta, "call_records.layout", "2");
        // Heads 7, 5, 4 and 2: 7 holds 6 and 1; 5 holds 3; 4 alone (an older
        // data dir's entry); 2 holds 0. Another identity's entry in between.
        txn.put(column::calls_by_identity, identity_key(identity, t0 + 7000, k[7]),
                group_value({{t0 + 6000, k[6]}, {t0 + 1000, k[1]}}));
        txn.put(column::calls_by_identity, identity_key(identity, t0 + 5000, k[5]), group_value({{t0 + 3000, k[3]}}));
        txn.put(column::calls_by_identity, identity_key(identity, t0 + 4000, k[4]), "");
        txn.put(column::calls_by_identity, identity_key(identity, t0 + 2000, k[2]), group_value({{t0, k[0]}}));
        txn.put(column::calls_by_identity, identity_key(other, t0 + 3500, elsewhere), "");
        return true;
    });
    call_log calls(*db, clock);
    std::vector<uuid> newest_first(k.rbegin(), k.rend());
    EXPECT_EQ(ids_of(calls.list(identity, 100, 0)), newest_first);
    for (std::size_t limit = 1; limit <= 8; ++limit)
        for (std::size_t offset = 0; offset <= 8; ++offset) {
            auto from = newest_first.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(offset, 8));
            auto to = newest_first.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(offset + limit, 8));
            EXPECT_EQ(ids_of(calls.list(identity, limit, offset)), std::vector<uuid>(from, to))
                << "limit " << limit << " offset " << offset;
        }
    // A filter reads in chunks and counts only the records it keeps.
    auto odd = [&](const call_record& r) { return (r.created_at_us - t0) / 1000 % 2 == 1; };
    EXPECT_EQ(ids_of(calls.list(identity, 2, 1, odd)), (std::vector<uuid>{k[5], k[3]}));
    EXPECT_EQ(ids_of(calls.list(other, 10, 0)), std::vector<uuid>{elsewhere});

    // Retention purges a group's older records first: the group stays, and
    // lists what is left, until its head goes.
    EXPECT_EQ(calls.purge_older_than(t0 + 1500).value, 2u);
    EXPECT_EQ(ids_of(calls.list(identity, 100, 0)), std::vector<uuid>(newest_first.begin(), newest_first.end() - 2));
    EXPECT_EQ(ids_of(calls.list(identity, 2, 4)), (std::vector<uuid>{k[3], k[2]}));
    EXPECT_EQ(calls.purge_older_than(t0 + 7500).value, 7u); // the other identity's too
    EXPECT_EQ(count_keys(*db, column::calls_by_identity), 0u);
}

TEST_F(call_log_layout, retention_never_splits_a_microsecond_so_no_group_outlives_its_head)
{
    // 10,300 calls of one microsecond: groups of 256 whose heads are their
    // lowest record keys. A purge pass takes about 10,000 records, but not
    // the first of a microsecond without the rest of it.
    call_log calls(*db, clock);
    for (int i = 0; i < 10'300; ++i)
        calls.record(make_record(uuid::generate_v7(random, t0), identity, t0));
    flush(calls);
    auto later = uuid::generate_v7(random, t0 + 1);
    calls.record(make_record(later, identity, t0 + 1));
    flush(calls);
    EXPECT_EQ(calls.purge_older_than(t0 + 1).value, 10'300u);
    EXPECT_EQ(ids_of(calls.list(identity, 10, 0)), std::vector<uuid>{later});
    EXPECT_EQ(count_keys(*db, column::calls_by_identity), 1u);
}

TEST_F(call_log_layout, a_write_indexes_each_identity_once_per_group_of_up_to_256_records)
{
    call_log calls(*db, clock);
    auto second = uuid::generate(random);
    std::vector<std::pair<std::int64_t, uuid>> mine, theirs;
    // 600 records, created out of order (as calls whose webhooks answer at
    // different speeds are recorded), for two identities.
    for (int i = 0; i < 600; ++i) {
        auto created = t0 + (i * 7919) % 600 * 10;
        auto id = uuid::generate_v7(random, created);
        bool first = i % 3 != 0;
        (first ? mine : theirs).emplace_back(created, id);
        calls.record(make_record(id, first ? identity : second, created));
    }
    flush(calls);
    auto by_time = [](auto& list) {
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
        std::vector<uuid> out;
        for (const auto& m : list)
            out.push_back(m.second);
        return out;
    };
    // 400 and 200 records: at least 2 + 1 groups; far fewer than 600 entries
    // unless the writer took them nearly one at a time.
    auto entries = count_keys(*db, column::calls_by_identity);
    EXPECT_GE(entries, 3u);
    EXPECT_LT(entries, 600u);
    auto expected = by_time(mine);
    EXPECT_EQ(ids_of(calls.list(identity, 1000, 0)), expected);
    EXPECT_EQ(ids_of(calls.list(second, 1000, 0)), by_time(theirs));
    EXPECT_EQ(ids_of(calls.list(identity, 50, 300)), std::vector<uuid>(expected.begin() + 300, expected.begin() + 350));
}

TEST_F(call_log_layout, an_id_the_edge_sends_twice_keeps_both_records_and_resolves_to_the_newer)
{
    call_log calls(*db, clock);
    auto edge_id = uuid::generate(random);
    auto first = make_record(edge_id, identity, t0);
    first.remote_phone_number = "+15550001";
    auto second = make_record(edge_id, identity, t0 + 5000);
    second.remote_phone_number = "+15550002";
    calls.record(first);
    flush(calls);
    calls.record(second);
    flush(calls);
    EXPECT_EQ(calls.get(edge_id).value.remote_phone_number, "+15550002");
    EXPECT_EQ(calls.list(std::nullopt, 10, 0).value.size(), 2u);
    // Purging the older record leaves the id pointing at the newer one.
    EXPECT_EQ(calls.purge_older_than(t0 + 1).value, 1u);
    EXPECT_EQ(calls.get(edge_id).value.remote_phone_number, "+15550002");
    EXPECT_EQ(count_keys(*db, column::call_keys), 1u);
}

// The queue has a part per group of threads: records from more threads than
// parts, queued at once, all land once, each under its own key, listed in time
// order; an update finds a record still queued in any part.
TEST_F(call_log_layout, records_queued_by_many_threads_at_once_all_land_in_time_order)
{
    call_log calls(*db, clock);
    constexpr int threads = 12, per_thread = 500;
    std::vector<std::vector<uuid>> ids(threads);
    std::vector<std::thread> recorders;
    for (int t = 0; t < threads; ++t) {
        recorders.emplace_back([&, t] {
            fast_random own;
            for (int i = 0; i < per_thread; ++i) {
                auto created = t0 + (i * threads + t) * 10; // interleaved: thread order is not time order
                ids[t].push_back(uuid::generate_v7(own, created));
                calls.record(make_record(ids[t].back(), identity, created));
            }
        });
    }
    for (auto& r : recorders)
        r.join();
    // Changed before or after it is written, the update is the record's.
    std::promise<config_errc> updated;
    calls.update(
        ids[7][123], [](call_record& r) { return r.status = call_status::answered, true; },
        [&updated](config_errc e) { updated.set_value(e); });
    EXPECT_EQ(updated.get_future().get(), config_errc::ok);
    flush(calls);
    EXPECT_EQ(count_keys(*db, column::calls), std::size_t{threads * per_thread});
    EXPECT_EQ(calls.get(ids[7][123]).value.status, call_status::answered);
    auto listed = calls.list(identity, threads * per_thread, 0);
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed.value.size(), std::size_t{threads * per_thread});
    EXPECT_TRUE(std::is_sorted(listed.value.begin(), listed.value.end(),
                               [](const auto& a, const auto& b) { return a.created_at_us > b.created_at_us; }));
    std::set<uuid> distinct;
    for (const auto& r : listed.value)
        distinct.insert(r.id);
    EXPECT_EQ(distinct.size(), std::size_t{threads * per_thread});
    EXPECT_EQ(calls.dropped(), 0u);
}

// No flush: the writer, asleep while nothing is queued, wakes for a record
// and writes it within its batch time.
TEST_F(call_log_layout, an_idle_writer_wakes_for_the_next_record)
{
    call_log calls(*db, clock);
    for (int round = 0; round < 3; ++round) {
        auto id = uuid::generate_v7(random, t0 + round);
        calls.record(make_record(id, identity, t0 + round));
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::string value;
        while (db->get(column::calls, id.as_key(), value) != read_result::found &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        EXPECT_EQ(db->get(column::calls, id.as_key(), value), read_result::found) << "round " << round;
    }
}

// A data dir written before record keys: every record under its call id,
// column::calls_by_time as the time index, the identity index ending in the
// call id, no layout marker.
TEST_F(call_log_layout, an_older_data_dir_is_converted_once_and_reads_the_same)
{
    std::vector<call_record> old;
    for (int i = 0; i < 2500; ++i) {
        auto created = t0 + i * 10;
        // Every third an id of callgate's (version 7 of its time), the rest the edge's.
        auto id = i % 3 == 0 ? uuid::generate_v7(random, created) : uuid::generate(random);
        old.push_back(make_record(id, identity, created));
        old.back().remote_phone_number = "+1555" + std::to_string(1'000'000 + i);
    }
    write(*db, [&](write_txn& txn) {
        for (const auto& r : old) {
            txn.put(column::calls, r.id.as_key(), encode(r));
            txn.put(column::calls_by_time, big_endian(r.created_at_us) + std::string(r.id.as_key()), "");
            txn.put(column::calls_by_identity, identity_key(identity, r.created_at_us, r.id), "");
        }
        return true;
    });
    std::vector<uuid> newest_first;
    for (auto it = old.rbegin(); it != old.rend(); ++it)
        newest_first.push_back(it->id);

    std::vector<std::pair<std::size_t, bool>> progress;
    {
        call_log calls(*db, clock, [&](std::size_t moved, bool finished) { progress.emplace_back(moved, finished); });
        EXPECT_TRUE(calls.converted());
        ASSERT_FALSE(progress.empty());
        EXPECT_EQ(progress.back(), std::make_pair(std::size_t{1666}, true)); // 2,500 less the 834 of callgate's
        EXPECT_GE(progress.size(), 3u); // 1,000 a chunk: progress on the way
        EXPECT_EQ(count_keys(*db, column::calls_by_time), 0u);
        EXPECT_EQ(count_keys(*db, column::calls), 2500u);
        EXPECT_EQ(count_keys(*db, column::call_keys), 1666u);
        EXPECT_EQ(count_keys(*db, column::calls_by_identity), 2500u);

        auto all = calls.list(std::nullopt, 3000, 0);
        EXPECT_EQ(ids_of(all), newest_first);
        EXPECT_EQ(ids_of(calls.list(identity, 3000, 0)), newest_first);
        for (std::size_t i = 0; i < old.size(); i += 97) {
            auto got = calls.get(old[i].id);
            ASSERT_TRUE(got.ok()) << i;
            EXPECT_EQ(got.value.remote_phone_number, old[i].remote_phone_number);
        }
        // New records land after the converted ones.
        auto fresh = uuid::generate_v7(random, t0 + 1'000'000);
        calls.record(make_record(fresh, identity, t0 + 1'000'000));
        flush(calls);
        EXPECT_EQ(ids_of(calls.list(std::nullopt, 1, 0)), std::vector<uuid>{fresh});

        EXPECT_EQ(calls.purge_older_than(t0 + 10 * 1000).value, 1000u);
        EXPECT_EQ(calls.list(identity, 3000, 0).value.size(), 1501u);
        EXPECT_EQ(calls.get(old[999].id).error, config_errc::no_config);
        EXPECT_TRUE(calls.get(old[1000].id).ok());
        calls.stop();
    }
    // Converted once: a second start has nothing to do.
    progress.clear();
    call_log again(*db, clock, [&](std::size_t moved, bool finished) { progress.emplace_back(moved, finished); });
    EXPECT_TRUE(again.converted());
    EXPECT_TRUE(progress.empty());
    EXPECT_EQ(again.list(std::nullopt, 3000, 0).value.size(), 1501u);
}

TEST(uuid_v7, is_v7_of_its_instant_only)
{
    fast_random random;
    auto id = uuid::generate_v7(random, t0 + 123);
    EXPECT_TRUE(id.is_v7_of(t0 + 123));
    EXPECT_FALSE(id.is_v7_of(t0 + 124));
    EXPECT_FALSE(id.is_v7_of(t0 + 123 + 1000));
    EXPECT_FALSE(uuid::generate(random).is_v7_of(t0 + 123));
    auto wrong_variant = id;
    wrong_variant.bytes[8] = static_cast<std::uint8_t>(wrong_variant.bytes[8] & 0x3F);
    EXPECT_FALSE(wrong_variant.is_v7_of(t0 + 123));
}

} // namespace
} // namespace callgate::engine
