#include "callgate/engine/store.hpp"

#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace callgate::engine {
namespace {

std::unique_ptr<store> open_store(const std::string& dir, store_options options = {})
{
    std::string error;
    auto db = store::open(dir + "/db", std::move(options), error);
    EXPECT_TRUE(db) << error;
    return db;
}

// Submits one write and waits (with a deadline) for its completion.
store_status write_and_wait(store& db, std::function<bool(write_txn&)> prepare)
{
    std::promise<store_status> done;
    auto future = done.get_future();
    db.submit({std::move(prepare), [&done](const store_status& s) { done.set_value(s); }});
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
}

TEST(store, a_synced_write_is_readable_and_survives_reopen)
{
    testing::temp_dir dir;
    {
        auto db = open_store(dir.path());
        auto s = write_and_wait(*db, [](write_txn& txn) {
            txn.put(column::identities, "k", "v");
            return true;
        });
        EXPECT_TRUE(s.ok) << s.message;
        std::string value;
        EXPECT_EQ(db->get(column::identities, "k", value), read_result::found);
        EXPECT_EQ(value, "v");
        EXPECT_EQ(db->get(column::actions, "k", value), read_result::not_found);
    }
    auto db = open_store(dir.path());
    std::string value;
    EXPECT_EQ(db->get(column::identities, "k", value), read_result::found);
    EXPECT_EQ(value, "v");
}

TEST(store, a_second_open_of_the_same_dir_fails_with_a_clear_error)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    std::string error;
    auto second = store::open(dir.path() + "/db", {}, error);
    EXPECT_FALSE(second);
    EXPECT_NE(error.find("in use by another callgate"), std::string::npos) << error;
}

TEST(store, a_rejected_request_leaves_no_trace_and_others_in_its_group_commit)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    std::vector<std::promise<store_status>> done(3);
    // Requests queued together share one group; the middle one backs out.
    for (int i = 0; i < 3; ++i) {
        db->submit({[i](write_txn& txn) {
                        txn.put(column::handles, std::string(1, 'h').append(std::to_string(i)), "x");
                        return i != 1;
                    },
                    [&done, i](const store_status& s) { done[i].set_value(s); }});
    }
    for (auto& d : done)
        EXPECT_TRUE(d.get_future().get().ok);
    std::string value;
    EXPECT_EQ(db->get(column::handles, "h0", value), read_result::found);
    EXPECT_EQ(db->get(column::handles, "h1", value), read_result::not_found);
    EXPECT_EQ(db->get(column::handles, "h2", value), read_result::found);
}

TEST(store, reads_in_a_transaction_see_earlier_writes_of_the_group)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    std::atomic<int> seen{0};
    std::vector<std::promise<store_status>> done(50);
    for (int i = 0; i < 50; ++i) {
        db->submit({[&seen](write_txn& txn) {
                        std::string value;
                        int count = 0;
                        if (txn.get(column::meta, "count", value) == read_result::found)
                            count = std::stoi(value);
                        txn.put(column::meta, "count", std::to_string(count + 1));
                        seen.fetch_add(1);
                        return true;
                    },
                    [&done, i](const store_status& s) { done[i].set_value(s); }});
    }
    for (auto& d : done)
        EXPECT_TRUE(d.get_future().get().ok);
    std::string value;
    ASSERT_EQ(db->get(column::meta, "count", value), read_result::found);
    EXPECT_EQ(value, "50"); // no lost update, whatever the grouping was
}

TEST(store, concurrent_writers_are_group_committed)
{
    testing::temp_dir dir;
    std::atomic<std::size_t> groups{0}, requests{0};
    store_options options;
    options.on_group_commit = [&](double, std::size_t n) {
        groups.fetch_add(1);
        requests.fetch_add(n);
    };
    auto db = open_store(dir.path(), options);
    std::vector<std::thread> writers;
    for (int t = 0; t < 16; ++t) {
        writers.emplace_back([&db, t] {
            for (int i = 0; i < 50; ++i) {
                auto s = write_and_wait(*db, [t, i](write_txn& txn) {
                    txn.put(column::actions, std::to_string(t) + ":" + std::to_string(i), "v");
                    return true;
                });
                ASSERT_TRUE(s.ok);
            }
        });
    }
    for (auto& w : writers)
        w.join();
    EXPECT_EQ(requests.load(), 800u);
    EXPECT_LT(groups.load(), 800u) << "16 concurrent writers never shared a sync";
}

