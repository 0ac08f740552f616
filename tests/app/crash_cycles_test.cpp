// Crash cycles: the real binary is killed with SIGKILL at a random moment while
// config writes, call decisions with their status updates and bridged calls are
// all in flight, then restarted on the same data dir, cycle after cycle. After
// every restart:
//  - it starts cleanly (listen.json, then /readyz 200, within deadlines);
//  - every acknowledged config write reads back with its last acknowledged value
//    (or the one in flight for that key at the kill); deleted identities stay
//    deleted; revoked keys stay revoked and active ones authenticate;
//  - every call record listed by GET /calls (all pages) is whole: every field
//    present and well typed, status and reasons from the allowed sets, times in
//    order; GET /calls/{id} agrees with the list;
//  - a call record, when present, carries every status update that was
//    acknowledged for it (the update either changed the queued record or was
//    written before its 204);
//  - every call whose decision was answered before a GET /calls (which first
//    writes everything queued) that was answered before the kill is present;
//  - what one restart read never changes or disappears at a later one.
//
// Reproduce a failure with CALLGATE_CRASH_SEED=<the printed seed>; the number of
// cycles can be raised with CALLGATE_CRASH_CYCLES.
#include "callgate/testing/http_client.hpp"
#include "callgate/testing/server_process.hpp"
#include "callgate/testing/temp_dir.hpp"
#include "callgate/testing/tls_files.hpp"
#include "callgate/testing/ws_peers.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace dom = simdjson::dom;

constexpr const char* admin = "cg_crash_cycles_admin_key_0123456789";
constexpr int default_cycles = 20;
constexpr int put_writers = 2;
constexpr int identities_per_writer = 3;
constexpr int deciders = 2;
constexpr int bridges = 2;
constexpr int audio_frames_per_call = 10;
// The kill comes this long (uniformly drawn) after every kind of work has made progress in the cycle.
constexpr int max_kill_delay_ms = 700;
constexpr auto activity_deadline = 30s; // for every kind of work to get going after a restart
constexpr auto ready_deadline = 20s;    // for /readyz after listen.json appeared

std::uint64_t env_number(const char* name, std::uint64_t fallback)
{
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string random_uuid(std::mt19937_64& rng)
{
    std::uint64_t hi = rng(), lo = rng();
    hi = (hi & ~0xF000ull) | 0x4000ull;                        // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; // variant 1
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                  static_cast<unsigned long long>((hi >> 16) & 0xFFFF), static_cast<unsigned long long>(hi & 0xFFFF),
                  static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return buf;
}

bool is_uuid(std::string_view s)
{
    if (s.size() != 36)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    }
    return true;
}

// "YYYY-MM-DDTHH:MM:SS.ffffffZ", as the engine writes times, in µs since the epoch.
std::optional<std::int64_t> parse_time(std::string_view s)
{
    if (s.size() != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != '.' || s[26] != 'Z')
        return std::nullopt;
    auto num = [&](std::size_t at, std::size_t len) -> std::optional<int> {
        int v = 0;
        for (std::size_t i = at; i < at + len; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i])))
                return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    auto year = num(0, 4), month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2),
         second = num(17, 2), micros = num(20, 6);
    if (!year || !month || !day || !hour || !minute || !second || !micros || *month < 1 || *month > 12 ||
        *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    return static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000 + *micros;
}

// A string member, or nullopt when absent or not a string.
std::optional<std::string> string_member(dom::object o, std::string_view key)
{
    std::string_view v;
    if (o[key].get_string().get(v))
        return std::nullopt;
    return std::string(v);
}

bool is_null_member(dom::object o, std::string_view key)
{
    dom::element e;
    return !o[key].get(e) && e.is_null();
}

// ---------------------------------------------------------------------------
// Call records: the whole-record check.

struct parsed_record {
    std::string id, status, action, json;
    std::optional<std::string> agent_identity_id, local_phone_number, hangup_reason, reason, source;
    std::string remote_phone_number;
    std::optional<std::string> client_websocket_url;
    std::int64_t decided_in_us = 0;
    bool has_media = false;
    std::int64_t e2c_frames = 0, e2c_dropped = 0, c2e_frames = 0, c2e_dropped = 0;
    std::optional<std::int64_t> started_at, ended_at;
    std::int64_t created_at = 0, updated_at = 0;
};

