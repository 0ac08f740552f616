#include "etcd_settings.hpp"

namespace callgate::app {

net::etcd_client_options etcd_settings(const serve_options& options)
{
    net::etcd_client_options o;
    o.endpoints = options.etcd_endpoints;
    o.ca_file = options.etcd_ca_file;
    o.cert_file = options.etcd_cert_file;
    o.key_file = options.etcd_key_file;
    o.username = options.etcd_username;
    o.password = options.etcd_password;
    return o;
}

} // namespace callgate::app