// Config writes (synced lane) and call records (unsynced lane) committed at the
// same time by their two threads. Under TSan this is the case that showed a
// report inside RocksDB's write group while both lanes called DB::Write at once.
TEST(store, synced_and_unsynced_lanes_commit_at_the_same_time)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    constexpr int rounds = 100;
    auto writer = [&db](bool synced) {
        for (int i = 0; i < rounds; ++i) {
            std::promise<store_status> done;
            auto future = done.get_future();
            write_request request{[synced, i](write_txn& txn) {
                                      // Values long enough to live on the heap, as real records do.
                                      txn.put(synced ? column::actions : column::calls, std::to_string(i),
                                              std::string(200, synced ? 'a' : 'c'));
                                      return true;
                                  },
                                  [&done](const store_status& s) { done.set_value(s); }, synced};
            if (synced)
                db->submit(std::move(request));
            else
                db->submit_unsynced(std::move(request));
            ASSERT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
            auto s = future.get();
            ASSERT_TRUE(s.ok) << s.message;
        }
    };
    std::thread synced([&] { writer(true); });
    std::thread unsynced([&] { writer(false); });
    synced.join();
    unsynced.join();
    std::string value;
    for (int i = 0; i < rounds; ++i) {
        ASSERT_EQ(db->get(column::actions, std::to_string(i), value), read_result::found);
        EXPECT_EQ(value, std::string(200, 'a'));
        ASSERT_EQ(db->get(column::calls, std::to_string(i), value), read_result::found);
        EXPECT_EQ(value, std::string(200, 'c'));
    }
}

// The same, on the unsynced lane (what cluster mode's copy is written through).
store_status write_unsynced_and_wait(store& db, std::function<bool(write_txn&)> prepare)
{
    std::promise<store_status> done;
    auto future = done.get_future();
    db.submit_unsynced({std::move(prepare), [&done](const store_status& s) { done.set_value(s); }, false});
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
}

const std::string identity_a(16, 'a');

// What get_identity_parts answers for `id`, as "identity|action|key" ("-" for
// an absent part), or "not found".
std::string parts_of(store& db, const std::string& id)
{
    identity_parts parts;
    auto r = db.get_identity_parts(id, parts);
    if (r == read_result::not_found)
        return "not found";
    if (r != read_result::found)
        return "error";
    return parts.identity + "|" + parts.action.value_or("-") + "|" + parts.signing_key.value_or("-");
}

TEST(store, decision_records_follow_every_write_to_their_three_columns)
{
    for (bool synced : {true, false}) {
        SCOPED_TRACE(synced ? "synced lane" : "unsynced lane");
        testing::temp_dir dir;
        auto db = open_store(dir.path());
        auto write = [&](std::function<void(write_txn&)> change) {
            auto prepare = [change](write_txn& txn) {
                change(txn);
                return true;
            };
            auto s = synced ? write_and_wait(*db, prepare) : write_unsynced_and_wait(*db, prepare);
            ASSERT_TRUE(s.ok) << s.message;
        };
        EXPECT_EQ(parts_of(*db, identity_a), "not found");
        write([](write_txn& txn) { txn.put(column::actions, identity_a, "action-1"); });
        EXPECT_EQ(parts_of(*db, identity_a), "not found"); // no identity, no record
        write([](write_txn& txn) { txn.put(column::identities, identity_a, "identity-1"); });
        EXPECT_EQ(parts_of(*db, identity_a), "identity-1|action-1|-");
        write([](write_txn& txn) {
            txn.put(column::signing_keys, identity_a, "key-1");
            txn.put(column::actions, identity_a, "action-2"); // the last write of a batch wins
            txn.put(column::actions, identity_a, "action-3");
        });
        EXPECT_EQ(parts_of(*db, identity_a), "identity-1|action-3|key-1");
        write([](write_txn& txn) { txn.del(column::actions, identity_a); });
        EXPECT_EQ(parts_of(*db, identity_a), "identity-1|-|key-1");
        write([](write_txn& txn) {
            txn.del(column::identities, identity_a);
            txn.del(column::signing_keys, identity_a);
        });
        EXPECT_EQ(parts_of(*db, identity_a), "not found");
        std::string value;
        EXPECT_EQ(db->get(column::decision_records, identity_a, value), read_result::not_found);
    }
}

TEST(store, a_rejected_request_leaves_the_decision_record_as_it_was)
{
    for (bool synced : {true, false}) {
        SCOPED_TRACE(synced ? "synced lane" : "unsynced lane");
        testing::temp_dir dir;
        auto db = open_store(dir.path());
        ASSERT_TRUE(write_and_wait(*db, [](write_txn& txn) {
                        txn.put(column::identities, identity_a, "identity-1");
                        return true;
                    }).ok);
        std::vector<std::promise<store_status>> done(3);
        for (int i = 0; i < 3; ++i) {
            write_request request{[i](write_txn& txn) {
                                      txn.put(column::actions, identity_a, "action-" + std::to_string(i));
                                      return i != 2; // the last one backs out
                                  },
                                  [&done, i](const store_status& s) { done[i].set_value(s); }, !synced};
            if (synced)
                db->submit(std::move(request));
            else
                db->submit_unsynced(std::move(request));
        }
        for (auto& d : done)
            EXPECT_TRUE(d.get_future().get().ok);
        EXPECT_EQ(parts_of(*db, identity_a), "identity-1|action-1|-");
    }
}

