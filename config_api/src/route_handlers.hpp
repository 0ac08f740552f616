#pragma once

// The handlers the route table in api_router.cpp names, one file a resource.
// Each runs after its route's access check (and, for keyed routes, after the
// query string is parsed) and applies the checks of config-api.md from there.

#include "route_table.hpp"

namespace callgate::config_api {

using route_reply = boost::asio::awaitable<net::http_response>;

// routes_actions.cpp: /incoming-call-action
route_reply put_action(request_context& ctx);
route_reply get_action(request_context& ctx);
route_reply delete_action(request_context& ctx);

// routes_identities.cpp: /identities
route_reply create_identity(request_context& ctx);
route_reply list_identities(request_context& ctx);
route_reply get_identity(request_context& ctx);
route_reply patch_identity(request_context& ctx);
route_reply delete_identity(request_context& ctx);
route_reply rotate_signing_key(request_context& ctx);
route_reply get_signing_key_status(request_context& ctx);

// routes_keys.cpp: /api-keys
route_reply create_api_key(request_context& ctx);
route_reply list_api_keys(request_context& ctx);
route_reply get_own_api_key(request_context& ctx);
route_reply revoke_api_key(request_context& ctx);

// routes_calls.cpp: /calls
route_reply list_calls(request_context& ctx);
route_reply get_call(request_context& ctx);

// routes_rules.cpp: phone contact rules
route_reply create_contact_rule(request_context& ctx);
route_reply list_contact_rules(request_context& ctx);
route_reply get_contact_rule(request_context& ctx);
route_reply patch_contact_rule(request_context& ctx);
route_reply delete_contact_rule(request_context& ctx);
route_reply list_org_contact_rules(request_context& ctx);

// routes_cluster.cpp: /cluster/nodes (cluster mode)
route_reply list_cluster_nodes(request_context& ctx);

// routes_system.cpp: health, readiness, metrics and the API document (open routes)
route_reply get_health(request_context& ctx);
route_reply get_readiness(request_context& ctx);
route_reply get_metrics(request_context& ctx);
route_reply get_openapi_document(request_context& ctx);

} // namespace callgate::config_api