// Reads one call record object as config-api.md defines it; "" when whole, else what is wrong.
std::string read_record(dom::element e, parsed_record& out)
{
    dom::object o;
    if (e.get_object().get(o))
        return "not an object";
    out.json = simdjson::to_string(e);
    static const std::set<std::string_view> keys{"id", "agent_identity_id", "local_phone_number",
                                                 "remote_phone_number", "direction", "status", "hangup_reason",
                                                 "client_websocket_url", "decision", "media", "started_at",
                                                 "ended_at", "created_at", "updated_at"};
    std::size_t count = 0;
    for (auto field : o) {
        if (!keys.count(field.key))
            return "unexpected field " + std::string(field.key);
        ++count;
    }
    if (count != keys.size())
        return "fields missing (" + std::to_string(count) + " of " + std::to_string(keys.size()) + ")";

    auto id = string_member(o, "id");
    if (!id || !is_uuid(*id))
        return "id";
    out.id = *id;
    auto optional_string = [&](std::string_view key, std::optional<std::string>& v) {
        if (is_null_member(o, key)) {
            v.reset();
            return true;
        }
        v = string_member(o, key);
        return v.has_value();
    };
    if (!optional_string("agent_identity_id", out.agent_identity_id) ||
        (out.agent_identity_id && !is_uuid(*out.agent_identity_id)))
        return "agent_identity_id";
    if (!optional_string("local_phone_number", out.local_phone_number))
        return "local_phone_number";
    auto remote = string_member(o, "remote_phone_number");
    if (!remote || remote->empty())
        return "remote_phone_number";
    out.remote_phone_number = *remote;
    if (string_member(o, "direction") != "inbound")
        return "direction";
    static const std::set<std::string> statuses{"initiated", "ringing", "answered", "completed", "failed", "canceled"};
    auto status = string_member(o, "status");
    if (!status || !statuses.count(*status))
        return "status";
    out.status = *status;
    static const std::set<std::string> hangups{"local", "remote", "max_duration", "rejected", "peer_flood"};
    if (!optional_string("hangup_reason", out.hangup_reason) || (out.hangup_reason && !hangups.count(*out.hangup_reason)))
        return "hangup_reason";
    if (!optional_string("client_websocket_url", out.client_websocket_url))
        return "client_websocket_url";

    dom::object decision;
    if (o["decision"].get_object().get(decision))
        return "decision";
    std::size_t decision_fields = 0;
    for (auto f : decision) {
        (void)f;
        ++decision_fields;
    }
    auto action = string_member(decision, "action");
    out.source = string_member(decision, "source");
    if (decision_fields != 4 || !action || (*action != "answer" && *action != "reject") || !out.source ||
        (*out.source != "config" && *out.source != "webhook" && *out.source != "engine"))
        return "decision";
    out.action = *action;
    if (is_null_member(decision, "reason"))
        out.reason.reset();
    else if (!(out.reason = string_member(decision, "reason")) || out.reason->empty())
        return "decision.reason";
    if (decision["decided_in_us"].get_int64().get(out.decided_in_us) || out.decided_in_us < 0)
        return "decision.decided_in_us";

    if (!is_null_member(o, "media")) {
        dom::object media;
        if (o["media"].get_object().get(media))
            return "media";
        out.has_media = true;
        auto counts = [&](std::string_view key, std::int64_t& frames, std::int64_t& dropped) {
            dom::object c;
            std::int64_t bytes = 0;
            std::size_t n = 0;
            if (media[key].get_object().get(c))
                return false;
            for (auto f : c) {
                (void)f;
                ++n;
            }
            return n == 3 && !c["frames"].get_int64().get(frames) && !c["bytes"].get_int64().get(bytes) &&
                   !c["dropped"].get_int64().get(dropped) && frames >= 0 && bytes >= 0 && dropped >= 0;
        };
        if (!counts("edge_to_client", out.e2c_frames, out.e2c_dropped) ||
            !counts("client_to_edge", out.c2e_frames, out.c2e_dropped))
            return "media counts";
    }

    auto time = [&](std::string_view key, std::optional<std::int64_t>& v, bool nullable) {
        if (nullable && is_null_member(o, key)) {
            v.reset();
            return true;
        }
        auto text = string_member(o, key);
        if (!text)
            return false;
        v = parse_time(*text);
        return v.has_value();
    };
    std::optional<std::int64_t> created, updated;
    if (!time("started_at", out.started_at, true) || !time("ended_at", out.ended_at, true) ||
        !time("created_at", created, false) || !time("updated_at", updated, false))
        return "times (format)";
    out.created_at = *created;
    out.updated_at = *updated;

    // Times in order: nothing before the record was created, nothing after its last update.
    if (out.updated_at < out.created_at)
        return "updated_at before created_at";
    if (out.started_at && (*out.started_at < out.created_at || *out.started_at > out.updated_at))
        return "started_at outside [created_at, updated_at]";
    if (out.ended_at && (*out.ended_at < out.created_at || *out.ended_at > out.updated_at))
        return "ended_at outside [created_at, updated_at]";
    if (out.started_at && out.ended_at && *out.ended_at < *out.started_at)
        return "ended_at before started_at";

    // The states of config-api.md and what each implies.
    if (out.action == "reject") {
        if (out.status != "canceled" || out.hangup_reason != "rejected" || !out.reason || out.started_at ||
            !out.ended_at || out.has_media)
            return "a rejected call that is not canceled/rejected with an end";
    } else {
        if (out.reason || !out.client_websocket_url)
            return "an answered decision with a reason or without a client URL";
        if (out.status == "ringing" && (out.started_at || out.ended_at || out.hangup_reason))
            return "ringing with a start, end or hangup reason";
        if (out.status == "answered" && (!out.started_at || out.ended_at || out.hangup_reason))
            return "answered without a start, or with an end";
        if (out.status == "completed" && (!out.ended_at || !out.hangup_reason))
            return "completed without an end or a hangup reason";
    }
    return {};
}

// ---------------------------------------------------------------------------
// What the test did and saw, across cycles.

// One call the test started (a decision, or a bridged call), by its call id.
struct tracked_call {
    enum class kind { decided, bridged } what = kind::decided;
    std::string id, local, remote;
    std::string identity_id; // expected agent_identity_id ("" for an unknown number)
    bool expect_answer = false;
    int cycle = 0;
    bool replied = false; // the decision reached the test
    steady::time_point replied_at{};
    std::string reply_action, reply_source, reply_reason;
    std::int64_t reply_decided_in_us = -1;
    // Decided calls that were answered: 1 = "answered", 2 = "completed" (remote).
    int status_sent = 0, status_acked = 0;
    // Bridged calls: stop sent by the edge after the audio both ways.
    bool stop_sent = false;
};

struct churned_identity {
    std::string handle, phone, id;
    bool create_acked = false, delete_sent = false, delete_acked = false;
};

struct minted_key {
    std::string key, id;
    int cycle = 0;
    bool revoke_sent = false, revoke_acked = false;
};

// Set by the main thread just before the kill: a failure seen after it is the kill's doing.
struct cycle_control {
    std::atomic<bool> killing{false};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable progress;
    std::vector<std::string> unexpected;

    void fail(const std::string& what)
    {
        if (killing.load())
            return;
        std::lock_guard lock(mutex);
        unexpected.push_back(what);
    }
    void notify()
    {
        { std::lock_guard lock(mutex); }
        progress.notify_all();
    }
};

struct activity {
    std::atomic<int> puts{0}, identities{0}, keys{0}, decisions{0}, statuses{0}, bridged{0}, barriers{0};
    bool all_going() const
    {
        return puts > 0 && identities > 0 && keys > 0 && decisions > 0 && statuses > 0 && bridged > 0 && barriers > 0;
    }
};

std::string incoming_call(const std::string& call_id, const std::string& dialed)
{
    return R"({"event":"incoming_call","call_id":")" + call_id + R"(","local_phone_number":")" + dialed +
           R"(","remote_phone_number":"+15550199"})";
}

std::string audio(int i, int salt)
{
    std::string out(160, '\0');
    for (int b = 0; b < 160; ++b)
        out[static_cast<std::size_t>(b)] = static_cast<char>((i * 31 + b * 7 + salt) & 0xFF);
    return out;
}

