// Round-trip latency of the etcd client against a running etcd:
//   etcd_client_bench <endpoint> [count]
// Sequential calls, one at a time: a compare-and-put transaction (what a
// config write is), a single-key range and a status (no disk: the JSON
// gateway's own cost). Prints p50/p99/max in microseconds.

#include "callgate/net/etcd_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace callgate::net;
using steady = std::chrono::steady_clock;

void report(const char* what, std::vector<double>& us, int failures)
{
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us.empty() ? 0.0 : us[static_cast<std::size_t>(q * (us.size() - 1))]; };
    std::printf("%-8s n=%zu failures=%d p50=%.0fus p99=%.0fus max=%.0fus\n", what, us.size(), failures, at(0.5),
                at(0.99), us.empty() ? 0.0 : us.back());
}

asio::awaitable<void> run(etcd_client& client, int count)
{
    std::vector<double> txn_us, range_us, status_us;
    int txn_failures = 0, range_failures = 0, status_failures = 0;
    std::int64_t revision = 0;
    // Awaitables are built outside co_await (GCC 12 and class-type temporaries: docs/decisions.md).
    auto seed_op = client.put("/bench/k", "0");
    auto seed = co_await std::move(seed_op);
    revision = seed.value;
    for (int i = 0; i < count; ++i) {
        etcd_txn_request t;
        t.compare = {etcd_compare::mod_revision("/bench/k", etcd_compare::result::equal, revision)};
        t.success = {etcd_op::put("/bench/k", std::to_string(i)), etcd_op::put("/bench/index/" + std::to_string(i), "x")};
        auto start = steady::now();
        auto txn_op = client.txn(std::move(t));
        auto r = co_await std::move(txn_op);
        txn_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
        if (!r.ok() || !r.value.succeeded)
            ++txn_failures;
        else
            revision = r.value.revision;

        start = steady::now();
        etcd_range_request get;
        get.key = "/bench/k";
        auto range_op = client.range(std::move(get));
        auto g = co_await std::move(range_op);
        range_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
        range_failures += g.ok() ? 0 : 1;

        start = steady::now();
        auto status_op = client.status();
        auto s = co_await std::move(status_op);
        status_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
        status_failures += s.ok() ? 0 : 1;
    }
    auto cleanup = client.delete_range("/bench/", etcd_prefix_end("/bench/"));
    (void)co_await std::move(cleanup);
    report("txn", txn_us, txn_failures);
    report("range", range_us, range_failures);
    report("status", status_us, status_failures);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <endpoint> [count]\n", argv[0]);
        return 2;
    }
    int count = argc > 2 ? std::stoi(argv[2]) : 1000;
    etcd_client_options o;
    o.endpoints = {argv[1]};
    etcd_client client(o);
    asio::io_context ioc;
    asio::co_spawn(ioc, run(client, count), asio::detached);
    ioc.run();
    return 0;
}
