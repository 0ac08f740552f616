#include "callgate/net/etcd_client.hpp"

#include "callgate/testing/etcd_cluster.hpp"
#include "callgate/testing/temp_dir.hpp"
#include "callgate/testing/tls_files.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using callgate::net::etcd_client;
using callgate::net::etcd_client_options;
using callgate::net::etcd_compare;
using callgate::net::etcd_errc;
using callgate::net::etcd_event;
using callgate::net::etcd_op;
using callgate::net::etcd_range_request;
using callgate::net::etcd_txn_request;
using callgate::net::etcd_watch;
using callgate::net::etcd_watch_request;
using callgate::testing::etcd_cluster;
using callgate::testing::etcd_cluster_options;
using steady = std::chrono::steady_clock;

// Runs one client call on `ioc` (on this thread) until it completes; a
// watch's reader goes on in the background while later calls run.
template <class T>
T await(asio::io_context& ioc, asio::awaitable<T> op)
{
    auto done = asio::co_spawn(ioc, std::move(op), asio::use_future);
    ioc.restart();
    while (done.wait_for(0s) != std::future_status::ready)
        ioc.run_one();
    return done.get();
}

steady::time_point in(std::chrono::milliseconds ms) { return steady::now() + ms; }

// A URL where nothing listens: a port that was free a moment ago.
std::string dead_endpoint()
{
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
}

etcd_client_options options_for(std::vector<std::string> endpoints)
{
    etcd_client_options o;
    o.endpoints = std::move(endpoints);
    return o;
}

// One member shared by the tests of this suite; each test uses its own key prefix.
class EtcdSingle : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        etcd_cluster_options o;
        o.extra_args = {"--max-txn-ops=16"};
        cluster_ = std::make_unique<etcd_cluster>(o);
    }
    static void TearDownTestSuite() { cluster_.reset(); }

    std::string prefix() const
    {
        return std::string("/t/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
    }

    std::unique_ptr<etcd_client> make_client(etcd_client_options o = {})
    {
        if (o.endpoints.empty())
            o.endpoints = cluster_->client_urls();
        return std::make_unique<etcd_client>(std::move(o));
    }

    static std::unique_ptr<etcd_cluster> cluster_;
    asio::io_context ioc_;
};
std::unique_ptr<etcd_cluster> EtcdSingle::cluster_;

TEST_F(EtcdSingle, PutRangeDeleteWithBinaryKeysAndValues)
{
    auto client = make_client();
    std::string p = prefix();
    std::string binary_value("a\0b\xff\n\"", 6);
    auto put1 = await(ioc_, client->put(p + "a", binary_value));
    ASSERT_TRUE(put1.ok()) << put1.error.detail;
    auto put2 = await(ioc_, client->put(p + std::string("b\0\xff", 3), ""));
    ASSERT_TRUE(put2.ok()) << put2.error.detail;
    EXPECT_EQ(put2.value, put1.value + 1);
    auto put3 = await(ioc_, client->put(p + "a", "second"));
    ASSERT_TRUE(put3.ok());

    auto all = await(ioc_, client->range(etcd_range_request::with_prefix(p)));
    ASSERT_TRUE(all.ok()) << all.error.detail;
    ASSERT_EQ(all.value.kvs.size(), 2u);
    EXPECT_EQ(all.value.count, 2);
    EXPECT_FALSE(all.value.more);
    EXPECT_EQ(all.value.revision, put3.value);
    const auto& a = all.value.kvs[0];
    EXPECT_EQ(a.key, p + "a");
    EXPECT_EQ(a.value, "second");
    EXPECT_EQ(a.create_revision, put1.value);
    EXPECT_EQ(a.mod_revision, put3.value);
    EXPECT_EQ(a.version, 2);
    EXPECT_EQ(all.value.kvs[1].key, p + std::string("b\0\xff", 3));
    EXPECT_EQ(all.value.kvs[1].value, "");

    // An older revision, and a page of one.
    etcd_range_request old;
    old.key = p + "a";
    old.revision = put1.value;
    auto then = await(ioc_, client->range(old));
    ASSERT_TRUE(then.ok());
    ASSERT_EQ(then.value.kvs.size(), 1u);
    EXPECT_EQ(then.value.kvs[0].value, binary_value);
    auto page_request = etcd_range_request::with_prefix(p);
    page_request.limit = 1;
    auto page = await(ioc_, client->range(page_request));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page.value.kvs.size(), 1u);
    EXPECT_TRUE(page.value.more);
    EXPECT_EQ(page.value.count, 2);

    auto missing = await(ioc_, client->range({.key = p + "none"}));
    ASSERT_TRUE(missing.ok());
    EXPECT_TRUE(missing.value.kvs.empty());

    auto future = await(ioc_, client->range({.key = p + "a", .revision = put3.value + 1000}));
    EXPECT_EQ(future.error.code, etcd_errc::future_revision);

    auto removed = await(ioc_, client->delete_range(p, callgate::net::etcd_prefix_end(p)));
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(removed.value.deleted, 2);
    auto after = await(ioc_, client->range(etcd_range_request::with_prefix(p)));
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after.value.kvs.empty());
}

