// What an operator sees, against the real binary: /metrics (checked by
// promtool, on both listeners), the histograms by decision source, webhook
// outcome and route pattern, JSON log lines with typed values, the access
// log, X-Request-ID, and that no secret ever reaches a log line.
#include "dispatch_support.hpp"

#include "callgate/testing/child_process.hpp"
#include "callgate/testing/eventually.hpp"
#include "callgate/testing/time_scale.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>

namespace callgate::testing {
namespace {

using namespace std::chrono_literals;

// The value of the sample `series` (name and labels exactly as rendered), or -1.
double sample(const std::string& metrics, const std::string& series)
{
    auto at = metrics.find("\n" + series + " ");
    if (at == std::string::npos)
        return -1;
    auto begin = at + series.size() + 2;
    auto end = metrics.find('\n', begin);
    double value = -1;
    std::from_chars(metrics.data() + begin, metrics.data() + end, value);
    return value;
}

// The lines of a log (or any text).
std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        if (end > start)
            out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// The parsed JSON log line of an http_request with this request id, if any.
std::optional<engine::json_object> access_line(const std::string& log, const std::string& request_id)
{
    for (const auto& line : lines_of(log)) {
        if (line.find("\"event\":\"http_request\"") == std::string::npos ||
            line.find("\"request_id\":\"" + request_id + "\"") == std::string::npos)
            continue;
        engine::json_object doc;
        if (doc.parse(line) == engine::json_parse_error::ok)
            return doc;
    }
    return std::nullopt;
}

std::int64_t integer_of(const engine::json_object& doc, const std::string& key)
{
    const auto* f = doc.find(key);
    return f != nullptr && f->type == engine::json_type::integer ? f->integer : -1;
}

bool is_generated_id(const std::string& id) { return std::regex_match(id, std::regex("[0-9a-f]{32}")); }

// promtool's verdict on a /metrics text: its exit code and what it printed.
struct promtool_verdict {
    int exit_code = -1;
    std::string output;
};

promtool_verdict promtool_check(const std::string& dir, const std::string& metrics)
{
    std::string input = dir + "/metrics.txt", output = dir + "/promtool.txt";
    std::ofstream(input) << metrics;
    int pid = spawn_process({"/bin/sh", "-c", "exec promtool check metrics < '" + input + "'"},
                            {"PATH=/usr/bin:/bin"}, output);
    promtool_verdict verdict;
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
        verdict.exit_code = exit_code_of(status);
    std::ifstream in(output);
    verdict.output.assign(std::istreambuf_iterator<char>(in), {});
    return verdict;
}

// callgate with JSON logs and an identity whose action is decided from config.
class observability : public dispatch_test {
protected:
    std::vector<std::string> extra_args() const override
    {
        return {"--allow-private-destinations", "--webhook-timeout-ms", "1500", "--log-format", "json"};
    }

    void SetUp() override
    {
        dispatch_test::SetUp();
        if (HasFatalFailure())
            return;
        id_ = create_identity("bot", "+15550100");
        set_action(id_, "auto_accept", "wss://agent.example.com/ws", "");
    }

    std::string edge_metrics(const header_list& headers)
    {
        return http_request(server_->edge_address(), "GET", "/metrics", headers).body;
    }