class crash_cycles : public ::testing::Test {
protected:
    void SetUp() override
    {
        seed_ = env_number("CALLGATE_CRASH_SEED", std::random_device{}());
        cycles_ = static_cast<int>(env_number("CALLGATE_CRASH_CYCLES", default_cycles));
        std::printf("crash_cycles: seed %llu, %d cycles (CALLGATE_CRASH_SEED=%llu reproduces)\n",
                    static_cast<unsigned long long>(seed_), cycles_, static_cast<unsigned long long>(seed_));
        std::fflush(stdout);
        RecordProperty("seed", std::to_string(seed_));
        rng_.seed(seed_);

        dir_ = std::make_unique<temp_dir>();
        pki_ = make_test_pki(dir_->path());
        for (int b = 0; b < bridges; ++b)
            agents_.push_back(std::make_unique<ws_test_server>(pki_.server_cert, pki_.server_key));
        server_ = std::make_unique<server_process>(
            dir_->path() + "/data",
            std::vector<std::string>{"--ca-file", pki_.ca_cert, "--allow-insecure-urls", "--allow-private-destinations"},
            std::map<std::string, std::string>{{"CALLGATE_ADMIN_KEY", admin}});
        ASSERT_TRUE(server_->start()) << server_->log();
        ASSERT_TRUE(wait_ready()) << server_->log();
        edge_token_ = server_->edge_token();
        ASSERT_FALSE(edge_token_.empty());
        ASSERT_NO_FATAL_FAILURE(seed_config());
    }

    void TearDown() override
    {
        if (server_ && server_->running())
            EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
    }

    static header_list admin_headers(bool body = false)
    {
        header_list h{{"X-API-Key", admin}};
        if (body)
            h.emplace_back("Content-Type", "application/json");
        return h;
    }

    http_reply api(const std::string& method, const std::string& target, const std::string& body = {})
    {
        return http_request(server_->api_address(), method, target, admin_headers(!body.empty()), body);
    }

    bool wait_ready()
    {
        auto deadline = steady::now() + ready_deadline;
        while (steady::now() < deadline) {
            if (http_request(server_->api_address(), "GET", "/readyz").status == 200)
                return true;
            std::this_thread::sleep_for(5ms);
        }
        return false;
    }