TEST_F(EtcdSingle, PrefixEnd)
{
    using callgate::net::etcd_prefix_end;
    EXPECT_EQ(etcd_prefix_end("/a/"), "/a0");
    EXPECT_EQ(etcd_prefix_end(std::string("a\xff\xff", 3)), "b");
    EXPECT_EQ(etcd_prefix_end(""), std::string(1, '\0'));
}

TEST_F(EtcdSingle, TxnCreateIfAbsentAndCompareOnModRevision)
{
    auto client = make_client();
    std::string p = prefix();
    auto create = [&] {
        etcd_txn_request t;
        t.compare = {etcd_compare::absent(p + "handle/alice")};
        t.success = {etcd_op::put(p + "handle/alice", "id-1"), etcd_op::put(p + "identity/id-1", "alice")};
        t.failure = {etcd_op::get({.key = p + "handle/alice"})};
        return t;
    };
    auto first = await(ioc_, client->txn(create()));
    ASSERT_TRUE(first.ok()) << first.error.detail;
    EXPECT_TRUE(first.value.succeeded);
    ASSERT_EQ(first.value.responses.size(), 2u);
    EXPECT_EQ(first.value.responses[0].what, etcd_op::kind::put);

    auto second = await(ioc_, client->txn(create()));
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(second.value.succeeded);
    ASSERT_EQ(second.value.responses.size(), 1u);
    ASSERT_EQ(second.value.responses[0].what, etcd_op::kind::range);
    ASSERT_EQ(second.value.responses[0].range.kvs.size(), 1u);
    EXPECT_EQ(second.value.responses[0].range.kvs[0].value, "id-1");
    EXPECT_EQ(second.value.responses[0].range.kvs[0].mod_revision, first.value.revision);

    // Replace only if unchanged since it was read; a stale revision fails.
    auto update = [&](std::int64_t seen) {
        etcd_txn_request t;
        t.compare = {etcd_compare::mod_revision(p + "identity/id-1", etcd_compare::result::equal, seen),
                     etcd_compare::value_is(p + "identity/id-1", etcd_compare::result::equal, "alice")};
        t.success = {etcd_op::put(p + "identity/id-1", "alice v2"), etcd_op::remove(p + "handle/alice"),
                     etcd_op::get({.key = p + "identity/id-1"})};
        return t;
    };
    auto stale = await(ioc_, client->txn(update(first.value.revision - 1)));
    ASSERT_TRUE(stale.ok());
    EXPECT_FALSE(stale.value.succeeded);
    EXPECT_TRUE(stale.value.responses.empty());
    auto fresh = await(ioc_, client->txn(update(first.value.revision)));
    ASSERT_TRUE(fresh.ok()) << fresh.error.detail;
    EXPECT_TRUE(fresh.value.succeeded);
    ASSERT_EQ(fresh.value.responses.size(), 3u);
    EXPECT_EQ(fresh.value.responses[1].what, etcd_op::kind::delete_range);
    EXPECT_EQ(fresh.value.responses[1].deleted, 1);
    ASSERT_EQ(fresh.value.responses[2].range.kvs.size(), 1u);
    EXPECT_EQ(fresh.value.responses[2].range.kvs[0].value, "alice v2");
    EXPECT_EQ(fresh.value.revision, first.value.revision + 1);

    // A whole-range delete in a transaction, with a version compare.
    etcd_txn_request wipe;
    wipe.compare = {etcd_compare::version(p + "identity/id-1", etcd_compare::result::greater, 1)};
    wipe.success = {etcd_op::remove(p, callgate::net::etcd_prefix_end(p))};
    auto wiped = await(ioc_, client->txn(wipe));
    ASSERT_TRUE(wiped.ok());
    EXPECT_TRUE(wiped.value.succeeded);
    EXPECT_EQ(wiped.value.responses[0].deleted, 1);
}

