#pragma once

#include "callgate/config_api/api_router.hpp"
#include "callgate/net/http_server.hpp"
#include "callgate/net/route_table.hpp"

namespace callgate::config_api {

struct request_context;

// Serves one matched request. The context outlives the returned coroutine.
using route_handler = boost::asio::awaitable<net::http_response> (*)(request_context&);

// One row of the config API's route table (net/route_table.hpp): each method
// and path is declared once, with who may call it and what serves it.
struct route {
    std::string_view method;  // "GET"
    std::string_view pattern; // "/identities/{agent_handle}": a {name} segment matches any non-empty one
    route_access access;
    route_handler handler;
};

using net::path_params;
using net::route_lookup;
using route_match = net::route_match<route>;
using route_table = net::route_table<route>;

} // namespace callgate::config_api