    std::string create_identity(const std::string& handle, const std::string& phone)
    {
        auto r = api("POST", "/identities", R"({"agent_handle":")" + handle + R"(","phone_number":")" + phone + "\"}");
        EXPECT_EQ(r.status, 201) << r.body;
        dom::parser p;
        std::string_view id;
        if (p.parse(r.body)["id"].get_string().get(id))
            return {};
        return std::string(id);
    }

    void put_action(const std::string& id, const std::string& action, const std::string& ws_url)
    {
        std::string body = R"({"agent_identity_id":")" + id + R"(","incoming_call_action":")" + action + "\"";
        if (!ws_url.empty())
            body += R"(,"client_websocket_url":")" + ws_url + "\"";
        auto r = api("PUT", "/incoming-call-action", body + "}");
        ASSERT_EQ(r.status, 200) << r.body;
    }

    // Identities that live through the whole test: the writers', one that rejects, one per bridge.
    void seed_config()
    {
        for (int w = 0; w < put_writers; ++w)
            for (int i = 0; i < identities_per_writer; ++i) {
                std::string phone = "+155503" + std::to_string(10 + w * 10 + i);
                std::string id = create_identity("writer-" + std::to_string(w) + "-" + std::to_string(i), phone);
                ASSERT_FALSE(id.empty());
                writer_ids_.push_back(id);
                writer_phones_.push_back(phone);
                ASSERT_NO_FATAL_FAILURE(put_action(id, "auto_accept", "wss://agent.example.com/seed"));
                auto r = api("GET", "/incoming-call-action?agent_identity_id=" + id);
                ASSERT_EQ(r.status, 200) << r.body;
                acknowledged_actions_[id] = r.body;
            }
        reject_id_ = create_identity("rejecter", reject_phone);
        ASSERT_FALSE(reject_id_.empty());
        ASSERT_NO_FATAL_FAILURE(put_action(reject_id_, "auto_reject", ""));
        for (int b = 0; b < bridges; ++b) {
            std::string phone = "+15550500" + std::to_string(b);
            std::string id = create_identity("bridge-" + std::to_string(b), phone);
            ASSERT_FALSE(id.empty());
            ASSERT_NO_FATAL_FAILURE(put_action(id, "auto_accept", agents_[static_cast<std::size_t>(b)]->url()));
            bridge_ids_.push_back(id);
            bridge_phones_.push_back(phone);
        }
        for (const auto& id : writer_ids_)
            fixed_identities_.insert(id);
        fixed_identities_.insert(reject_id_);
        for (const auto& id : bridge_ids_)
            fixed_identities_.insert(id);
    }

    // --- The workers of one cycle ------------------------------------------------

    // PUT /incoming-call-action on its own identities, each write a new URL.
    void put_writer(int cycle, int w)
    {
        http_connection c(server_->api_address());
        for (int n = 0; !control_->stop.load(); ++n) {
            const auto& id = writer_ids_[static_cast<std::size_t>(w * identities_per_writer + n % identities_per_writer)];
            std::string url = "wss://agent.example.com/c" + std::to_string(cycle) + "/w" + std::to_string(w) + "/n" +
                              std::to_string(n);
            std::string body = R"({"agent_identity_id":")" + id +
                               R"(","incoming_call_action":"auto_accept","client_websocket_url":")" + url + "\"}";
            {
                std::lock_guard lock(actions_mutex_);
                in_flight_urls_[id] = url;
            }
            auto r = c.request("PUT", "/incoming-call-action", admin_headers(true), body, 10s);
            if (r.status != 200) {
                control_->fail("PUT /incoming-call-action: " + std::to_string(r.status) + " " + r.body);
                return;
            }
            if (r.body.find(url) == std::string::npos)
                control_->fail("PUT reply without its URL: " + r.body);
            std::lock_guard lock(actions_mutex_);
            acknowledged_actions_[id] = r.body;
            in_flight_urls_.erase(id);
            activity_.puts.fetch_add(1);
        }
    }

    // POST /identities, and DELETE every other one right after its 201.
    void identity_churn(int cycle)
    {
        http_connection c(server_->api_address());
        char phone[32];
        for (int n = 0; !control_->stop.load(); ++n) {
            std::string handle = "churn-" + std::to_string(cycle) + "-" + std::to_string(n);
            std::snprintf(phone, sizeof phone, "+1444%03d%05d", cycle, n % 100000);
            std::size_t at;
            {
                std::lock_guard lock(churn_mutex_);
                at = churned_.size();
                churned_.push_back({handle, phone, {}});
            }
            auto r = c.request("POST", "/identities", admin_headers(true),
                               R"({"agent_handle":")" + handle + R"(","display_name":"Churn )" + std::to_string(n) +
                                   R"(","phone_number":")" + phone + "\"}",
                               10s);
            if (r.status != 201) {
                control_->fail("POST /identities: " + std::to_string(r.status) + " " + r.body);
                return;
            }
            dom::parser p;
            std::string_view id;
            if (p.parse(r.body)["id"].get_string().get(id)) {
                control_->fail("POST /identities reply: " + r.body);
                return;
            }
            {
                std::lock_guard lock(churn_mutex_);
                churned_[at].id = std::string(id);
                churned_[at].create_acked = true;
                if (n % 2 == 0)
                    churned_[at].delete_sent = true;
            }
            activity_.identities.fetch_add(1);
            if (n % 2 != 0)
                continue;
            auto d = c.request("DELETE", "/identities/" + handle, admin_headers(), {}, 10s);
            if (d.status != 204) {
                control_->fail("DELETE /identities: " + std::to_string(d.status) + " " + d.body);
                return;
            }
            std::lock_guard lock(churn_mutex_);
            churned_[at].delete_acked = true;
        }
    }

    // POST /api-keys scoped to the writers' identities; every third one revoked right after.
    void key_writer(int cycle)
    {
        http_connection c(server_->api_address());
        for (int n = 0; !control_->stop.load(); ++n) {
            const auto& scope = writer_ids_[static_cast<std::size_t>(n) % writer_ids_.size()];
            auto r = c.request("POST", "/api-keys", admin_headers(true),
                               R"({"label":"k-)" + std::to_string(cycle) + "-" + std::to_string(n) +
                                   R"(","scoped_identity_id":")" + scope + "\"}",
                               10s);
            if (r.status != 201) {
                control_->fail("POST /api-keys: " + std::to_string(r.status) + " " + r.body);
                return;
            }
            dom::parser p;
            dom::element doc;
            std::string_view key, id;
            if (p.parse(r.body).get(doc) || doc["api_key"].get_string().get(key) ||
                doc["record"]["id"].get_string().get(id)) {
                control_->fail("POST /api-keys reply: " + r.body);
                return;
            }
            std::size_t at;
            {
                std::lock_guard lock(keys_mutex_);
                at = keys_.size();
                keys_.push_back({std::string(key), std::string(id), cycle, n % 3 == 0, false});
            }
            activity_.keys.fetch_add(1);
            if (n % 3 != 0)
                continue;
            auto d = c.request("DELETE", "/api-keys/" + std::string(id), admin_headers(), {}, 10s);
            if (d.status != 204) {
                control_->fail("DELETE /api-keys: " + std::to_string(d.status) + " " + d.body);
                return;
            }
            std::lock_guard lock(keys_mutex_);
            keys_[at].revoke_acked = true;
        }
    }

    // POST /v1/calls/decide, then for answered calls the edge's status updates.
    void decider(int cycle, int d, std::uint64_t thread_seed, std::vector<tracked_call>& calls)
    {
        std::mt19937_64 rng(thread_seed);
        http_connection edge(server_->edge_address());
        header_list headers{{"X-Edge-Token", edge_token_}, {"Content-Type", "application/json"}};
        for (int n = 0; !control_->stop.load(); ++n) {
            tracked_call call;
            call.id = random_uuid(rng);
            call.cycle = cycle;
            call.remote = "+1555019" + std::to_string(d);
            switch (rng() % 8) {
            case 6:
                call.local = reject_phone;
                call.identity_id = reject_id_;
                break;
            case 7:
                call.local = "+1999" + std::to_string(1000000 + rng() % 9000000); // nobody's
                break;
            default: {
                auto i = static_cast<std::size_t>(rng() % writer_ids_.size());
                call.local = writer_phones_[i];
                call.identity_id = writer_ids_[i];
                call.expect_answer = true;
            }
            }
            calls.push_back(call);
            auto& c = calls.back();
            auto r = edge.request("POST", "/v1/calls/decide", headers,
                                  R"({"call_id":")" + c.id + R"(","local_phone_number":")" + c.local +
                                      R"(","remote_phone_number":")" + c.remote + "\"}",
                                  10s);
            if (r.status != 200) {
                control_->fail("decide: " + std::to_string(r.status) + " " + r.body);
                return;
            }
            c.replied_at = steady::now();
            c.replied = true;
            dom::parser p;
            dom::object reply;
            std::string_view action;
            if (p.parse(r.body).get_object().get(reply) || reply["action"].get_string().get(action)) {
                control_->fail("decide reply: " + r.body);
                return;
            }
            c.reply_action = std::string(action);
            c.reply_source = string_member(reply, "source").value_or("");
            c.reply_reason = string_member(reply, "reason").value_or("");
            if (reply["decided_in_us"].get_int64().get(c.reply_decided_in_us))
                c.reply_decided_in_us = -1;
            if ((c.reply_action == "answer") != c.expect_answer)
                control_->fail("decide for " + c.local + ": " + r.body);
            {
                std::lock_guard lock(barrier_mutex_);
                latest_decided_ = c.id;
            }
            activity_.decisions.fetch_add(1);
            if (n % 16 == 0)
                control_->notify();
            if (c.reply_action != "answer")
                continue;
            for (const char* status : {R"({"status":"answered"})", R"({"status":"completed","hangup_reason":"remote"})"}) {
                ++c.status_sent;
                auto s = edge.request("POST", "/v1/calls/" + c.id + "/status", headers, status, 10s);
                if (s.status != 204) {
                    control_->fail("status update: " + std::to_string(s.status) + " " + s.body);
                    return;
                }
                ++c.status_acked;
                activity_.statuses.fetch_add(1);
            }
        }
    }

    // Every few dozen decisions, GET /calls/{id} of the call decided last: it must be readable (the
    // read first writes what is queued), and then every call decided before the read was sent is on
    // disk. Records when the last such read was sent.
    void barrier_reader()
    {
        http_connection c(server_->api_address());
        int seen = -1;
        while (!control_->stop.load()) {
            {
                std::unique_lock lock(control_->mutex);
                control_->progress.wait_for(lock, 100ms, [&] {
                    return control_->stop.load() || activity_.decisions.load() >= seen + 48;
                });
            }
            if (control_->stop.load())
                return;
            seen = activity_.decisions.load();
            std::string latest;
            {
                std::lock_guard lock(barrier_mutex_);
                latest = latest_decided_;
            }
            if (latest.empty())
                continue;
            auto sent = steady::now();
            auto r = c.request("GET", "/calls/" + latest, admin_headers(), {}, 10s);
            if (r.status != 200) {
                control_->fail("GET /calls/" + latest + " of an answered decision: " + std::to_string(r.status) +
                               " " + r.body);
                return;
            }
            std::lock_guard lock(barrier_mutex_);
            last_barrier_ = sent;
            activity_.barriers.fetch_add(1);
        }
    }

    // Bridged calls one after another on the edge stream: answer, audio both ways, the caller hangs up.
    void bridge_caller(int cycle, int b, std::uint64_t thread_seed, std::vector<tracked_call>& calls)
    {
        std::mt19937_64 rng(thread_seed);
        auto& agent = *agents_[static_cast<std::size_t>(b)];
        while (!control_->stop.load()) {
            tracked_call call;
            call.what = tracked_call::kind::bridged;
            call.id = random_uuid(rng);
            call.cycle = cycle;
            call.local = bridge_phones_[static_cast<std::size_t>(b)];
            call.remote = "+15550199";
            call.identity_id = bridge_ids_[static_cast<std::size_t>(b)];
            call.expect_answer = true;
            calls.push_back(call);
            auto& c = calls.back();
            auto fail = [&](const std::string& what) { control_->fail("bridge " + std::to_string(b) + ": " + what); };

            auto dialled = dial_edge(server_->edge_address(), "/v1/calls/stream", edge_token_);
            if (!dialled.peer)
                return fail("dial refused: " + std::to_string(dialled.http_status));
            auto& edge = *dialled.peer;
            if (!edge.send(incoming_call(c.id, c.local)))
                return fail("incoming_call not sent");
            // The engine dials the agent; a connection left from an earlier cycle's call is not ours.
            std::unique_ptr<ws_peer> client;
            auto deadline = steady::now() + 20s;
            while (!client && !control_->stop.load() && steady::now() < deadline) {
                auto next = agent.accept(100ms);
                if (next && next->header("X-Call-Context").find(c.id) != std::string::npos)
                    client = std::move(next);
            }
            if (!client)
                return fail("the engine never dialled the agent");
            auto decision = edge.read(10s);
            if (decision.what != ws_frame::kind::data || decision.data.find(R"("action":"answer")") == std::string::npos)
                return fail("no answer: " + decision.data);
            c.replied = true;
            c.replied_at = steady::now();
            c.reply_action = "answer";
            auto start = client->read(10s);
            if (start.what != ws_frame::kind::data || start.data.find(R"("event":"start")") == std::string::npos)
                return fail("no start: " + start.data);
            for (int i = 0; i < audio_frames_per_call; ++i) {
                if (!edge.send(audio(i, 1), true))
                    return fail("edge send");
                auto to_client = client->read(10s);
                if (to_client.what != ws_frame::kind::data)
                    return fail("client read");
                if (!client->send(audio(i, 2), true))
                    return fail("client send");
                auto to_edge = edge.read(10s);
                if (to_edge.what != ws_frame::kind::data || to_edge.data != audio(i, 2))
                    return fail("edge read");
            }
            c.stop_sent = true;
            if (!edge.send(R"({"event":"stop","reason":"remote"})"))
                return fail("stop not sent");
            auto stop = client->read(10s);
            if (stop.what != ws_frame::kind::data || stop.data.find(R"("event":"stop")") == std::string::npos)
                return fail("client got no stop: " + stop.data);
            if (client->read(10s).what != ws_frame::kind::closed || edge.read(10s).what != ws_frame::kind::closed)
                return fail("not closed after stop");
            activity_.bridged.fetch_add(1);
        }
    }

    // --- Checks after a restart --------------------------------------------------

    // The restarted process logged only info lines up to "ready", and its store is writable.
    void check_clean_start(int cycle, const std::string& log)
    {
        std::size_t at = 0;
        bool ready = false;
        while (at < log.size() && !ready) {
            auto end = log.find('\n', at);
            auto line = log.substr(at, end == std::string::npos ? std::string::npos : end - at);
            at = end == std::string::npos ? log.size() : end + 1;
            // "<time> <level> <event> key=value..."
            auto level_at = line.find(' ') + 1;
            auto level = line.substr(level_at, line.find(' ', level_at) - level_at);
            EXPECT_EQ(level, "info") << "cycle " << cycle << ": the restart logged " << line;
            ready = line.find(" info ready ") != std::string::npos;
        }
        EXPECT_TRUE(ready) << "cycle " << cycle << ": no ready line in\n" << log;
        auto metrics = http_request(server_->api_address(), "GET", "/metrics").body;
        EXPECT_NE(metrics.find("\ncallgate_store_health{state=\"ok\"} 1\n"), std::string::npos)
            << "cycle " << cycle << ": the store is not writable after the restart";
    }

    void check_actions(int cycle)
    {
        for (const auto& id : writer_ids_) {
            auto r = api("GET", "/incoming-call-action?agent_identity_id=" + id);
            ASSERT_EQ(r.status, 200) << "cycle " << cycle << ": " << r.body;
            auto& want = acknowledged_actions_[id];
            auto url = in_flight_urls_.count(id) ? in_flight_urls_[id] : std::string();
            bool in_flight_match = !url.empty() && r.body.find("\"" + url + "\"") != std::string::npos;
            EXPECT_TRUE(r.body == want || in_flight_match)
                << "cycle " << cycle << " lost an acknowledged PUT:\n  got  " << r.body << "\n  want " << want
                << "\n  or the one in flight with " << url;
            want = r.body; // the baseline for the next cycle
        }
        in_flight_urls_.clear();
    }

    // GET /identities, all pages: handle → (id, object JSON).
    std::map<std::string, std::pair<std::string, std::string>> list_identities()
    {
        std::map<std::string, std::pair<std::string, std::string>> out;
        dom::parser p;
        for (std::size_t offset = 0;; offset += 200) {
            auto r = api("GET", "/identities?limit=200&offset=" + std::to_string(offset));
            EXPECT_EQ(r.status, 200) << r.body;
            dom::array items;
            if (r.status != 200 || p.parse(r.body)["items"].get_array().get(items)) {
                ADD_FAILURE() << "GET /identities: " << r.body;
                return out;
            }
            std::size_t n = 0;
            for (auto item : items) {
                ++n;
                std::string_view handle, id;
                if (item["agent_handle"].get_string().get(handle) || item["id"].get_string().get(id)) {
                    ADD_FAILURE() << "identity without a handle or id: " << simdjson::to_string(item);
                    continue;
                }
                EXPECT_TRUE(out.emplace(std::string(handle), std::pair{std::string(id), simdjson::to_string(item)}).second)
                    << "identity listed twice: " << handle;
            }
            if (n < 200)
                return out;
        }
    }

    void check_identities(int cycle)
    {
        auto listed = list_identities();
        std::set<std::string> listed_ids;
        for (const auto& [handle, entry] : listed)
            listed_ids.insert(entry.first);
        for (const auto& id : fixed_identities_)
            EXPECT_TRUE(listed_ids.count(id)) << "cycle " << cycle << ": identity " << id << " is gone";
        std::size_t expected = fixed_identities_.size();
        for (auto& c : churned_) {
            auto it = listed.find(c.handle);
            bool present = it != listed.end();
            if (c.delete_acked)
                EXPECT_FALSE(present) << "cycle " << cycle << ": deleted identity " << c.handle << " is back";
            else if (c.create_acked && !c.delete_sent)
                EXPECT_TRUE(present) << "cycle " << cycle << ": acknowledged identity " << c.handle << " is gone";
            if (present && !c.id.empty())
                EXPECT_EQ(it->second.first, c.id) << c.handle;
            // What this restart read is the baseline for the next.
            if (present) {
                c.id = it->second.first;
                c.create_acked = true;
                c.delete_sent = c.delete_acked = false;
                ++expected;
            } else {
                c.delete_sent = c.delete_acked = true;
            }
        }
        EXPECT_EQ(listed.size(), expected) << "cycle " << cycle << ": identities the test never created";
        // A deleted identity's own read says so too.
        int probed = 0;
        for (auto it = churned_.rbegin(); it != churned_.rend() && probed < 5; ++it)
            if (it->delete_acked) {
                EXPECT_EQ(api("GET", "/identities/" + it->handle).status, 404) << it->handle;
                ++probed;
            }
    }

    void check_keys(int cycle)
    {
        auto r = api("GET", "/api-keys");
        ASSERT_EQ(r.status, 200) << r.body;
        dom::parser p;
        dom::array items;
        ASSERT_FALSE(p.parse(r.body)["items"].get_array().get(items)) << r.body;
        std::map<std::string, std::string> status_by_id;
        for (auto item : items) {
            std::string_view id, status;
            ASSERT_FALSE(item["id"].get_string().get(id) || item["status"].get_string().get(status))
                << simdjson::to_string(item);
            status_by_id[std::string(id)] = std::string(status);
        }
        for (auto& k : keys_) {
            auto it = status_by_id.find(k.id);
            ASSERT_NE(it, status_by_id.end()) << "cycle " << cycle << ": acknowledged key " << k.id << " is gone";
            if (k.revoke_acked)
                EXPECT_EQ(it->second, "revoked") << "cycle " << cycle << ": revoked key " << k.id << " is active again";
            else if (!k.revoke_sent)
                EXPECT_EQ(it->second, "active") << "cycle " << cycle << ": key " << k.id << " lost";
            // This cycle's keys: the key itself authenticates exactly when its record says active.
            if (k.cycle == cycle) {
                auto self = http_request(server_->api_address(), "GET", "/api-keys/self", {{"X-API-Key", k.key}});
                EXPECT_EQ(self.status, it->second == "active" ? 200 : 401) << k.id << " " << self.body;
                if (self.status == 200)
                    EXPECT_NE(self.body.find(k.id), std::string::npos) << self.body;
            }
            k.revoke_sent = k.revoke_acked = it->second == "revoked";
        }
    }

    // GET /calls, all pages, each record read whole.
    std::map<std::string, parsed_record> list_calls(int cycle)
    {
        std::map<std::string, parsed_record> out;
        dom::parser p;
        for (std::size_t offset = 0;; offset += 200) {
            auto r = api("GET", "/calls?limit=200&offset=" + std::to_string(offset));
            dom::array items;
            if (r.status != 200 || p.parse(r.body)["items"].get_array().get(items)) {
                ADD_FAILURE() << "cycle " << cycle << ": GET /calls offset " << offset << ": " << r.status << " "
                              << r.body.substr(0, 500);
                return out;
            }
            std::size_t n = 0;
            for (auto item : items) {
                ++n;
                parsed_record record;
                auto wrong = read_record(item, record);
                if (!wrong.empty()) {
                    ADD_FAILURE() << "cycle " << cycle << ": a half-written call record (" << wrong
                                  << "): " << simdjson::to_string(item);
                    continue;
                }
                EXPECT_TRUE(out.emplace(record.id, record).second) << "call listed twice: " << record.id;
            }
            if (n < 200)
                return out;
        }
    }

    // What this restart must find of the calls the last cycle started (see the file's comment).
    void check_call(const tracked_call& c, const parsed_record* r, steady::time_point barrier,
                    steady::time_point killed_at, int& lost_after_reply, double& oldest_lost_ms)
    {
        std::string where = "cycle " + std::to_string(c.cycle) + ", call " + c.id + ": ";
        if (r == nullptr) {
            EXPECT_FALSE(c.replied && c.replied_at < barrier)
                << where << "decided before a GET /calls that was answered, and lost";
            if (c.replied) {
                ++lost_after_reply;
                oldest_lost_ms = std::max(
                    oldest_lost_ms, std::chrono::duration<double, std::milli>(killed_at - c.replied_at).count());
            }
            auto get = api("GET", "/calls/" + c.id);
            EXPECT_EQ(get.status, 404) << where << "not listed, but GET says " << get.body;
            return;
        }
        EXPECT_EQ(r->remote_phone_number, c.remote) << where;
        EXPECT_EQ(r->local_phone_number.value_or(""), c.local) << where;
        EXPECT_EQ(r->agent_identity_id.value_or(""), c.identity_id) << where;
        EXPECT_EQ(r->action, c.expect_answer ? "answer" : "reject") << where;
        if (c.replied && c.what == tracked_call::kind::decided) {
            EXPECT_EQ(r->action, c.reply_action) << where;
            EXPECT_EQ(r->source.value_or(""), c.reply_source) << where;
            EXPECT_EQ(r->reason.value_or(""), c.reply_reason) << where;
            EXPECT_EQ(r->decided_in_us, c.reply_decided_in_us) << where;
        }
        if (c.what == tracked_call::kind::decided) {
            EXPECT_FALSE(r->has_media) << where;
            if (c.expect_answer) {
                // Every acknowledged update is there; nothing beyond what was sent.
                static const std::map<std::string, int> rank{{"ringing", 0}, {"answered", 1}, {"completed", 2}};
                auto it = rank.find(r->status);
                ASSERT_NE(it, rank.end()) << where << r->json;
                EXPECT_GE(it->second, c.status_acked) << where << "an acknowledged status update is lost: " << r->json;
                EXPECT_LE(it->second, c.status_sent) << where << r->json;
                if (r->status == "completed")
                    EXPECT_EQ(r->hangup_reason.value_or(""), "remote") << where;
            }
            return;
        }
        // Bridged: answered at the client's handshake; completed only after the caller's stop.
        if (r->status == "answered") {
            EXPECT_FALSE(r->has_media) << where << r->json;
        } else if (r->status == "completed") {
            EXPECT_TRUE(c.stop_sent) << where << "completed without a stop: " << r->json;
            EXPECT_EQ(r->hangup_reason.value_or(""), "remote") << where;
            EXPECT_TRUE(r->has_media) << where;
            EXPECT_EQ(r->e2c_frames, audio_frames_per_call + 2) << where << r->json; // + start and stop
            EXPECT_EQ(r->c2e_frames, audio_frames_per_call) << where << r->json;
            EXPECT_EQ(r->e2c_dropped + r->c2e_dropped, 0) << where << r->json;
        } else {
            ADD_FAILURE() << where << "a bridged call in state " << r->status << ": " << r->json;
        }
    }

    // --- The steps of one cycle ----------------------------------------------------

    struct cycle_run {
        std::vector<tracked_call> calls; // every call started, answered or not
        std::chrono::milliseconds delay{0};
        steady::time_point killed_at, barrier;
    };

    // Every kind of work at once; once each has made progress, kill -9 after a random delay.
    void load_then_kill(int cycle, cycle_run& run)
    {
        control_ = std::make_unique<cycle_control>();
        for (auto* counter : {&activity_.puts, &activity_.identities, &activity_.keys, &activity_.decisions,
                              &activity_.statuses, &activity_.bridged, &activity_.barriers})
            counter->store(0);
        {
            std::lock_guard lock(barrier_mutex_);
            last_barrier_ = {};
            latest_decided_.clear();
        }
        std::vector<std::vector<tracked_call>> calls(deciders + bridges);
        std::vector<std::thread> threads;
        for (int w = 0; w < put_writers; ++w)
            threads.emplace_back([this, cycle, w] { put_writer(cycle, w); });
        threads.emplace_back([this, cycle] { identity_churn(cycle); });
        threads.emplace_back([this, cycle] { key_writer(cycle); });
        for (int d = 0; d < deciders; ++d)
            threads.emplace_back([this, cycle, d, s = rng_(), &calls] {
                decider(cycle, d, s, calls[static_cast<std::size_t>(d)]);
            });
        threads.emplace_back([this] { barrier_reader(); });
        for (int b = 0; b < bridges; ++b)
            threads.emplace_back([this, cycle, b, s = rng_(), &calls] {
                bridge_caller(cycle, b, s, calls[static_cast<std::size_t>(deciders + b)]);
            });

        // (A short re-check of the condition: only deciders notify.)
        auto deadline = steady::now() + activity_deadline;
        while (!activity_.all_going() && steady::now() < deadline) {
            std::unique_lock lock(control_->mutex);
            if (!control_->unexpected.empty())
                break;
            control_->progress.wait_for(lock, 10ms);
        }
        bool going = activity_.all_going();
        run.delay = std::chrono::milliseconds(rng_() % (max_kill_delay_ms + 1));
        if (going)
            std::this_thread::sleep_for(run.delay); // the random moment is the point of the test
        control_->killing.store(true);
        run.killed_at = steady::now();
        server_->kill_hard();
        control_->stop.store(true);
        control_->notify();
        for (auto& t : threads)
            t.join();

        for (auto& per_thread : calls)
            for (auto& c : per_thread)
                run.calls.push_back(std::move(c));
        {
            std::lock_guard lock(barrier_mutex_);
            run.barrier = last_barrier_;
        }
        {
            std::lock_guard lock(control_->mutex);
            for (const auto& what : control_->unexpected)
                ADD_FAILURE() << "cycle " << cycle << ", before the kill: " << what;
        }
        ASSERT_TRUE(going) << "cycle " << cycle << ": not every kind of work got going within the deadline: puts "
                           << activity_.puts << ", identities " << activity_.identities << ", keys "
                           << activity_.keys << ", decisions " << activity_.decisions << ", statuses "
                           << activity_.statuses << ", bridged " << activity_.bridged << ", barriers "
                           << activity_.barriers << "\n"
                           << server_->log().substr(0, 4000);
    }

    // Restarts on the same data dir: clean, within deadlines.
    void restart_cleanly(int cycle, double& restart_ms)
    {
        auto began = steady::now();
        auto log_before = server_->log().size();
        ASSERT_TRUE(server_->start()) << "cycle " << cycle << ": no restart\n" << server_->log();
        ASSERT_TRUE(wait_ready()) << "cycle " << cycle << ": never ready\n" << server_->log();
        restart_ms = std::chrono::duration<double, std::milli>(steady::now() - began).count();
        ASSERT_NO_FATAL_FAILURE(check_clean_start(cycle, server_->log().substr(log_before)));
    }

    void check_config(int cycle)
    {
        ASSERT_NO_FATAL_FAILURE(check_actions(cycle));
        ASSERT_NO_FATAL_FAILURE(check_identities(cycle));
        ASSERT_NO_FATAL_FAILURE(check_keys(cycle));
    }

    struct call_tally {
        int started = 0, replied = 0, lost_after_reply = 0;
        double oldest_lost_ms = 0;
    };

    // Every record whole; what an earlier restart read unchanged; this cycle's calls as check_call says.
    void check_calls(int cycle, const cycle_run& run, call_tally& tally)
    {
        auto listed = list_calls(cycle);
        ASSERT_FALSE(HasFailure()) << "cycle " << cycle << " (seed " << seed_ << ")";
        for (const auto& [id, json] : settled_) {
            auto it = listed.find(id);
            ASSERT_NE(it, listed.end()) << "cycle " << cycle << ": call " << id << " seen at an earlier restart is gone";
            EXPECT_EQ(it->second.json, json) << "cycle " << cycle << ": call " << id << " changed after a restart";
        }
        std::set<std::string> ours;
        for (const auto& c : run.calls) {
            ++tally.started;
            tally.replied += c.replied ? 1 : 0;
            ours.insert(c.id);
            auto it = listed.find(c.id);
            check_call(c, it == listed.end() ? nullptr : &it->second, run.barrier, run.killed_at, tally.lost_after_reply,
                       tally.oldest_lost_ms);
        }
        for (const auto& [id, record] : listed)
            EXPECT_TRUE(settled_.count(id) || ours.count(id)) << "cycle " << cycle << ": a call nobody made: " << record.json;
        // GET /calls/{id} agrees with the list (a sample of this cycle's).
        int sampled = 0;
        for (const auto& id : ours) {
            auto it = listed.find(id);
            if (it == listed.end() || ++sampled > 16)
                continue;
            auto r = api("GET", "/calls/" + id);
            ASSERT_EQ(r.status, 200) << r.body;
            dom::parser p;
            dom::element e;
            ASSERT_FALSE(p.parse(r.body).get(e)) << r.body;
            EXPECT_EQ(simdjson::to_string(e), it->second.json);
        }
        settled_.clear();
        for (const auto& [id, record] : listed)
            settled_.emplace(id, record.json);
    }

    std::uint64_t seed_ = 0;
    int cycles_ = default_cycles;
    std::mt19937_64 rng_;
    std::unique_ptr<temp_dir> dir_;
    test_pki pki_;
    std::vector<std::unique_ptr<ws_test_server>> agents_;
    std::unique_ptr<server_process> server_;
    std::string edge_token_;

    static constexpr const char* reject_phone = "+15550400";
    std::vector<std::string> writer_ids_, writer_phones_, bridge_ids_, bridge_phones_;
    std::string reject_id_;
    std::set<std::string> fixed_identities_;

    std::unique_ptr<cycle_control> control_;
    activity activity_;
    std::mutex actions_mutex_;
    std::map<std::string, std::string> acknowledged_actions_; // identity id → the last 200's body
    std::map<std::string, std::string> in_flight_urls_;       // identity id → the URL of a PUT not yet answered
    std::mutex churn_mutex_;
    std::vector<churned_identity> churned_;
    std::mutex keys_mutex_;
    std::vector<minted_key> keys_;
    std::mutex barrier_mutex_;
    steady::time_point last_barrier_{};
    std::string latest_decided_; // the id of the last call whose decision a decider received
    std::map<std::string, std::string> settled_; // call id → its record as the last restart read it
};