TEST_F(EtcdSingle, TxnOverMaxOpsIsTooManyOps)
{
    auto client = make_client();
    etcd_txn_request t;
    for (int i = 0; i < 17; ++i)
        t.success.push_back(etcd_op::put(prefix() + std::to_string(i), "x"));
    auto r = await(ioc_, client->txn(t));
    EXPECT_EQ(r.error.code, etcd_errc::too_many_ops) << r.error.detail;
    auto nothing = await(ioc_, client->range(etcd_range_request::with_prefix(prefix())));
    ASSERT_TRUE(nothing.ok());
    EXPECT_EQ(nothing.value.count, 0);
}

TEST_F(EtcdSingle, ReplyOverTheCapIsReplyTooLarge)
{
    etcd_client_options o;
    o.max_range_reply = 4096;
    auto client = make_client(o);
    auto put = await(ioc_, client->put(prefix() + "big", std::string(8192, 'v')));
    ASSERT_TRUE(put.ok());
    auto r = await(ioc_, client->range({.key = prefix() + "big"}));
    EXPECT_EQ(r.error.code, etcd_errc::reply_too_large);
    auto small = await(ioc_, client->range({.key = prefix() + "big", .keys_only = true}));
    EXPECT_TRUE(small.ok()) << small.error.detail;
}

TEST_F(EtcdSingle, WatchStreamsEventsInOrderAndResumes)
{
    auto client = make_client();
    std::string p = prefix();
    auto base = await(ioc_, client->put(p + "k0", "v0"));
    ASSERT_TRUE(base.ok());

    // History first: the watch starts at a past revision.
    auto opened = await(ioc_, client->watch({.key = p, .range_end = callgate::net::etcd_prefix_end(p),
                                              .start_revision = base.value}));
    ASSERT_TRUE(opened.ok()) << opened.error.detail;
    etcd_watch w = std::move(opened.value);
    EXPECT_EQ(w.resume_revision(), base.value);

    ASSERT_TRUE(await(ioc_, client->put(p + "k1", "v1")).ok());
    etcd_txn_request t; // two events at one revision
    t.success = {etcd_op::put(p + "k2", "v2"), etcd_op::remove(p + "k0")};
    ASSERT_TRUE(await(ioc_, client->txn(t)).ok());
    ASSERT_TRUE(await(ioc_, client->put("/elsewhere", "not watched")).ok());
    auto last = await(ioc_, client->put(p + "k1", "v1b"));
    ASSERT_TRUE(last.ok());

    std::vector<etcd_event> seen;
    auto deadline = in(10s);
    while (seen.size() < 5) {
        auto batch = await(ioc_, w.next(deadline));
        ASSERT_TRUE(batch.ok()) << batch.error.detail;
        for (auto& e : batch.value.events)
            seen.push_back(e);
    }
    ASSERT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen[0].kv.key, p + "k0");
    EXPECT_EQ(seen[0].kv.mod_revision, base.value);
    EXPECT_EQ(seen[1].kv.key, p + "k1");
    EXPECT_EQ(seen[1].kv.value, "v1");
    EXPECT_EQ(seen[2].kv.key, p + "k2");
    EXPECT_EQ(seen[3].what, etcd_event::kind::remove);
    EXPECT_EQ(seen[3].kv.key, p + "k0");
    EXPECT_EQ(seen[3].kv.mod_revision, seen[2].kv.mod_revision);
    EXPECT_EQ(seen[4].kv.value, "v1b");
    EXPECT_EQ(seen[4].kv.version, 2);
    for (std::size_t i = 1; i < seen.size(); ++i)
        EXPECT_LE(seen[i - 1].kv.mod_revision, seen[i].kv.mod_revision);
    EXPECT_EQ(w.resume_revision(), last.value + 1);

    // Nothing more: next() times out and the watch goes on.
    auto idle = await(ioc_, w.next(in(100ms)));
    EXPECT_EQ(idle.error.code, etcd_errc::timeout);
    auto more = await(ioc_, client->put(p + "k3", "v3"));
    ASSERT_TRUE(more.ok());
    auto batch = await(ioc_, w.next(in(10s)));
    ASSERT_TRUE(batch.ok()) << batch.error.detail;
    ASSERT_EQ(batch.value.events.size(), 1u);
    EXPECT_EQ(batch.value.events[0].kv.key, p + "k3");

    // Resume elsewhere from resume_revision(): exactly what came after.
    auto resume_at = w.resume_revision();
    w.cancel();
    ASSERT_TRUE(await(ioc_, client->put(p + "k4", "v4")).ok());
    auto resumed = await(ioc_, client->watch({.key = p, .range_end = callgate::net::etcd_prefix_end(p),
                                               .start_revision = resume_at}));
    ASSERT_TRUE(resumed.ok());
    auto next = await(ioc_, resumed.value.next(in(10s)));
    ASSERT_TRUE(next.ok()) << next.error.detail;
    ASSERT_EQ(next.value.events.size(), 1u);
    EXPECT_EQ(next.value.events[0].kv.key, p + "k4");
}

