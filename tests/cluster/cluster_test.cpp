// Cluster mode against real etcd members and real callgate nodes on loopback:
// three etcd members and three callgate binaries sharing one prefix.
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/uuid.hpp"
#include "callgate/testing/etcd_cluster.hpp"
#include "callgate/testing/eventually.hpp"
#include "callgate/testing/http_client.hpp"
#include "callgate/testing/server_process.hpp"
#include "callgate/testing/temp_dir.hpp"
#include "callgate/testing/time_scale.hpp"
#include "callgate/testing/tls_files.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr const char* admin = "cg_test_admin_key_0123456789abcdef";
constexpr const char* edge_token = "et_cluster_test_token_0123456789";

std::string field(const std::string& body, const std::string& key)
{
    engine::json_object doc;
    if (doc.parse(body) != engine::json_parse_error::ok)
        return "<not JSON>";
    const auto* f = doc.find(key);
    if (f == nullptr)
        return "<absent>";
    return f->type == engine::json_type::null ? "<null>" : f->text;
}

std::size_t count_of(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// The "id" of the first item of a {"items": [...]} reply.
std::string first_id(const std::string& body)
{
    std::smatch m;
    return std::regex_search(body, m, std::regex("\\{\"id\":\"([0-9a-f-]+)\"")) ? std::string(m[1]) : "<none>";
}

// One callgate node of the cluster under test.
struct node {
    std::string name;
    std::unique_ptr<server_process> process;
    std::string key = admin; // the admin key its API calls use

    http_reply api(const std::string& method, const std::string& target, const std::string& body = {},
                   std::chrono::milliseconds timeout = 15s) const
    {
        http_connection c(process->api_address());
        header_list h{{"X-API-Key", key}};
        if (!body.empty())
            h.emplace_back("Content-Type", "application/json");
        return c.request(method, target, h, body, timeout);
    }
    http_reply decide_number(const std::string& number) const
    {
        http_connection c(process->edge_address());
        return c.request("POST", "/v1/calls/decide", {{"X-Edge-Token", edge_token}, {"Content-Type", "application/json"}},
                         "{\"local_phone_number\":\"" + number + "\",\"remote_phone_number\":\"+15550199\"}");
    }
    http_reply readyz() const
    {
        http_connection c(process->api_address());
        return c.request("GET", "/readyz", {}, {}, scaled(5s));
    }
};

class cluster_mode : public ::testing::Test {
protected:
    // What a fixture changes: etcd's options, the nodes' extra flags, and
    // whether every node gets CALLGATE_ADMIN_KEY.
    virtual etcd_cluster_options etcd_options() { return {.members = 3}; }
    virtual std::vector<std::string> node_args() { return {}; }
    virtual bool shared_admin_key() const { return true; }

    void SetUp() override
    {
        etcd_ = std::make_unique<etcd_cluster>(etcd_options());
        std::ofstream(dir_.path() + "/edge.token") << edge_token << "\n";
        for (int i = 0; i < 3; ++i)
            nodes_.push_back(make_node("node" + std::to_string(i)));
        for (auto& n : nodes_) {
            ASSERT_TRUE(n.process->start()) << n.process->log();
            ASSERT_TRUE(wait_ready(n)) << n.process->log();
        }
    }

    void TearDown() override
    {
        for (auto& n : nodes_)
            if (n.process && n.process->running())
                EXPECT_EQ(n.process->stop(SIGTERM), 0) << n.process->log();
    }

    node make_node(const std::string& name)
    {
        std::vector<std::string> args{"--etcd-endpoints", endpoints(),       "--etcd-prefix",    "/test/",
                                      "--node-name",      name,            "--edge-token-file", dir_.path() + "/edge.token"};
        for (auto& a : node_args())
            args.push_back(a);
        std::map<std::string, std::string> env;
        if (shared_admin_key())
            env["CALLGATE_ADMIN_KEY"] = admin;
        return node{name, std::make_unique<server_process>(dir_.path() + "/" + name, args, env)};
    }

    static bool wait_ready(const node& n, std::chrono::milliseconds deadline = 20s)
    {
        return eventually([&] { return n.readyz().status == 200; }, deadline);
    }

    // Creates an identity on node `on`; returns its id.
    std::string create_identity(std::size_t on, const std::string& handle, const std::string& phone)
    {
        auto r = nodes_[on].api("POST", "/identities",
                                "{\"agent_handle\":\"" + handle + "\",\"phone_number\":\"" + phone + "\"}");
        EXPECT_EQ(r.status, 201) << r.body;
        return field(r.body, "id");
    }

    static std::string accept_body(const std::string& id, const std::string& url)
    {
        return "{\"agent_identity_id\":\"" + id + "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"" +
               url + "\"}";
    }

    std::string endpoints() const
    {
        std::string out;
        for (const auto& url : etcd_->client_urls())
            out += (out.empty() ? "" : ",") + url;
        return out;
    }

    // The etcd revision now, read with etcdctl.
    std::int64_t etcd_revision()
    {
        std::string out;
        EXPECT_EQ(etcd_->etcdctl({"get", "/test/", "--prefix", "--keys-only", "-w", "json"}, out), 0) << out;
        std::smatch m;
        std::regex re("\"revision\":([0-9]+)");
        return std::regex_search(out, m, re) ? std::stoll(m[1]) : 0;
    }

    temp_dir dir_;
    std::unique_ptr<etcd_cluster> etcd_;
    std::vector<node> nodes_;
};

TEST_F(cluster_mode, a_write_on_one_node_is_read_and_decided_on_every_node)
{
    auto id = create_identity(0, "sales-bot", "+15550100");
    // Read-your-writes on the node that took the write: no waiting.
    auto put = nodes_[1].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/v1"));
    ASSERT_EQ(put.status, 200) << put.body;
    auto mine = nodes_[1].decide_number("+15550100");
    ASSERT_EQ(mine.status, 200) << mine.body;
    EXPECT_EQ(field(mine.body, "client_websocket_url"), "wss://agent.example.com/v1") << mine.body;
    // Every other node: through its watch, within moments.
    for (auto& n : nodes_) {
        EXPECT_TRUE(eventually([&] {
            return field(n.decide_number("+15550100").body, "client_websocket_url") == "wss://agent.example.com/v1";
        }, scaled(5s))) << n.name;
        auto got = n.api("GET", "/incoming-call-action?agent_identity_id=" + id);
        EXPECT_EQ(got.status, 200) << got.body;
        EXPECT_EQ(field(got.body, "client_websocket_url"), "wss://agent.example.com/v1") << n.name;
        auto list = n.api("GET", "/identities");
        EXPECT_NE(list.body.find("\"total\":1"), std::string::npos) << n.name << ": " << list.body;
    }

    // A scoped key minted on one node works on another; deleting its identity
    // on a third revokes it everywhere.
    auto minted = nodes_[0].api("POST", "/api-keys", "{\"label\":\"k\",\"scoped_identity_id\":\"" + id + "\"}");
    ASSERT_EQ(minted.status, 201) << minted.body;
    auto key = field(minted.body, "api_key");
    auto with_key = [&](const node& n) {
        http_connection c(n.process->api_address());
        return c.request("GET", "/incoming-call-action?agent_identity_id=" + id, {{"X-API-Key", key}}).status;
    };
    EXPECT_TRUE(eventually([&] { return with_key(nodes_[1]) == 200; }, scaled(5s)));
    // Inkbox's organization_id: asked of every node at once before any node
    // made one, every node answers the same id (one create-if-absent wins).
    std::vector<std::string> organizations(nodes_.size());
    {
        std::vector<std::thread> askers;
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            askers.emplace_back([&, i] {
                organizations[i] = field(nodes_[i].api("GET", "/api/v1/identities/sales-bot").body, "organization_id");
            });
        for (auto& t : askers)
            t.join();
    }
    EXPECT_TRUE(engine::uuid::parse(organizations[0])) << organizations[0];
    for (const auto& o : organizations)
        EXPECT_EQ(o, organizations[0]);

    auto deleted = nodes_[2].api("DELETE", "/identities/sales-bot");
    EXPECT_EQ(deleted.status, 204) << deleted.body;
    for (auto& n : nodes_) {
        EXPECT_TRUE(eventually([&] { return with_key(n) == 401; }, scaled(5s))) << n.name;
        EXPECT_TRUE(eventually([&] { return field(n.decide_number("+15550100").body, "reason") == "unknown_number"; }, scaled(5s)))
            << n.name << ": " << n.decide_number("+15550100").body;
    }
}

TEST_F(cluster_mode, nodes_are_listed_and_call_records_are_merged_across_live_nodes)
{
    // Every node registers itself, and sees the others within a second or so.
    std::string body;
    for (auto& n : nodes_)
        EXPECT_TRUE(eventually([&] {
            body = n.api("GET", "/cluster/nodes").body;
            return count_of(body, "\"name\":") == 3;
        }, scaled(10s))) << body;
    for (auto& n : nodes_) {
        EXPECT_NE(body.find("\"name\":\"" + n.name + "\",\"api_url\":\"http://" + n.process->api_address() + "\""),
                  std::string::npos)
            << body;
    }
    EXPECT_NE(body.find("\"applied_revision\":"), std::string::npos);
    EXPECT_NE(body.find("\"last_seen\":\"20"), std::string::npos);

    // One call decided on each node, in order.
    create_identity(0, "calls-bot", "+15550800");
    std::vector<std::string> call_ids;
    for (auto& n : nodes_) {
        ASSERT_TRUE(eventually([&] { return n.decide_number("+15550800").status == 200; }, scaled(5s)));
    }
    // The three decisions above (one per node) plus those eventually() made: take them from each node alone.
    std::size_t total = 0;
    for (auto& n : nodes_) {
        http_connection c(n.process->api_address());
        auto own = c.request("GET", "/calls?limit=200", {{"X-API-Key", admin}, {"X-Callgate-Forwarded", "1"}});
        ASSERT_EQ(own.status, 200) << own.body;
        total += count_of(own.body, "\"agent_identity_id\":");
        call_ids.push_back(first_id(own.body));
    }
    auto merged = nodes_[1].api("GET", "/calls?limit=200");
    ASSERT_EQ(merged.status, 200) << merged.body;
    EXPECT_EQ(count_of(merged.body, "\"agent_identity_id\":"), total) << merged.body;
    EXPECT_EQ(merged.header("X-Callgate-Unreachable-Nodes"), "");
    // Newest first across nodes: node2's call was decided last.
    EXPECT_EQ(first_id(merged.body), call_ids[2]) << merged.body;
    for (auto& id : call_ids)
        EXPECT_NE(merged.body.find(id), std::string::npos) << id << " in " << merged.body;
    // limit and offset apply to the merged list.
    auto second = nodes_[0].api("GET", "/calls?limit=1&offset=1");
    EXPECT_EQ(count_of(second.body, "\"agent_identity_id\":"), 1u) << second.body;
    // A call decided elsewhere is found by id from any node.
    auto by_id = nodes_[0].api("GET", "/calls/" + call_ids[2]);
    EXPECT_EQ(by_id.status, 200) << by_id.body;
    EXPECT_EQ(field(by_id.body, "id"), call_ids[2]);

    // A node that does not answer: left out and named.
    nodes_[2].process->kill_hard();
    auto partial = nodes_[0].api("GET", "/calls?limit=200");
    EXPECT_EQ(partial.status, 200);
    EXPECT_EQ(partial.header("X-Callgate-Unreachable-Nodes"), "node2");
    EXPECT_EQ(partial.body.find(call_ids[2]), std::string::npos);
    auto missing = nodes_[0].api("GET", "/calls/" + call_ids[2]);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(field(missing.body, "detail"), "Call not found");
    EXPECT_EQ(missing.header("X-Callgate-Unreachable-Nodes"), "node2");
    // A node that stops cleanly leaves the registry at once.
    ASSERT_EQ(nodes_[1].process->stop(SIGTERM), 0);
    EXPECT_TRUE(eventually([&] { return nodes_[0].api("GET", "/cluster/nodes").body.find("\"node1\"") == std::string::npos; }, scaled(5s)));
}

TEST_F(cluster_mode, contact_rules_reach_every_node_and_leave_with_their_identity)
{
    auto id = create_identity(0, "screened-bot", "+15550900");
    ASSERT_EQ(nodes_[0].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/screened")).status, 200);
    // More rules than one etcd transaction may hold operations (128).
    for (int i = 0; i < 150; ++i) {
        auto r = nodes_[i % 3].api("POST", "/identities/screened-bot/phone-contact-rules",
                                   "{\"action\":\"block\",\"match_target\":\"+1666" + std::to_string(1000000 + i) + "\"}");
        ASSERT_EQ(r.status, 201) << r.body;
    }
    auto blocked_on = [&](const node& n, const std::string& caller) {
        http_connection c(n.process->edge_address());
        auto r = c.request("POST", "/v1/calls/decide", {{"X-Edge-Token", edge_token}, {"Content-Type", "application/json"}},
                           "{\"local_phone_number\":\"+15550900\",\"remote_phone_number\":\"" + caller + "\"}");
        return field(r.body, "reason") == "contact_blocked";
    };
    for (auto& n : nodes_) {
        EXPECT_TRUE(eventually([&] { return blocked_on(n, "+16661000149"); }, scaled(5s))) << n.name;
        EXPECT_FALSE(blocked_on(n, "+16662000000")) << n.name;
    }
    // The rule written on one node is in force on that node at once.
    auto mine = nodes_[1].api("POST", "/identities/screened-bot/phone-contact-rules",
                              R"({"action":"block","match_type":"prefix","match_target":"+1777"})");
    ASSERT_EQ(mine.status, 201) << mine.body;
    EXPECT_TRUE(blocked_on(nodes_[1], "+17770000000"));
    // Deleting the identity removes its 151 rules in one transaction (a range delete).
    auto deleted = nodes_[2].api("DELETE", "/identities/screened-bot");
    ASSERT_EQ(deleted.status, 204) << deleted.body;
    for (auto& n : nodes_)
        EXPECT_TRUE(eventually([&] { return n.api("GET", "/phone/contact-rules?limit=1").body == "{\"items\":[]}"; }, scaled(5s)))
            << n.name << ": " << n.api("GET", "/phone/contact-rules?limit=1").body;
}

TEST_F(cluster_mode, the_same_handle_or_number_created_on_two_nodes_at_once_wins_exactly_once)
{
    for (int round = 0; round < 15; ++round) {
        for (bool same_phone : {false, true}) {
            std::string handle = "bot-" + std::to_string(round) + (same_phone ? "-p" : "-h");
            std::string phone = "+1555" + std::to_string(1000000 + round * 2 + (same_phone ? 1 : 0));
            std::atomic<int> go{0};
            int status[2] = {0, 0};
            std::string body[2];
            std::vector<std::thread> writers;
            for (int w = 0; w < 2; ++w)
                writers.emplace_back([&, w] {
                    http_connection c(nodes_[w].process->api_address());
                    std::string h = same_phone ? handle + "-" + std::to_string(w) : handle;
                    go.fetch_add(1);
                    while (go.load() < 2) {
                    }
                    auto r = c.request("POST", "/identities",
                                       {{"X-API-Key", admin}, {"Content-Type", "application/json"}},
                                       "{\"agent_handle\":\"" + h + "\",\"phone_number\":\"" + phone + "\"}");
                    status[w] = r.status;
                    body[w] = r.body;
                });
            for (auto& t : writers)
                t.join();
            std::multiset<int> got{status[0], status[1]};
            EXPECT_EQ(got, (std::multiset<int>{201, 409})) << "round " << round << ": " << body[0] << " / " << body[1];
            int loser = status[0] == 409 ? 0 : 1;
            EXPECT_EQ(field(body[loser], "detail"),
                      same_phone ? "phone_number already assigned"
                                 : "agent_handle already exists")
                << body[loser];
        }
    }
    // Every node agrees on how many identities there are.
    for (auto& n : nodes_)
        EXPECT_TRUE(eventually([&] { return n.api("GET", "/identities?limit=1").body.find("\"total\":30") != std::string::npos; }, scaled(5s)))
            << n.name << ": " << n.api("GET", "/identities?limit=1").body;
}

TEST_F(cluster_mode, every_acknowledged_write_survives_killing_the_etcd_leader)
{
    std::vector<std::string> ids;
    for (int w = 0; w < 3; ++w)
        ids.push_back(create_identity(w, "writer-" + std::to_string(w), "+1555200000" + std::to_string(w)));
    struct outcome {
        std::string last_acked;         // the last value answered 200
        std::vector<std::string> after; // values answered 503 after it (they may still take effect)
        std::atomic<int> ok{0}; // read by the test's thread while the writer counts
        int unavailable = 0, other = 0;
        std::chrono::milliseconds slowest{0};
    };
    std::vector<outcome> outcomes(3);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w)
        writers.emplace_back([&, w] {
            auto& out = outcomes[w];
            for (int seq = 0; !stop.load(); ++seq) {
                std::string url = "wss://agent.example.com/w" + std::to_string(w) + "/" + std::to_string(seq);
                auto start = steady::now();
                auto r = nodes_[w].api("PUT", "/incoming-call-action", accept_body(ids[w], url), 10s);
                out.slowest = std::max(out.slowest, std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start));
                if (r.status == 200) {
                    ++out.ok;
                    out.last_acked = url;
                    out.after.clear();
                } else if (r.status == 503 && field(r.body, "detail") == "Config store unavailable") {
                    ++out.unavailable;
                    out.after.push_back(url);
                } else {
                    ++out.other;
                    ADD_FAILURE() << r.status << " " << r.body;
                }
            }
        });
    EXPECT_TRUE(eventually([&] { return outcomes[0].ok + outcomes[1].ok + outcomes[2].ok >= 30; }, scaled(10s)));
    int leader = etcd_->leader();
    ASSERT_GE(leader, 0);
    etcd_->kill(static_cast<std::size_t>(leader));
    auto before = outcomes[0].ok + outcomes[1].ok + outcomes[2].ok;
    // Writes go on through the two members left, once they elected a leader.
    EXPECT_TRUE(eventually([&] { return outcomes[0].ok + outcomes[1].ok + outcomes[2].ok >= before + 30; }, 15s));
    stop.store(true);
    for (auto& t : writers)
        t.join();

    for (int w = 0; w < 3; ++w) {
        const auto& out = outcomes[w];
        EXPECT_EQ(out.other, 0);
        EXPECT_LT(out.slowest, scaled(5s)) << "writer " << w;
        ASSERT_FALSE(out.last_acked.empty());
        for (auto& n : nodes_) {
            std::string final_value;
            EXPECT_TRUE(eventually([&] {
                auto got = n.api("GET", "/incoming-call-action?agent_identity_id=" + ids[w]);
                final_value = field(got.body, "client_websocket_url");
                if (final_value == out.last_acked)
                    return true;
                return std::find(out.after.begin(), out.after.end(), final_value) != out.after.end();
            }, scaled(10s))) << n.name << " writer " << w << ": has " << final_value << ", last acknowledged " << out.last_acked;
        }
    }
}