// What cluster mode's full reload does to the local copy: one batch deletes
// every identity key and writes them all again, some without their action.
TEST(store, one_batch_that_rewrites_thousands_of_identities_leaves_each_record_right)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    constexpr int count = 5000;
    auto id_of = [](int i) {
        std::string id = std::to_string(i);
        return std::string(16 - id.size(), '0') + id;
    };
    ASSERT_TRUE(write_and_wait(*db, [&](write_txn& txn) {
                    for (int i = 0; i < count; ++i) {
                        txn.put(column::identities, id_of(i), "old-" + std::to_string(i));
                        txn.put(column::actions, id_of(i), "action-" + std::to_string(i));
                    }
                    return true;
                }).ok);
    ASSERT_TRUE(write_unsynced_and_wait(*db, [&](write_txn& txn) {
                    for (int i = 0; i < count; ++i) {
                        txn.del(column::identities, id_of(i));
                        txn.del(column::actions, id_of(i));
                    }
                    for (int i = 0; i < count; i += 2) { // every other identity comes back
                        txn.put(column::identities, id_of(i), "new-" + std::to_string(i));
                        if (i % 4 == 0)
                            txn.put(column::actions, id_of(i), std::string(300, 'a')); // values that move the batch
                    }
                    return true;
                }).ok);
    for (int i = 0; i < count; ++i) {
        std::string expected = i % 2 != 0 ? "not found"
                               : "new-" + std::to_string(i) + "|" + (i % 4 == 0 ? std::string(300, 'a') : "-") + "|-";
        ASSERT_EQ(parts_of(*db, id_of(i)), expected) << i;
    }
}

TEST(store, a_data_dir_without_decision_records_gets_them_built_at_open)
{
    testing::temp_dir dir;
    const std::string identity_b(16, 'b');
    {
        auto db = open_store(dir.path());
        ASSERT_TRUE(write_and_wait(*db, [&](write_txn& txn) {
                        txn.put(column::identities, identity_a, "identity-a");
                        txn.put(column::actions, identity_a, "action-a");
                        txn.put(column::identities, identity_b, "identity-b");
                        txn.put(column::signing_keys, identity_b, "key-b");
                        return true;
                    }).ok);
        // What a data dir written before the column existed looks like: no
        // records and no marker.
        ASSERT_TRUE(write_and_wait(*db, [&](write_txn& txn) {
                        txn.del(column::decision_records, identity_a);
                        txn.del(column::decision_records, identity_b);
                        txn.del(column::meta, decision_records_marker);
                        return true;
                    }).ok);
        std::string value;
        ASSERT_EQ(db->get(column::decision_records, identity_a, value), read_result::not_found);
    }
    std::vector<std::string> logged;
    store_options options;
    options.on_log = [&logged](bool, std::string_view line) { logged.emplace_back(line); };
    auto db = open_store(dir.path(), options);
    EXPECT_EQ(parts_of(*db, identity_a), "identity-a|action-a|-");
    EXPECT_EQ(parts_of(*db, identity_b), "identity-b|-|key-b");
    std::string value;
    EXPECT_EQ(db->get(column::decision_records, identity_a, value), read_result::found);
    EXPECT_EQ(db->get(column::meta, decision_records_marker, value), read_result::found);
    bool said = false;
    for (const auto& line : logged)
        said = said || line.find("built the decision records of 2 identities") != std::string::npos;
    EXPECT_TRUE(said);
}

TEST(store, scan_visits_a_prefix_in_order_with_skip)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    ASSERT_TRUE(write_and_wait(*db, [](write_txn& txn) {
                    for (auto k : {"a1", "a2", "a3", "b1"})
                        txn.put(column::handles, k, k);
                    return true;
                }).ok);
    std::vector<std::string> keys;
    auto s = db->scan(column::handles, "a", 1, [&](std::string_view k, std::string_view) {
        keys.emplace_back(k);
        return true;
    });
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(keys, (std::vector<std::string>{"a2", "a3"}));
}

TEST(store, writes_after_close_fail_cleanly)
{
    testing::temp_dir dir;
    auto db = open_store(dir.path());
    db->close();
    auto s = write_and_wait(*db, [](write_txn&) { return true; });
    EXPECT_FALSE(s.ok);
}

} // namespace
} // namespace callgate::engine
