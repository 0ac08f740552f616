// /cluster/nodes: the live nodes of a cluster (cluster.md).
#include "route_handlers.hpp"

#include "request_context.hpp"

namespace callgate::config_api {

route_reply list_cluster_nodes(request_context& ctx)
{
    if (!ctx.options.cluster)
        co_return net::json_error(404, "Not in cluster mode");
    co_return net::json_response(200, ctx.options.cluster->nodes_json());
}

} // namespace callgate::config_api
