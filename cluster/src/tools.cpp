#include "callgate/cluster/tools.hpp"

#include "callgate/cluster/key_layout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>

namespace callgate::cluster {
namespace {

namespace asio = boost::asio;

// Runs one etcd call to completion on `io` (which must outlive the client).
template <class T, class Make>
net::etcd_result<T> run(asio::io_context& io, Make make)
{
    io.restart();
    auto future = asio::co_spawn(
        io,
        [&make]() -> asio::awaitable<net::etcd_result<T>> {
            auto op = make();
            auto result = co_await std::move(op);
            co_return result;
        },
        asio::use_future);
    io.run();
    return future.get();
}

std::int64_t now_us()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

bool register_admin_key(const net::etcd_client_options& etcd, const std::string& prefix,
                        const engine::api_key_record& record, std::string& error)
{
    key_layout layout(prefix);
    auto key = layout.key_of(engine::column::admin_keys, record.hash);
    if (!key) {
        error = "not an admin key record";
        return false;
    }
    asio::io_context io(1);
    net::etcd_client client(etcd);
    net::etcd_txn_request request;
    request.compare.push_back(net::etcd_compare::absent(*key));
    request.success.push_back(net::etcd_op::put(*key, wrap_value(engine::encode(record), now_us())));
    auto result = run<net::etcd_txn_response>(io, [&] {
        return client.txn(std::move(request), std::chrono::steady_clock::now() + std::chrono::seconds(5));
    });
    if (!result.ok()) {
        error = "etcd: " + std::string(net::to_string(result.error.code)) + ": " + result.error.detail;
        return false;
    }
    return true;
}

} // namespace callgate::cluster