TEST_F(EtcdSingle, WatchCancelWakesAWaitingNext)
{
    auto client = make_client();
    auto opened = await(ioc_, client->watch({.key = prefix() + "x"}));
    ASSERT_TRUE(opened.ok()) << opened.error.detail;
    etcd_watch w = std::move(opened.value);
    auto waiting = asio::co_spawn(ioc_, w.next(in(30s)), asio::use_future);
    ioc_.restart();
    ioc_.poll(); // next() is now waiting
    auto started = steady::now();
    w.cancel();
    while (waiting.wait_for(0s) != std::future_status::ready)
        ioc_.run_one();
    EXPECT_EQ(waiting.get().error.code, etcd_errc::cancelled);
    EXPECT_LT(steady::now() - started, 1s);
    EXPECT_EQ(await(ioc_, w.next(in(1s))).error.code, etcd_errc::cancelled);
}

TEST_F(EtcdSingle, WatchFromACompactedRevisionReportsCompactRevision)
{
    auto client = make_client();
    std::string p = prefix();
    auto first = await(ioc_, client->put(p + "a", "1"));
    ASSERT_TRUE(first.ok());
    auto second = await(ioc_, client->put(p + "a", "2"));
    ASSERT_TRUE(second.ok());
    auto compacted = await(ioc_, client->compact(second.value));
    ASSERT_TRUE(compacted.ok()) << compacted.error.detail;

    auto old = await(ioc_, client->range({.key = p + "a", .revision = first.value}));
    EXPECT_EQ(old.error.code, etcd_errc::compacted);

    auto opened = await(ioc_, client->watch({.key = p + "a", .start_revision = first.value}));
    ASSERT_TRUE(opened.ok()) << opened.error.detail;
    auto batch = await(ioc_, opened.value.next(in(10s)));
    EXPECT_EQ(batch.error.code, etcd_errc::compacted) << batch.error.detail;
    EXPECT_EQ(batch.value.compact_revision, second.value);
    // The watch is over; it says so again.
    EXPECT_EQ(await(ioc_, opened.value.next(in(1s))).error.code, etcd_errc::compacted);

    // From the compact revision on, history is there.
    auto fresh = await(ioc_, client->watch({.key = p + "a", .start_revision = second.value}));
    ASSERT_TRUE(fresh.ok());
    auto events = await(ioc_, fresh.value.next(in(10s)));
    ASSERT_TRUE(events.ok()) << events.error.detail;
    ASSERT_EQ(events.value.events.size(), 1u);
    EXPECT_EQ(events.value.events[0].kv.value, "2");
}