TEST_F(cluster_mode, with_every_etcd_member_down_nodes_decide_and_writes_fail_fast)
{
    auto id = create_identity(0, "steady-bot", "+15550300");
    ASSERT_EQ(nodes_[0].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/steady")).status, 200);
    for (auto& n : nodes_)
        ASSERT_TRUE(eventually([&] {
            return field(n.decide_number("+15550300").body, "client_websocket_url") == "wss://agent.example.com/steady";
        }, scaled(5s)));
    for (std::size_t m = 0; m < etcd_->size(); ++m)
        etcd_->kill(m);

    for (auto& n : nodes_) {
        for (int i = 0; i < 50; ++i) {
            auto r = n.decide_number("+15550300");
            ASSERT_EQ(r.status, 200) << r.body;
            ASSERT_EQ(field(r.body, "client_websocket_url"), "wss://agent.example.com/steady") << r.body;
        }
        auto start = steady::now();
        auto w = n.api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/down"));
        auto took = steady::now() - start;
        EXPECT_EQ(w.status, 503) << w.body;
        EXPECT_EQ(field(w.body, "detail"), "Config store unavailable");
        EXPECT_LT(took, scaled(2500ms));
        EXPECT_TRUE(eventually([&] {
            auto r = n.readyz();
            return r.status == 200 && r.body.find("\"etcd\":\"unreachable\"") != std::string::npos;
        }, scaled(5s))) << n.readyz().body;
        EXPECT_TRUE(eventually([&] {
            return n.api("GET", "/metrics").body.find("\ncallgate_etcd_up 0\n") != std::string::npos;
        }, scaled(6s)));
    }

    ASSERT_TRUE(etcd_->restart_all()) << etcd_->log(0);
    EXPECT_TRUE(eventually([&] {
        return nodes_[2].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/back")).status == 200;
    }, 15s));
    for (auto& n : nodes_) {
        EXPECT_TRUE(eventually([&] {
            return field(n.decide_number("+15550300").body, "client_websocket_url") == "wss://agent.example.com/back";
        }, scaled(10s))) << n.name;
        EXPECT_TRUE(eventually([&] { return n.readyz().body == "{\"status\":\"ready\"}"; }, scaled(10s))) << n.readyz().body;
    }
}

TEST_F(cluster_mode, a_killed_node_catches_up_from_its_revision_and_reloads_after_compaction)
{
    auto keep = create_identity(0, "keep-bot", "+15550400");
    auto& late = nodes_[2];
    late.process->kill_hard();
    // Changes while it is down.
    ASSERT_EQ(nodes_[0].api("PUT", "/incoming-call-action", accept_body(keep, "wss://agent.example.com/missed")).status, 200);
    auto gone = create_identity(1, "gone-bot", "+15550401");
    ASSERT_EQ(nodes_[1].api("DELETE", "/identities/gone-bot").status, 204);
    auto loads = [&] { return count_of(late.process->log(), "cluster_loaded"); };
    auto loads_before = loads();
    ASSERT_TRUE(late.process->start()) << late.process->log();
    ASSERT_TRUE(wait_ready(late)) << late.process->log();
    EXPECT_EQ(loads(), loads_before) << "a full reload was not needed";
    EXPECT_EQ(field(late.decide_number("+15550400").body, "client_websocket_url"), "wss://agent.example.com/missed");
    EXPECT_EQ(late.api("GET", "/identities/gone-bot").status, 404);

    // Down again; this time etcd compacts away the history it would need.
    late.process->kill_hard();
    auto doomed = create_identity(0, "doomed-bot", "+15550402");
    ASSERT_EQ(nodes_[0].api("PUT", "/incoming-call-action", accept_body(keep, "wss://agent.example.com/compacted")).status, 200);
    ASSERT_EQ(nodes_[0].api("DELETE", "/identities/doomed-bot").status, 204);
    auto fresh = create_identity(1, "fresh-bot", "+15550403");
    std::string out;
    ASSERT_EQ(etcd_->etcdctl({"compact", std::to_string(etcd_revision())}, out), 0) << out;
    ASSERT_TRUE(late.process->start()) << late.process->log();
    ASSERT_TRUE(wait_ready(late)) << late.process->log();
    EXPECT_EQ(count_of(late.process->log(), "cluster_compacted"), 1u) << late.process->log();
    EXPECT_EQ(loads(), loads_before + 1) << late.process->log();
    EXPECT_EQ(field(late.decide_number("+15550400").body, "client_websocket_url"), "wss://agent.example.com/compacted");
    EXPECT_EQ(late.api("GET", "/identities/doomed-bot").status, 404);
    EXPECT_EQ(field(late.decide_number("+15550402").body, "reason"), "unknown_number");
    EXPECT_EQ(late.api("GET", "/identities/fresh-bot").status, 200);
    EXPECT_NE(late.api("GET", "/identities?limit=1").body.find("\"total\":2"), std::string::npos)
        << late.api("GET", "/identities?limit=1").body;
    (void)gone;
    (void)doomed;
    (void)fresh;
}

TEST_F(cluster_mode, a_node_starts_degraded_from_its_copy_and_not_ready_without_one)
{
    auto id = create_identity(0, "copy-bot", "+15550500");
    ASSERT_EQ(nodes_[0].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/copy")).status, 200);
    auto& n = nodes_[1];
    ASSERT_TRUE(eventually([&] {
        return field(n.decide_number("+15550500").body, "client_websocket_url") == "wss://agent.example.com/copy";
    }, scaled(5s)));
    ASSERT_EQ(n.process->stop(SIGTERM), 0);
    for (std::size_t m = 0; m < etcd_->size(); ++m)
        etcd_->kill(m);

    // With a copy: ready, degraded, deciding from the copy.
    ASSERT_TRUE(n.process->start()) << n.process->log();
    EXPECT_TRUE(eventually([&] { return n.readyz().status == 200; }, scaled(10s))) << n.process->log();
    auto ready = n.readyz();
    EXPECT_NE(ready.body.find("\"status\":\"degraded\",\"etcd\":\"unreachable\",\"revision\":"), std::string::npos) << ready.body;
    EXPECT_EQ(field(n.decide_number("+15550500").body, "client_websocket_url"), "wss://agent.example.com/copy");

    // Without one: listening, not ready, every decide and config call 503.
    auto empty = make_node("node-new");
    ASSERT_TRUE(empty.process->start()) << empty.process->log();
    EXPECT_TRUE(eventually([&] { return empty.readyz().body.find("\"etcd\":\"unreachable\"") != std::string::npos; }, scaled(10s)))
        << empty.readyz().body;
    auto not_ready = empty.readyz();
    EXPECT_EQ(not_ready.status, 503);
    EXPECT_EQ(not_ready.body, "{\"status\":\"starting\",\"etcd\":\"unreachable\"}");
    auto decide = empty.decide_number("+15550500");
    EXPECT_EQ(decide.status, 503);
    EXPECT_EQ(field(decide.body, "detail"), "Not ready");
    auto config = empty.api("GET", "/identities");
    EXPECT_EQ(config.status, 503);
    EXPECT_EQ(field(config.body, "detail"), "Not ready");
    EXPECT_EQ(empty.api("GET", "/healthz").status, 200);
    EXPECT_EQ(empty.api("GET", "/metrics").status, 200);

    // etcd back: the new node loads the prefix and becomes ready.
    ASSERT_TRUE(etcd_->restart_all()) << etcd_->log(0);
    EXPECT_TRUE(wait_ready(empty)) << empty.process->log();
    EXPECT_EQ(field(empty.decide_number("+15550500").body, "client_websocket_url"), "wss://agent.example.com/copy");
    EXPECT_EQ(empty.process->stop(SIGTERM), 0);
}


// Nodes started without CALLGATE_ADMIN_KEY: the admin key lives in etcd.
class cluster_admin_keys : public cluster_mode {
protected:
    bool shared_admin_key() const override { return false; }
};

TEST_F(cluster_admin_keys, exactly_one_node_generates_the_admin_key_and_every_node_takes_it)
{
    std::vector<std::string> keys;
    EXPECT_TRUE(eventually([&] {
        keys.clear();
        for (auto& n : nodes_) {
            std::ifstream in(n.process->data_dir() + "/admin.key");
            std::string key;
            if (in >> key)
                keys.push_back(key);
        }
        return !keys.empty();
    }, scaled(10s)));
    ASSERT_EQ(keys.size(), 1u) << "one admin.key among the three data dirs";
    for (auto& n : nodes_) {
        n.key = keys[0];
        EXPECT_TRUE(eventually([&] { return n.api("GET", "/identities").status == 200; }, scaled(5s))) << n.name;
    }

    // `callgate admin-key create --etcd-endpoints`: a key every node accepts.
    std::string out;
    ASSERT_EQ(server_process::run_command({"admin-key", "create", "--etcd-endpoints", endpoints(), "--etcd-prefix", "/test/"}, out), 0)
        << out;
    auto created = out.substr(0, out.find('\n'));
    ASSERT_EQ(created.rfind("cg_", 0), 0u) << out;
    for (auto& n : nodes_) {
        n.key = created;
        EXPECT_TRUE(eventually([&] { return n.api("GET", "/identities").status == 200; }, scaled(5s))) << n.name;
        n.key = "cg_not_a_key_0123456789abcdef0123";
        EXPECT_EQ(n.api("GET", "/identities").status, 401);
    }
    // `callgate admin-key list` and `revoke` against etcd: the generated key
    // goes, every node refuses it once applied; the last one needs --force.
    ASSERT_EQ(server_process::run_command({"admin-key", "list", "--etcd-endpoints", endpoints(), "--etcd-prefix", "/test/"}, out), 0)
        << out;
    EXPECT_EQ(out.find(keys[0]), std::string::npos) << "list shows a key";
    EXPECT_EQ(out.find(created), std::string::npos) << "list shows a key";
    std::vector<std::string> ids;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (line.size() > 36 && line[8] == '-')
            ids.push_back(line.substr(0, 36));
    ASSERT_EQ(ids.size(), 2u) << out;
    ASSERT_EQ(server_process::run_command({"admin-key", "revoke", ids[0], "--etcd-endpoints", endpoints(), "--etcd-prefix", "/test/"}, out), 0)
        << out;
    for (auto& n : nodes_) {
        n.key = keys[0];
        EXPECT_TRUE(eventually([&] { return n.api("GET", "/identities").status == 401; }, scaled(5s))) << n.name;
        n.key = created;
        EXPECT_EQ(n.api("GET", "/identities").status, 200) << n.name;
    }
    EXPECT_EQ(server_process::run_command({"admin-key", "revoke", ids[1], "--etcd-endpoints", endpoints(), "--etcd-prefix", "/test/"}, out), 1)
        << out;
    EXPECT_NE(out.find("the last admin key"), std::string::npos) << out;

    // A node that joins later finds the keys in etcd and generates none.
    auto late = make_node("node-late");
    ASSERT_TRUE(late.process->start()) << late.process->log();
    ASSERT_TRUE(wait_ready(late));
    late.key = created;
    EXPECT_EQ(late.api("GET", "/identities").status, 200);
    EXPECT_FALSE(std::ifstream(late.process->data_dir() + "/admin.key").good());
    EXPECT_EQ(late.process->stop(SIGTERM), 0);
}

// etcd members that serve TLS only and demand a client certificate.
class cluster_tls : public cluster_mode {
protected:
    etcd_cluster_options etcd_options() override
    {
        pki_ = make_test_pki(dir_.path());
        etcd_cluster_options o;
        o.members = 3;
        o.tls = etcd_tls{.ca_file = pki_.ca_cert,
                         .cert_file = pki_.server_cert,
                         .key_file = pki_.server_key,
                         .client_cert_auth = true,
                         .client_cert_file = pki_.client_cert,
                         .client_key_file = pki_.client_key};
        return o;
    }
    std::vector<std::string> node_args() override
    {
        return {"--etcd-ca-file", pki_.ca_cert, "--etcd-cert-file", pki_.client_cert, "--etcd-key-file", pki_.client_key};
    }
    test_pki pki_;
};

TEST_F(cluster_tls, nodes_share_config_over_tls_with_client_certificates)
{
    auto id = create_identity(0, "tls-bot", "+15550600");
    ASSERT_EQ(nodes_[1].api("PUT", "/incoming-call-action", accept_body(id, "wss://agent.example.com/tls")).status, 200);
    for (auto& n : nodes_)
        EXPECT_TRUE(eventually([&] {
            return field(n.decide_number("+15550600").body, "client_websocket_url") == "wss://agent.example.com/tls";
        }, scaled(5s))) << n.name;
}


// `callgate cluster import`: a stopped single node's store into an empty prefix.
TEST(cluster_import, a_stopped_single_node_store_moves_into_an_empty_prefix_and_every_key_keeps_working)
{
    temp_dir dir;
    etcd_cluster etcd({.members = 1});
    std::ofstream(dir.path() + "/edge.token") << edge_token << "\n";
    // A single node with an identity, its action, a scoped key and a signing key.
    server_process single(dir.path() + "/single", {"--edge-token-file", dir.path() + "/edge.token"},
                          {{"CALLGATE_ADMIN_KEY", admin}});
    ASSERT_TRUE(single.start()) << single.log();
    auto call = [&](const std::string& address, const std::string& method, const std::string& target,
                    const std::string& key, const std::string& body = {}) {
        http_connection c(address);
        header_list h{{"X-API-Key", key}};
        if (!body.empty())
            h.emplace_back("Content-Type", "application/json");
        return c.request(method, target, h, body);
    };
    auto created = call(single.api_address(), "POST", "/identities", admin,
                        R"({"agent_handle":"moved-bot","phone_number":"+15550700"})");
    ASSERT_EQ(created.status, 201) << created.body;
    auto id = field(created.body, "id");
    ASSERT_EQ(call(single.api_address(), "PUT", "/incoming-call-action", admin,
                   "{\"agent_identity_id\":\"" + id +
                       "\",\"incoming_call_action\":\"auto_accept\",\"client_websocket_url\":\"wss://agent.example.com/moved\"}")
                  .status,
              200);
    auto minted = call(single.api_address(), "POST", "/api-keys", admin,
                       "{\"label\":\"k\",\"scoped_identity_id\":\"" + id + "\"}");
    ASSERT_EQ(minted.status, 201) << minted.body;
    auto scoped = field(minted.body, "api_key");
    ASSERT_EQ(call(single.api_address(), "POST", "/identities/moved-bot/signing-key", admin).status, 201);
    auto organization = field(call(single.api_address(), "GET", "/api/v1/identities/moved-bot", admin).body,
                              "organization_id");
    ASSERT_FALSE(organization.empty());
    ASSERT_EQ(single.stop(SIGTERM), 0);

    auto endpoints = etcd.client_url(0);
    std::string out;
    ASSERT_EQ(server_process::run_command({"cluster", "import", "--data-dir", dir.path() + "/single", "--etcd-endpoints",
                                           endpoints, "--etcd-prefix", "/moved/"},
                                          out),
              0)
        << out;
    EXPECT_NE(out.find("imported"), std::string::npos) << out;
    // A second import into the same prefix is refused, and writes nothing.
    auto revision_of = [&] {
        std::string o;
        etcd.etcdctl({"get", "/", "--prefix", "--keys-only", "-w", "json"}, o);
        std::smatch m;
        return std::regex_search(o, m, std::regex("\"revision\":([0-9]+)")) ? std::stoll(m[1]) : -1;
    };
    auto before = revision_of();
    EXPECT_EQ(server_process::run_command({"cluster", "import", "--data-dir", dir.path() + "/single", "--etcd-endpoints",
                                           endpoints, "--etcd-prefix", "/moved/"},
                                          out),
              1);
    EXPECT_NE(out.find("not empty"), std::string::npos) << out;
    EXPECT_EQ(revision_of(), before);

    // Nodes on the prefix, without CALLGATE_ADMIN_KEY: the old admin key, the
    // scoped key, the identity and its action all work.
    server_process a(dir.path() + "/a", {"--etcd-endpoints", endpoints, "--etcd-prefix", "/moved/", "--node-name", "a",
                                         "--edge-token-file", dir.path() + "/edge.token"});
    ASSERT_TRUE(a.start()) << a.log();
    ASSERT_TRUE(eventually([&] { return http_connection(a.api_address()).request("GET", "/readyz").status == 200; }, 20s));
    auto got = call(a.api_address(), "GET", "/identities/moved-bot", admin);
    EXPECT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(field(got.body, "phone_number"), "+15550700");
    EXPECT_EQ(field(call(a.api_address(), "GET", "/api/v1/identities/moved-bot", admin).body, "organization_id"),
              organization)
        << "the deployment keeps its organization id";
    EXPECT_EQ(call(a.api_address(), "GET", "/incoming-call-action?agent_identity_id=" + id, scoped).status, 200);
    EXPECT_NE(call(a.api_address(), "GET", "/identities?limit=1", admin).body.find("\"total\":1"), std::string::npos);
    http_connection edge(a.edge_address());
    auto decided = edge.request("POST", "/v1/calls/decide", {{"X-Edge-Token", edge_token}, {"Content-Type", "application/json"}},
                                R"({"local_phone_number":"+15550700","remote_phone_number":"+15550199"})");
    EXPECT_EQ(field(decided.body, "client_websocket_url"), "wss://agent.example.com/moved") << decided.body;

    // While an import marker is there, nodes are not ready.
    ASSERT_EQ(etcd.etcdctl({"put", "/moved/config/import", "x"}, out), 0) << out;
    EXPECT_TRUE(eventually([&] {
        auto r = http_connection(a.api_address()).request("GET", "/readyz");
        return r.status == 503 && r.body == "{\"status\":\"starting\",\"import\":\"running\"}";
    }, scaled(5s)));
    ASSERT_EQ(etcd.etcdctl({"del", "/moved/config/import"}, out), 0) << out;
    EXPECT_TRUE(eventually([&] { return http_connection(a.api_address()).request("GET", "/readyz").status == 200; }, scaled(5s)));
    EXPECT_EQ(a.stop(SIGTERM), 0);
}

} // namespace
} // namespace callgate::testing
