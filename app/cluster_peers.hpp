#pragma once

#include "callgate/config_api/api_router.hpp"

#include <memory>
#include <string>

namespace callgate::cluster {
class replicated_store;
}

namespace callgate::app {

// Cluster mode's view of the other nodes for the config API: the registry's
// live nodes, and GET requests forwarded to all of them at once (1 s each),
// over their advertised API URLs. `ca_file` adds trust anchors for nodes
// that serve TLS. Throws what net::outbound_client throws for a bad CA file.
config_api::cluster_peers make_cluster_peers(cluster::replicated_store& store, const std::string& ca_file);

} // namespace callgate::app
