#pragma once

#include "serve_options.hpp"

#include "callgate/net/etcd_client.hpp"

namespace callgate::app {

// The etcd client's options from the --etcd-* settings.
net::etcd_client_options etcd_settings(const serve_options& options);

} // namespace callgate::app