TEST_F(crash_cycles, kill_9_while_config_records_and_bridged_calls_are_in_flight)
{
    auto test_started = steady::now();
    call_tally total;
    for (int cycle = 0; cycle < cycles_; ++cycle) {
        auto cycle_started = steady::now();
        cycle_run run;
        ASSERT_NO_FATAL_FAILURE(load_then_kill(cycle, run));
        double restart_ms = 0;
        ASSERT_NO_FATAL_FAILURE(restart_cleanly(cycle, restart_ms));
        ASSERT_NO_FATAL_FAILURE(check_config(cycle));
        call_tally tally;
        ASSERT_NO_FATAL_FAILURE(check_calls(cycle, run, tally));
        ASSERT_FALSE(HasFailure()) << "cycle " << cycle << " (seed " << seed_ << ")";
        total.lost_after_reply += tally.lost_after_reply;
        total.oldest_lost_ms = std::max(total.oldest_lost_ms, tally.oldest_lost_ms);

        std::printf("cycle %2d: killed %3lld ms after all work was going; acknowledged %d PUTs, %d identities, %d keys, "
                    "%d decisions, %d status updates, %d bridged calls; %d calls started, %d answered, %d answered "
                    "but lost (oldest %.1f ms before the kill); %zu records; restart %.0f ms; cycle %.1f s\n",
                    cycle, static_cast<long long>(run.delay.count()), activity_.puts.load(),
                    activity_.identities.load(), activity_.keys.load(), activity_.decisions.load(),
                    activity_.statuses.load(), activity_.bridged.load(), tally.started, tally.replied,
                    tally.lost_after_reply, tally.oldest_lost_ms, settled_.size(), restart_ms,
                    std::chrono::duration<double>(steady::now() - cycle_started).count());
        std::fflush(stdout);
    }
    std::printf("crash_cycles: %d cycles in %.1f s; %d answered decisions lost with the process (the oldest answered "
                "%.1f ms before the kill); seed %llu\n",
                cycles_, std::chrono::duration<double>(steady::now() - test_started).count(), total.lost_after_reply,
                total.oldest_lost_ms, static_cast<unsigned long long>(seed_));
    // The last restart also stops cleanly.
    EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
}

} // namespace
} // namespace callgate::testing