TEST_F(EtcdSingle, LeaseGrantKeepAliveRevokeAndExpiry)
{
    auto client = make_client();
    std::string p = prefix();
    auto lease = await(ioc_, client->lease_grant(30));
    ASSERT_TRUE(lease.ok()) << lease.error.detail;
    EXPECT_NE(lease.value.id, 0);
    EXPECT_EQ(lease.value.ttl, 30);
    ASSERT_TRUE(await(ioc_, client->put(p + "node", "alive", lease.value.id)).ok());
    auto kept = await(ioc_, client->lease_keepalive(lease.value.id));
    ASSERT_TRUE(kept.ok()) << kept.error.detail;
    EXPECT_EQ(kept.value.id, lease.value.id);
    EXPECT_EQ(kept.value.ttl, 30);
    auto node = await(ioc_, client->range({.key = p + "node"}));
    ASSERT_TRUE(node.ok());
    ASSERT_EQ(node.value.kvs.size(), 1u);
    EXPECT_EQ(node.value.kvs[0].lease, lease.value.id);

    ASSERT_TRUE(await(ioc_, client->lease_revoke(lease.value.id)).ok());
    auto gone = await(ioc_, client->range({.key = p + "node"}));
    ASSERT_TRUE(gone.ok());
    EXPECT_TRUE(gone.value.kvs.empty());
    EXPECT_EQ(await(ioc_, client->lease_revoke(lease.value.id)).error.code, etcd_errc::lease_not_found);
    EXPECT_EQ(await(ioc_, client->lease_keepalive(lease.value.id)).error.code, etcd_errc::lease_not_found);

    // A short lease left alone expires: its key's deletion is watched, not slept for.
    auto brief = await(ioc_, client->lease_grant(1));
    ASSERT_TRUE(brief.ok());
    auto put = await(ioc_, client->put(p + "brief", "x", brief.value.id));
    ASSERT_TRUE(put.ok());
    auto opened = await(ioc_, client->watch({.key = p + "brief", .start_revision = put.value + 1}));
    ASSERT_TRUE(opened.ok());
    auto batch = await(ioc_, opened.value.next(in(15s)));
    ASSERT_TRUE(batch.ok()) << batch.error.detail;
    ASSERT_EQ(batch.value.events.size(), 1u);
    EXPECT_EQ(batch.value.events[0].what, etcd_event::kind::remove);
    EXPECT_EQ(await(ioc_, client->lease_keepalive(brief.value.id)).error.code, etcd_errc::lease_not_found);
}

TEST_F(EtcdSingle, StatusNamesTheMemberAndItsLeader)
{
    auto client = make_client();
    auto s = await(ioc_, client->status());
    ASSERT_TRUE(s.ok()) << s.error.detail;
    EXPECT_TRUE(s.value.is_leader());
    EXPECT_EQ(s.value.endpoint, cluster_->client_url(0));
    EXPECT_GT(s.value.revision, 0);
    EXPECT_EQ(s.value.version.rfind("3.", 0), 0u);
    auto named = await(ioc_, client->status(cluster_->client_url(0)));
    ASSERT_TRUE(named.ok());
    EXPECT_EQ(named.value.member_id, s.value.member_id);
    EXPECT_EQ(await(ioc_, client->status("http://elsewhere:1")).error.code, etcd_errc::rejected);
}

TEST_F(EtcdSingle, DeadFirstEndpointIsSkippedAndTheGoodOneRemembered)
{
    std::map<std::string, int> counts;
    auto o = options_for({dead_endpoint(), cluster_->client_url(0)});
    o.on_request = [&](std::string_view op, etcd_errc outcome) {
        ++counts[std::string(op) + "/" + std::string(to_string(outcome))];
    };
    auto client = make_client(o);
    auto put = await(ioc_, client->put(prefix() + "k", "v"));
    ASSERT_TRUE(put.ok()) << put.error.detail;
    EXPECT_EQ(client->preferred_endpoint(), cluster_->client_url(0));
    ASSERT_TRUE(await(ioc_, client->range({.key = prefix() + "k"})).ok());
    EXPECT_EQ(counts["put/ok"], 1);
    EXPECT_EQ(counts["range/ok"], 1);
}

TEST_F(EtcdSingle, NoMemberReachableIsUnavailableAtOnce)
{
    std::map<std::string, int> counts;
    auto o = options_for({dead_endpoint(), dead_endpoint()});
    o.on_request = [&](std::string_view op, etcd_errc outcome) {
        ++counts[std::string(op) + "/" + std::string(to_string(outcome))];
    };
    auto client = make_client(o);
    auto started = steady::now();
    auto put = await(ioc_, client->put(prefix() + "k", "v", 0, in(2s)));
    EXPECT_EQ(put.error.code, etcd_errc::unavailable);
    EXPECT_LT(steady::now() - started, 2s);
    EXPECT_EQ(await(ioc_, client->watch({.key = "k"})).error.code, etcd_errc::unavailable);
    EXPECT_EQ(counts["put/unavailable"], 1);
    EXPECT_EQ(counts["watch/unavailable"], 1);
}

