#pragma once

#include "serve_options.hpp"

namespace callgate::app {

// Runs `callgate serve` until SIGTERM/SIGINT. Returns the process exit code:
// 0 after a clean drain, 1 for a runtime failure, 2 for an unusable data dir.
int run_server(const serve_options& options);

// `callgate admin-key create`: registers and prints a new admin key — in
// <data-dir>/admin_keys, or in etcd when `options` name etcd endpoints.
int create_admin_key(const serve_options& options);

// `callgate cluster import`: copies the stopped single-node store in
// options.data_dir into the empty etcd prefix options.etcd_prefix.
int cluster_import(const serve_options& options);

} // namespace callgate::app
