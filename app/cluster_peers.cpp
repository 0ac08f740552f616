#include "cluster_peers.hpp"

#include "callgate/cluster/replicated_store.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/net/outbound_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace callgate::app {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

constexpr auto peer_timeout = std::chrono::seconds(1);

std::string nodes_json(const cluster::replicated_store& store)
{
    engine::json_writer w;
    w.begin_object().key("items").begin_array();
    for (const auto& n : store.nodes())
        w.begin_object()
            .field("name", n.name)
            .field("api_url", n.api_url)
            .field("applied_revision", n.applied_revision)
            .field("etcd_revision", n.etcd_revision)
            .field("last_seen", n.last_seen)
            .end_object();
    w.end_array().end_object();
    return w.take();
}

// Every other live node asked at once; the answers by the deadline.
asio::awaitable<std::vector<config_api::peer_reply>> ask_peers(cluster::replicated_store& store,
                                                               std::shared_ptr<net::outbound_client> client,
                                                               std::string target, std::string api_key)
{
    struct gathering {
        std::vector<config_api::peer_reply> replies;
        std::size_t pending = 0;
        asio::steady_timer all_in;
        explicit gathering(asio::any_io_executor ex) : all_in(std::move(ex)) {}
    };
    auto executor = co_await asio::this_coro::executor;
    auto g = std::make_shared<gathering>(executor);
    auto deadline = steady::now() + peer_timeout;
    g->all_in.expires_at(deadline);
    for (const auto& node : store.nodes()) {
        if (node.name == store.node_name() || node.api_url.empty())
            continue;
        auto index = g->replies.size();
        g->replies.push_back({node.name, 0, {}});
        ++g->pending;
        asio::co_spawn(
            executor,
            [g, client, index, url = node.api_url + target, api_key, deadline]() -> asio::awaitable<void> {
                std::vector<std::pair<std::string, std::string>> headers{
                    {"X-API-Key", api_key}, {std::string(config_api::forwarded_header), "1"}};
                auto op = client->get(url, std::move(headers), deadline);
                auto r = co_await std::move(op);
                if (r.error == net::outbound_error::none) {
                    g->replies[index].status = r.status;
                    g->replies[index].body = std::move(r.body);
                }
                if (--g->pending == 0)
                    g->all_in.cancel();
            },
            asio::detached);
    }
    if (g->pending > 0) {
        boost::system::error_code ignored;
        co_await g->all_in.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    // Answers that come later land in `g`, which nobody reads any more.
    co_return g->replies;
}

} // namespace

config_api::cluster_peers make_cluster_peers(cluster::replicated_store& store, const std::string& ca_file)
{
    net::outbound_options o;
    o.allow_private_destinations = true; // nodes live on private networks, by design
    o.allow_insecure = true;             // and their API may be plain http:// behind the edge
    o.ca_file = ca_file;
    o.connect_timeout = std::chrono::milliseconds(500);
    o.max_reply_body = 16u << 20;          // up to 10,000 call records
    o.breaker_failures = 1'000'000;        // a node that restarts is asked again at once
    o.user_agent = "callgate-peer";
    auto client = std::make_shared<net::outbound_client>(o);
    config_api::cluster_peers peers;
    peers.nodes_json = [&store] { return nodes_json(store); };
    peers.ask = [&store, client](std::string target, std::string api_key) {
        return ask_peers(store, client, std::move(target), std::move(api_key));
    };
    return peers;
}

} // namespace callgate::app