TEST_F(EtcdSingle, HungMemberWriteIsUnknownOutcomeAndReadIsUnavailableByTheDeadline)
{
    auto client = make_client();
    ASSERT_TRUE(await(ioc_, client->put(prefix() + "k", "before")).ok()); // a pooled connection
    cluster_->pause(0);
    auto started = steady::now();
    auto put = await(ioc_, client->put(prefix() + "k", "maybe", 0, in(500ms)));
    auto put_took = steady::now() - started;
    started = steady::now();
    auto read = await(ioc_, client->range({.key = prefix() + "k"}, in(500ms)));
    auto read_took = steady::now() - started;
    cluster_->resume(0);
    EXPECT_EQ(put.error.code, etcd_errc::unknown_outcome) << put.error.detail;
    EXPECT_LT(put_took, 1500ms);
    EXPECT_EQ(read.error.code, etcd_errc::unavailable) << read.error.detail;
    EXPECT_LT(read_took, 1500ms);
    // Whether the write took effect is unknown indeed: either value may be there.
    auto after = await(ioc_, client->range({.key = prefix() + "k"}, in(10s)));
    ASSERT_TRUE(after.ok()) << after.error.detail;
    ASSERT_EQ(after.value.kvs.size(), 1u);
    EXPECT_TRUE(after.value.kvs[0].value == "maybe" || after.value.kvs[0].value == "before");
}

TEST(EtcdClientOptions, BadEndpointsAreRefusedAtConstruction)
{
    EXPECT_THROW(etcd_client(options_for({})), std::invalid_argument);
    EXPECT_THROW(etcd_client(options_for({"ftp://127.0.0.1:1"})), std::invalid_argument);
    EXPECT_THROW(etcd_client(options_for({"http://127.0.0.1:1/v3"})), std::invalid_argument);
    auto o = options_for({"https://127.0.0.1:1"});
    o.ca_file = "/nonexistent/ca.pem";
    EXPECT_THROW(etcd_client{o}, std::runtime_error);
}

// ---- three members ----

class EtcdCluster : public ::testing::Test {
protected:
    void SetUp() override { cluster_ = std::make_unique<etcd_cluster>(etcd_cluster_options{.members = 3}); }
    std::unique_ptr<etcd_cluster> cluster_;
    asio::io_context ioc_;
};

TEST_F(EtcdCluster, WritesGoOnWhenTheLeaderIsKilledAndStopWithoutQuorum)
{
    int leader = cluster_->leader();
    ASSERT_GE(leader, 0);
    // The leader first in the list, so the client starts with it.
    auto urls = cluster_->client_urls();
    std::rotate(urls.begin(), urls.begin() + leader, urls.end());
    etcd_client client(options_for(urls));
    auto base = await(ioc_, client.put("/c/k", "0"));
    ASSERT_TRUE(base.ok()) << base.error.detail;
    EXPECT_EQ(client.preferred_endpoint(), cluster_->client_url(leader));

    // A watch on a follower, to see it survive a leader change.
    int follower = (leader + 1) % 3;
    etcd_client follower_client(options_for({cluster_->client_url(follower)}));
    auto opened = await(ioc_, follower_client.watch({.key = "/c/k", .start_revision = base.value + 1}));
    ASSERT_TRUE(opened.ok()) << opened.error.detail;

    cluster_->kill(leader);
    // Within a few seconds a new leader is elected and a write succeeds (each
    // try bounded by its own 2 s deadline).
    etcd_errc last = etcd_errc::unavailable;
    std::int64_t written = 0;
    auto give_up = in(15s);
    while (steady::now() < give_up) {
        auto put = await(ioc_, client.put("/c/k", "1", 0, in(2s)));
        last = put.error.code;
        if (put.ok()) {
            written = put.value;
            break;
        }
        // "unknown" when a follower forwarded the write to the dead leader
        // before it noticed the loss.
        ASSERT_TRUE(last == etcd_errc::unavailable || last == etcd_errc::unknown_outcome) << put.error.detail;
    }
    ASSERT_EQ(last, etcd_errc::ok);
    EXPECT_NE(client.preferred_endpoint(), cluster_->client_url(leader));
    auto batch = await(ioc_, opened.value.next(in(10s)));
    ASSERT_TRUE(batch.ok()) << batch.error.detail;
    ASSERT_EQ(batch.value.events.size(), 1u);
    EXPECT_EQ(batch.value.events[0].kv.mod_revision, written);

    // Two of three gone: no quorum. A write fails within its deadline.
    cluster_->kill(follower);
    auto started = steady::now();
    auto put = await(ioc_, client.put("/c/k", "2", 0, in(2s)));
    EXPECT_TRUE(put.error.code == etcd_errc::unavailable || put.error.code == etcd_errc::unknown_outcome)
        << to_string(put.error.code) << ": " << put.error.detail;
    EXPECT_LT(steady::now() - started, 2500ms);
    auto read = await(ioc_, client.range({.key = "/c/k"}, in(2s)));
    EXPECT_EQ(read.error.code, etcd_errc::unavailable) << read.error.detail;
    // The follower's watch stream broke with its member.
    auto broken = await(ioc_, opened.value.next(in(10s)));
    EXPECT_EQ(broken.error.code, etcd_errc::unavailable) << broken.error.detail;
    EXPECT_EQ(opened.value.resume_revision(), written + 1);

    // All gone: unavailable at once.
    for (std::size_t i = 0; i < 3; ++i)
        cluster_->kill(i);
    started = steady::now();
    EXPECT_EQ(await(ioc_, client.put("/c/k", "3", 0, in(2s))).error.code, etcd_errc::unavailable);
    EXPECT_LT(steady::now() - started, 2s);
}

