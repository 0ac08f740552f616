#include "callgate/cluster/tools.hpp"

#include "callgate/cluster/key_layout.hpp"
#include "callgate/engine/store.hpp"

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

namespace {

// The admin key records as etcd holds them now, with their keys' create revisions.
struct stored_admin_key {
    engine::api_key_record record;
    std::string etcd_key;
    std::int64_t create_revision = 0;
};

bool read_admin_keys(asio::io_context& io, net::etcd_client& client, const key_layout& layout,
                     std::vector<stored_admin_key>& out, std::string& error)
{
    auto range = layout.range_of(engine::column::admin_keys, "");
    net::etcd_range_request request;
    request.key = range->first;
    request.range_end = range->second;
    auto result = run<net::etcd_range_response>(io, [&] {
        return client.range(request, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    });
    if (!result.ok()) {
        error = "etcd: " + std::string(net::to_string(result.error.code)) + ": " + result.error.detail;
        return false;
    }
    for (const auto& kv : result.value.kvs) {
        std::string_view bytes;
        std::int64_t written_at = 0;
        stored_admin_key key;
        if (!unwrap_value(kv.value, bytes, written_at) || !engine::decode(bytes, key.record)) {
            error = "etcd: a malformed admin key record at " + kv.key;
            return false;
        }
        key.etcd_key = kv.key;
        key.create_revision = kv.create_revision;
        out.push_back(std::move(key));
    }
    return true;
}

} // namespace

bool list_admin_keys(const net::etcd_client_options& etcd, const std::string& prefix,
                     std::vector<engine::api_key_record>& out, std::string& error)
{
    asio::io_context io(1);
    net::etcd_client client(etcd);
    std::vector<stored_admin_key> keys;
    if (!read_admin_keys(io, client, key_layout(prefix), keys, error))
        return false;
    for (auto& k : keys)
        out.push_back(std::move(k.record));
    return true;
}

revoke_result revoke_admin_key(const net::etcd_client_options& etcd, const std::string& prefix,
                               const std::string& hash, bool allow_last, std::string& error)
{
    key_layout layout(prefix);
    asio::io_context io(1);
    net::etcd_client client(etcd);
    std::vector<stored_admin_key> keys;
    if (!read_admin_keys(io, client, layout, keys, error))
        return revoke_result::failed;
    const stored_admin_key* target = nullptr;
    const stored_admin_key* other = nullptr;
    for (const auto& k : keys)
        (k.record.hash == hash ? target : other) = &k;
    if (target == nullptr)
        return revoke_result::not_found;
    if (other == nullptr && !allow_last)
        return revoke_result::last_key;
    net::etcd_txn_request request;
    using cmp = net::etcd_compare;
    request.compare.push_back(cmp::create_revision(target->etcd_key, cmp::result::equal, target->create_revision));
    if (!allow_last)
        request.compare.push_back(cmp::create_revision(other->etcd_key, cmp::result::equal, other->create_revision));
    request.success.push_back(net::etcd_op::remove(target->etcd_key));
    auto result = run<net::etcd_txn_response>(io, [&] {
        return client.txn(std::move(request), std::chrono::steady_clock::now() + std::chrono::seconds(5));
    });
    if (!result.ok()) {
        error = "etcd: " + std::string(net::to_string(result.error.code)) + ": " + result.error.detail;
        return revoke_result::failed;
    }
    if (!result.value.succeeded) {
        error = "the admin keys changed while revoking: nothing was revoked, try again";
        return revoke_result::failed;
    }
    return revoke_result::revoked;
}

bool import_store(engine::store& local, const std::vector<engine::api_key_record>& admin_keys,
                  const net::etcd_client_options& etcd, const std::string& prefix,
                  const std::function<void(std::size_t, std::size_t)>& progress, import_report& report,
                  std::string& error, std::size_t batch)
{
    key_layout layout(prefix);
    auto written_at = now_us();
    // Everything first: the store is stopped, and a failure to read it should
    // stop the import before etcd is touched.
    std::vector<std::pair<std::string, std::string>> records;
    for (int c = 0; c < static_cast<int>(engine::column::count_); ++c) {
        auto column = static_cast<engine::column>(c);
        if (!key_layout::replicated(column))
            continue;
        bool bad_key = false;
        auto status = local.scan(column, "", 0, [&](std::string_view key, std::string_view value) {
            auto etcd_key = layout.key_of(column, key);
            if (!etcd_key) {
                bad_key = true;
                return false;
            }
            records.emplace_back(std::move(*etcd_key), wrap_value(value, written_at));
            return true;
        });
        if (!status.ok || bad_key) {
            error = "cannot read the store: " + (bad_key ? std::string("a malformed key") : status.message);
            return false;
        }
    }
    for (const auto& record : admin_keys)
        records.emplace_back(*layout.key_of(engine::column::admin_keys, record.hash),
                             wrap_value(engine::encode(record), written_at));

    asio::io_context io(1);
    net::etcd_client client(etcd);
    auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(10); };
    auto commit = [&](net::etcd_txn_request request) {
        ++report.transactions;
        return run<net::etcd_txn_response>(io, [&] { return client.txn(std::move(request), deadline()); });
    };
    auto failed = [&](const net::etcd_error& e) {
        error = "etcd: " + std::string(net::to_string(e.code)) + ": " + e.detail;
        return false;
    };
    auto marker = layout.import_marker();
    std::size_t next = 0;
    auto add_batch = [&](net::etcd_txn_request& request, std::size_t room) {
        for (; next < records.size() && room > 0; ++next, --room)
            request.success.push_back(net::etcd_op::put(records[next].first, records[next].second));
    };

    // The first: nothing under the prefix (every key's version is 0), then the marker.
    net::etcd_txn_request first;
    auto empty = net::etcd_compare::version(layout.config_prefix(), net::etcd_compare::result::equal, 0);
    empty.range_end = net::etcd_prefix_end(layout.config_prefix());
    first.compare.push_back(std::move(empty));
    first.success.push_back(net::etcd_op::put(marker, std::to_string(written_at)));
    add_batch(first, batch - 1);
    auto r = commit(std::move(first));
    if (!r.ok())
        return failed(r.error);
    if (!r.value.succeeded) {
        report.refused = true;
        error = "the etcd prefix " + layout.config_prefix() + " is not empty: import needs an empty prefix";
        return false;
    }
    auto marker_revision = r.value.revision;
    report.records = next;
    progress(next, records.size());
    // The rest, each still under our marker.
    auto ours = net::etcd_compare::create_revision(marker, net::etcd_compare::result::equal, marker_revision);
    while (next < records.size()) {
        net::etcd_txn_request request;
        request.compare.push_back(ours);
        add_batch(request, batch);
        r = commit(std::move(request));
        if (!r.ok())
            return failed(r.error);
        if (!r.value.succeeded) {
            error = "the import marker " + marker + " was removed by someone else: import stopped";
            return false;
        }
        report.records = next;
        progress(next, records.size());
    }
    net::etcd_txn_request last;
    last.compare.push_back(ours);
    last.success.push_back(net::etcd_op::remove(marker));
    r = commit(std::move(last));
    if (!r.ok())
        return failed(r.error);
    if (!r.value.succeeded) {
        error = "the import marker " + marker + " was removed by someone else";
        return false;
    }
    report.revision = r.value.revision;
    return true;
}

} // namespace callgate::cluster