    std::string id_;
};

TEST_F(observability, metrics_pass_promtool_without_a_warning)
{
    if (::access("/usr/bin/promtool", X_OK) != 0)
        GTEST_SKIP() << "promtool is not installed (scripts/deps installs the prometheus package)";
    // Traffic that fills every labelled family: decisions, webhooks, routes, a 404.
    decide_number("+15550100");
    decide_number("+15550999");
    auto hook_id = create_identity("hooked", "+15550101");
    set_action(hook_id, "webhook", "wss://agent.example.com/ws", hook_->url());
    hook_->set_reply([](const received_request&) { return canned_reply{200, R"({"action":"answer"})"}; });
    decide_number("+15550101");
    api("GET", "/no/such/path");
    api("GET", "/identities/bot");

    auto text = metrics();
    auto verdict = promtool_check(dir_->path(), text);
    EXPECT_EQ(verdict.exit_code, 0) << verdict.output;
    EXPECT_EQ(verdict.output, "") << verdict.output;
    // No label is ever empty.
    EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
}

TEST_F(observability, build_info_and_process_metrics_have_sane_values)
{
    std::string version;
    ASSERT_EQ(server_process::run_command({"--version"}, version), 0);
    auto m = metrics();
    std::smatch found;
    ASSERT_TRUE(std::regex_search(m, found, std::regex("\ncallgate_build_info\\{version=\"([^\"]+)\",commit=\"([^\"]+)\"\\} 1\n")))
        << m;
    EXPECT_NE(version.find(found[1].str()), std::string::npos) << version;
    EXPECT_TRUE(std::regex_match(found[2].str(), std::regex("[0-9a-f]{12}|unknown"))) << found[2];

    EXPECT_GT(sample(m, "process_cpu_seconds_total"), 0);
    EXPECT_GT(sample(m, "process_resident_memory_bytes"), 1 << 20);
    EXPECT_GE(sample(m, "process_virtual_memory_bytes"), sample(m, "process_resident_memory_bytes"));
    auto fds = sample(m, "process_open_fds");
    EXPECT_GT(fds, 3);
    EXPECT_LE(fds, sample(m, "process_max_fds"));
    auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto started = sample(m, "process_start_time_seconds");
    EXPECT_LE(started, now + 1) << m;
    EXPECT_GT(started, now - 600) << "the server started in this test, not ten minutes ago";
}

TEST_F(observability, a_cache_hit_decision_lands_in_a_microsecond_bucket_under_its_source)
{
    constexpr int decisions = 10; // all cache hits: the identity was cached when it was written
    for (int i = 0; i < decisions; ++i)
        decide_number("+15550100");
    auto m = metrics();
    EXPECT_EQ(sample(m, "callgate_decision_duration_seconds_count{source=\"config\"}"), decisions) << m;
    EXPECT_EQ(sample(m, "callgate_cache_misses_total"), 0) << m;
    // Buckets from 1 µs to the webhook budget (1.5 s here).
    EXPECT_GE(sample(m, "callgate_decision_duration_seconds_bucket{source=\"config\",le=\"1e-06\"}"), 0);
    EXPECT_EQ(sample(m, "callgate_decision_duration_seconds_bucket{source=\"config\",le=\"1.5\"}"), decisions);
    // A cache hit takes microseconds: at least one of them is in a bucket
    // under a millisecond (scaled for sanitizer builds; one, not all, since a
    // loaded 2-core machine may preempt any single decision).
    double bound = 0.001 * time_scale();
    const char* les[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05"};
    const double values[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05};
    std::size_t i = 0;
    while (i + 1 < std::size(values) && values[i] < bound)
        ++i;
    EXPECT_GE(sample(m, std::string("callgate_decision_duration_seconds_bucket{source=\"config\",le=\"") + les[i] +
                            "\"}"),
              1)
        << m;
    EXPECT_EQ(m.find("callgate_decision_duration_seconds_count{source=\"webhook\"}"), std::string::npos)
        << "a source with no decision has no series";
}

TEST_F(observability, webhook_durations_are_kept_by_outcome)
{
    auto hook_id = create_identity("hooked", "+15550101");
    set_action(hook_id, "webhook", "wss://agent.example.com/ws", hook_->url());
    hook_->set_reply([](const received_request&) { return canned_reply{200, R"({"action":"answer"})"}; });
    decide_number("+15550101");
    hook_->set_reply([](const received_request&) { return canned_reply{200, R"({"action":"reject"})"}; });
    decide_number("+15550101");
    decide_number("+15550101");
    auto m = metrics();
    EXPECT_EQ(sample(m, "callgate_webhook_duration_seconds_count{outcome=\"answer\"}"), 1) << m;
    EXPECT_EQ(sample(m, "callgate_webhook_duration_seconds_count{outcome=\"reject\"}"), 2) << m;
    EXPECT_EQ(sample(m, "callgate_decision_duration_seconds_count{source=\"webhook\"}"), 3) << m;
}

TEST_F(observability, request_durations_are_kept_by_listener_and_route_pattern)
{
    api("GET", "/identities/bot");
    api("GET", "/api/v1/identities/bot");
    api("GET", "/identities/" + std::string(40, 'x')); // 404 from its handler: still the pattern
    api("GET", "/nothing/here/at-all");
    decide_number("+15550100");
    auto m = metrics();
    EXPECT_EQ(sample(m, "callgate_http_request_duration_seconds_count{listener=\"api\",route=\"/identities/{agent_handle}\"}"),
              3)
        << m;
    EXPECT_EQ(sample(m, "callgate_http_request_duration_seconds_count{listener=\"api\",route=\"unmatched\"}"), 1);
    EXPECT_EQ(sample(m, "callgate_http_request_duration_seconds_count{listener=\"edge\",route=\"/v1/calls/decide\"}"),
              1);
    EXPECT_EQ(m.find("nothing/here"), std::string::npos) << "a raw path became a label";
    EXPECT_EQ(m.find("route=\"/identities/bot\""), std::string::npos);
}

TEST_F(observability, the_edge_listener_serves_the_same_metrics_behind_its_token)
{
    auto refused = http_request(server_->edge_address(), "GET", "/metrics");
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(http_request(server_->edge_address(), "GET", "/metrics", {{"X-Edge-Token", "et_wrong"}}).status, 401);
    EXPECT_EQ(http_request(server_->edge_address(), "POST", "/metrics", {{"X-Edge-Token", server_->edge_token()}}).status,
              405);
    auto with_header = http_request(server_->edge_address(), "GET", "/metrics", {{"X-Edge-Token", server_->edge_token()}});
    ASSERT_EQ(with_header.status, 200);
    EXPECT_EQ(with_header.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    auto with_bearer = edge_metrics({{"Authorization", "Bearer " + server_->edge_token()}});
    auto families = [](const std::string& text) {
        std::set<std::string> out;
        for (const auto& line : lines_of(text))
            if (line.rfind("# TYPE ", 0) == 0)
                out.insert(line);
        return out;
    };
    auto from_api = families(metrics());
    EXPECT_GT(from_api.size(), 20u);
    EXPECT_EQ(families(with_header.body), from_api);
    EXPECT_EQ(families(with_bearer), from_api);
}

TEST_F(observability, request_ids_are_honoured_generated_and_echoed)
{
    auto honoured = api_connection_->request("GET", "/healthz", {{"X-Request-ID", "trace-4f2a:1/2=3@x"}});
    EXPECT_EQ(honoured.header("X-Request-ID"), "trace-4f2a:1/2=3@x");
    auto generated = api_connection_->request("GET", "/healthz");
    EXPECT_TRUE(is_generated_id(generated.header("X-Request-ID"))) << generated.header("X-Request-ID");
    EXPECT_NE(api_connection_->request("GET", "/healthz").header("X-Request-ID"), generated.header("X-Request-ID"));
    // Not sane (a space, a quote, too long, empty): replaced, never echoed.
    for (std::string bad : {std::string("has space"), std::string("quote\"d"), std::string(129, 'a'), std::string("")}) {
        auto r = api_connection_->request("GET", "/healthz", {{"X-Request-ID", bad}});
        EXPECT_TRUE(is_generated_id(r.header("X-Request-ID"))) << bad << " -> " << r.header("X-Request-ID");
    }
    EXPECT_EQ(api_connection_->request("GET", "/healthz", {{"X-Request-ID", std::string(128, 'b')}})
                  .header("X-Request-ID"),
              std::string(128, 'b'));
    // The edge listener too, errors included; and the log lines of the decision carry it.
    auto e = http_request(server_->edge_address(), "POST", "/v1/calls/decide", {{"X-Request-ID", "edge-req-1"}}, "{}");
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.header("X-Request-ID"), "edge-req-1");
    auto malformed = raw_connection(server_->api_address());
    ASSERT_TRUE(malformed.send("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"));
    auto reply = malformed.read_until_close(5s);
    EXPECT_TRUE(std::regex_search(reply, std::regex("\r\nX-Request-ID: [0-9a-f]{32}\r\n"))) << reply;
}

TEST_F(observability, every_request_gets_an_access_log_line_on_each_listener)
{
    auto r = api_connection_->request("GET", "/identities/bot", {{"X-API-Key", admin}, {"X-Request-ID", "api-line-1"}});
    ASSERT_EQ(r.status, 200);
    auto e = edge_connection_->request("POST", "/v1/calls/decide",
                                       {{"X-Edge-Token", server_->edge_token()},
                                        {"Content-Type", "application/json"},
                                        {"X-Request-ID", "edge-line-1"}},
                                       R"({"local_phone_number":"+15550100","remote_phone_number":"+15550199"})");
    ASSERT_EQ(e.status, 200) << e.body;
    api_connection_->request("GET", "/no/such", {{"X-Request-ID", "api-line-2"}});

    std::optional<engine::json_object> api_line, edge_line, unmatched;
    ASSERT_TRUE(eventually([&] {
        auto log = server_->log();
        api_line = access_line(log, "api-line-1");
        edge_line = access_line(log, "edge-line-1");
        unmatched = access_line(log, "api-line-2");
        return api_line && edge_line && unmatched;
    })) << server_->log();

    EXPECT_EQ(text_of(*api_line, "listener"), "api");
    EXPECT_EQ(text_of(*api_line, "method"), "GET");
    EXPECT_EQ(text_of(*api_line, "route"), "/identities/{agent_handle}");
    EXPECT_EQ(integer_of(*api_line, "status"), 200);
    EXPECT_GT(integer_of(*api_line, "bytes_sent"), static_cast<std::int64_t>(r.body.size()));
    EXPECT_GE(integer_of(*api_line, "duration_us"), 0);
    EXPECT_NE(text_of(*api_line, "remote").find("127.0.0.1:"), std::string::npos);
    EXPECT_EQ(text_of(*api_line, "level"), "info");
    EXPECT_NE(text_of(*api_line, "msg").find("GET /identities/{agent_handle} answered 200"), std::string::npos);

    EXPECT_EQ(text_of(*edge_line, "listener"), "edge");
    EXPECT_EQ(text_of(*edge_line, "method"), "POST");
    EXPECT_EQ(text_of(*edge_line, "route"), "/v1/calls/decide");
    EXPECT_EQ(integer_of(*edge_line, "status"), 200);
    EXPECT_GT(integer_of(*edge_line, "bytes_sent"), static_cast<std::int64_t>(e.body.size()));
    EXPECT_GE(integer_of(*edge_line, "duration_us"), 0);

    EXPECT_EQ(text_of(*unmatched, "route"), "unmatched");
    EXPECT_EQ(integer_of(*unmatched, "status"), 404);
}

TEST_F(observability, json_log_lines_carry_a_message_and_typed_values)
{
    server_->stop(SIGTERM);
    std::size_t lines = 0;
    bool saw_ready = false;
    for (const auto& line : lines_of(server_->log())) {
        ++lines;
        engine::json_object doc;
        ASSERT_EQ(doc.parse(line), engine::json_parse_error::ok) << line;
        for (const char* key : {"time", "level", "event", "msg"}) {
            const auto* f = doc.find(key);
            ASSERT_NE(f, nullptr) << key << " missing: " << line;
            EXPECT_EQ(f->type, engine::json_type::string) << line;
            EXPECT_FALSE(f->text.empty()) << key << " empty: " << line;
        }
        if (text_of(doc, "event") == "ready") {
            saw_ready = true;
            EXPECT_GE(integer_of(doc, "threads"), 1) << "a number, not a string: " << line;
        }
        if (text_of(doc, "event") == "draining")
            EXPECT_EQ(integer_of(doc, "shutdown_delay_ms"), 0) << line;
    }
    EXPECT_GE(lines, 4u);
    EXPECT_TRUE(saw_ready);
}

TEST_F(observability, no_secret_reaches_the_log)
{
    // Keys, a signing key, webhook signatures, the edge token in both headers.
    auto created = api("POST", "/api-keys", R"({"label":"scoped","scoped_identity_id":")" + id_ + "\"}");
    ASSERT_EQ(created.status, 201) << created.body;
    engine::json_object doc;
    ASSERT_EQ(doc.parse(created.body), engine::json_parse_error::ok);
    std::string scoped = text_of(doc, "api_key");
    ASSERT_GT(scoped.size(), 16u) << created.body;
    EXPECT_EQ(api_connection_->request("GET", "/api-keys/self", {{"X-API-Key", scoped}}).status, 200);
    EXPECT_EQ(api_connection_->request("GET", "/api-keys/self", {{"Authorization", "Bearer " + scoped}}).status, 200);
    EXPECT_EQ(api_connection_->request("GET", "/api-keys/self", {{"X-API-Key", "cg_not_a_real_key_but_secretish"}}).status,
              401);
    std::string signing_key = rotate_signing_key("bot");
    ASSERT_FALSE(signing_key.empty());
    set_action(id_, "webhook", "wss://agent.example.com/ws", hook_->url());
    hook_->set_reply([](const received_request&) { return canned_reply{500, "nope"}; });
    decide_number("+15550100"); // webhook_error: logged with its detail
    hook_->set_reply([](const received_request&) { return canned_reply{200, R"({"action":"answer"})"}; });
    auto answered = decide_number("+15550100"); // signed client headers in the reply
    edge_metrics({{"Authorization", "Bearer " + server_->edge_token()}});
    edge_metrics({{"X-Edge-Token", server_->edge_token()}});
    server_->stop(SIGTERM);

    std::vector<std::string> secrets{admin, scoped, "cg_not_a_real_key_but_secretish", signing_key,
                                     server_->edge_token()};
    if (signing_key.rfind("whsec_", 0) == 0)
        secrets.push_back(signing_key.substr(6));
    for (const auto& r : hook_->requests())
        for (const char* h : {"X-Inkbox-Signature", "webhook-signature"})
            if (!r.header(h).empty())
                secrets.push_back(r.header(h));
    ASSERT_GE(secrets.size(), 9u) << "the webhook requests were not signed";
    const auto* headers = answered.find("client_websocket_headers");
    ASSERT_NE(headers, nullptr);
    if (const auto* signature = headers->find("X-Inkbox-Signature"))
        secrets.push_back(signature->text);
    auto log = server_->log();
    ASSERT_NE(log.find("\"event\":\"http_request\""), std::string::npos);
    for (const auto& secret : secrets)
        EXPECT_EQ(log.find(secret), std::string::npos) << "a secret in the log: " << secret;
    EXPECT_EQ(log.find("Authorization"), std::string::npos);
    EXPECT_EQ(log.find("Bearer"), std::string::npos);
}

class observability_access_log_off : public observability {
protected:
    std::vector<std::string> extra_args() const override
    {
        auto args = observability::extra_args();
        args.push_back("--access-log=off");
        return args;
    }
};

TEST_F(observability_access_log_off, there_are_no_access_lines_and_ids_still_work)
{
    auto r = api_connection_->request("GET", "/healthz", {{"X-Request-ID", "quiet-1"}});
    EXPECT_EQ(r.header("X-Request-ID"), "quiet-1");
    decide_number("+15550100");
    // The access log switch does not turn the request metrics off.
    EXPECT_EQ(sample(metrics(), "callgate_http_request_duration_seconds_count{listener=\"edge\",route=\"/v1/calls/decide\"}"),
              1);
    server_->stop(SIGTERM);
    auto log = server_->log();
    EXPECT_EQ(log.find("http_request"), std::string::npos) << log;
    EXPECT_NE(log.find("\"event\":\"ready\""), std::string::npos);
}

} // namespace
} // namespace callgate::testing