TEST_F(EtcdCluster, AWatchResumesOnAnotherMemberWithoutLossOrRepeats)
{
    etcd_client client(options_for(cluster_->client_urls()));
    auto first = await(ioc_, client.put("/w/a", "1"));
    ASSERT_TRUE(first.ok()) << first.error.detail;
    // Pin the watch to member 0 by giving that client only member 0.
    etcd_client pinned(options_for({cluster_->client_url(0)}));
    auto opened = await(ioc_, pinned.watch({.key = "/w/", .range_end = "/w0", .start_revision = first.value}));
    ASSERT_TRUE(opened.ok()) << opened.error.detail;
    auto batch = await(ioc_, opened.value.next(in(10s)));
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch.value.events.size(), 1u);

    cluster_->kill(0);
    auto broken = await(ioc_, opened.value.next(in(10s)));
    EXPECT_EQ(broken.error.code, etcd_errc::unavailable);
    auto resume_at = opened.value.resume_revision();
    EXPECT_EQ(resume_at, first.value + 1);

    // Writes while no watch runs; then the watch resumes on a live member.
    std::int64_t last = 0;
    auto give_up = in(15s);
    while (last == 0 && steady::now() < give_up) {
        auto put = await(ioc_, client.put("/w/b", "2", 0, in(2s)));
        if (put.ok())
            last = put.value;
    }
    ASSERT_NE(last, 0);
    auto resumed = await(ioc_, client.watch({.key = "/w/", .range_end = "/w0", .start_revision = resume_at}));
    ASSERT_TRUE(resumed.ok()) << resumed.error.detail;
    EXPECT_NE(resumed.value.endpoint(), cluster_->client_url(0));
    auto next = await(ioc_, resumed.value.next(in(10s)));
    ASSERT_TRUE(next.ok()) << next.error.detail;
    ASSERT_EQ(next.value.events.size(), 1u);
    EXPECT_EQ(next.value.events[0].kv.key, "/w/b");
    EXPECT_EQ(next.value.events[0].kv.mod_revision, last);
}

// ---- TLS and authentication ----

class EtcdTls : public ::testing::Test {
protected:
    void SetUp() override
    {
        pki_ = callgate::testing::make_test_pki(dir_.path());
        etcd_cluster_options o;
        o.tls = callgate::testing::etcd_tls{.ca_file = pki_.ca_cert,
                                            .cert_file = pki_.server_cert,
                                            .key_file = pki_.server_key,
                                            .client_cert_auth = true,
                                            .client_cert_file = pki_.client_cert,
                                            .client_key_file = pki_.client_key};
        cluster_ = std::make_unique<etcd_cluster>(o);
    }

    etcd_client_options tls_options(std::string host = "127.0.0.1")
    {
        auto url = cluster_->client_url(0);
        url.replace(url.find("127.0.0.1"), 9, host);
        auto o = options_for({url});
        o.ca_file = pki_.ca_cert;
        o.cert_file = pki_.client_cert;
        o.key_file = pki_.client_key;
        return o;
    }

    callgate::testing::temp_dir dir_;
    callgate::testing::test_pki pki_;
    std::unique_ptr<etcd_cluster> cluster_;
    asio::io_context ioc_;
};

TEST_F(EtcdTls, ClientCertificateIsAcceptedAndItsAbsenceRefused)
{
    for (std::string host : {"127.0.0.1", "localhost"}) {
        etcd_client client(tls_options(host));
        auto put = await(ioc_, client.put("/tls/" + host, "v"));
        ASSERT_TRUE(put.ok()) << host << ": " << put.error.detail;
        auto watch = await(ioc_, client.watch({.key = "/tls/" + host, .start_revision = put.value}));
        ASSERT_TRUE(watch.ok()) << watch.error.detail;
        auto batch = await(ioc_, watch.value.next(in(10s)));
        ASSERT_TRUE(batch.ok()) << batch.error.detail;
        EXPECT_EQ(batch.value.events.size(), 1u);
    }

    auto without = tls_options();
    without.cert_file.clear();
    without.key_file.clear();
    etcd_client refused(without);
    auto r = await(ioc_, refused.range({.key = "/tls/127.0.0.1"}));
    EXPECT_EQ(r.error.code, etcd_errc::unavailable) << r.error.detail;
    // Refused by TLS (with TLS 1.3, after the client sent its request): never applied.
    auto p = await(ioc_, refused.put("/tls/127.0.0.1", "no"));
    EXPECT_EQ(p.error.code, etcd_errc::unavailable) << p.error.detail;

    // A server certificate not signed by the trusted CA is refused.
    callgate::testing::temp_dir other;
    auto other_pki = callgate::testing::make_test_pki(other.path());
    auto untrusted = tls_options();
    untrusted.ca_file = other_pki.ca_cert;
    etcd_client wary(untrusted);
    auto w = await(ioc_, wary.range({.key = "/tls/127.0.0.1"}));
    EXPECT_EQ(w.error.code, etcd_errc::unavailable);
    EXPECT_NE(w.error.detail.find("TLS"), std::string::npos) << w.error.detail;
}

TEST(EtcdAuth, UserAndPasswordWithReauthenticationWhenTheTokenGoesStale)
{
    asio::io_context ioc_;
    etcd_cluster auth_cluster;
    std::string out;
    ASSERT_EQ(auth_cluster.etcdctl({"user", "add", "root:rootpw"}, out), 0) << out;
    ASSERT_EQ(auth_cluster.etcdctl({"user", "add", "app:apppw"}, out), 0) << out;
    ASSERT_EQ(auth_cluster.etcdctl({"role", "add", "app"}, out), 0) << out;
    ASSERT_EQ(auth_cluster.etcdctl({"role", "grant-permission", "app", "--prefix=true", "readwrite", "/app/"}, out), 0)
        << out;
    ASSERT_EQ(auth_cluster.etcdctl({"user", "grant-role", "app", "app"}, out), 0) << out;
    ASSERT_EQ(auth_cluster.etcdctl({"auth", "enable"}, out), 0) << out;

    auto o = options_for(auth_cluster.client_urls());
    o.username = "app";
    o.password = "apppw";
    etcd_client client(o);
    auto put = await(ioc_, client.put("/app/k", "v"));
    ASSERT_TRUE(put.ok()) << put.error.detail;
    auto watch = await(ioc_, client.watch({.key = "/app/k", .start_revision = put.value}));
    ASSERT_TRUE(watch.ok()) << watch.error.detail;
    EXPECT_EQ(await(ioc_, client.put("/other/k", "v")).error.code, etcd_errc::permission_denied);

    // Turning auth off and on drops every token etcd issued: the old one is
    // refused ("invalid auth token") and the client authenticates again by itself.
    ASSERT_EQ(auth_cluster.etcdctl({"auth", "disable"}, out, "root:rootpw"), 0) << out;
    ASSERT_EQ(auth_cluster.etcdctl({"auth", "enable"}, out), 0) << out;
    auto again = await(ioc_, client.put("/app/k", "v2"));
    ASSERT_TRUE(again.ok()) << again.error.detail;

    auto wrong = o;
    wrong.password = "nope";
    etcd_client intruder(wrong);
    EXPECT_EQ(await(ioc_, intruder.range({.key = "/app/k"})).error.code, etcd_errc::auth_failed);
    etcd_client anonymous(options_for(auth_cluster.client_urls()));
    EXPECT_EQ(await(ioc_, anonymous.range({.key = "/app/k"})).error.code, etcd_errc::auth_failed);
    EXPECT_EQ(await(ioc_, anonymous.watch({.key = "/app/k"})).error.code, etcd_errc::auth_failed);
}

TEST_F(EtcdSingle, CredentialsWhenAuthIsOffAreHarmless)
{
    auto o = options_for(cluster_->client_urls());
    o.username = "someone";
    o.password = "secret";
    auto client = make_client(o);
    EXPECT_TRUE(await(ioc_, client->put(prefix() + "k", "v")).ok());
    EXPECT_TRUE(await(ioc_, client->range({.key = prefix() + "k"})).ok());
}

} // namespace
