#pragma once

#include "callgate/testing/temp_dir.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace callgate::testing {

// TLS on the members' client URLs (peers talk plain HTTP on loopback).
struct etcd_tls {
    std::string ca_file;   // trust anchor for client certificates
    std::string cert_file; // the members' certificate (needs serverAuth and clientAuth: the
                           // JSON gateway dials the member's own gRPC port with it)
    std::string key_file;
    bool client_cert_auth = false; // --client-cert-auth: refuse clients without a certificate
    std::string client_cert_file;  // what this helper presents when it checks the members
    std::string client_key_file;
};

struct etcd_cluster_options {
    int members = 1;
    std::optional<etcd_tls> tls;
    std::vector<std::string> extra_args; // e.g. "--max-txn-ops=4"
};

// Real etcd members (/usr/bin/etcd) on 127.0.0.1 with free ports and their
// data in a temp dir. The constructor starts them and waits (with a
// deadline) until every member reports healthy; it throws std::runtime_error,
// with the members' logs, if they do not. The destructor kills them (SIGKILL).
// Not thread-safe.
class etcd_cluster {
public:
    explicit etcd_cluster(etcd_cluster_options options = {});
    ~etcd_cluster();
    etcd_cluster(const etcd_cluster&) = delete;
    etcd_cluster& operator=(const etcd_cluster&) = delete;

    std::size_t size() const { return members_.size(); }
    // Client URLs of every member, running or not, e.g. "http://127.0.0.1:40123".
    std::vector<std::string> client_urls() const;
    const std::string& client_url(std::size_t i) const { return members_[i].client_url; }

    // SIGKILL, then waits for the exit.
    void kill(std::size_t i);
    bool running(std::size_t i) const { return members_[i].pid > 0; }
    // SIGSTOP / SIGCONT: a member that accepts connections (the kernel does)
    // but never answers.
    void pause(std::size_t i);
    void resume(std::size_t i);
    // Starts a killed member again on its ports and data; waits until it is healthy.
    bool restart(std::size_t i);
    // Starts every killed member again, then waits until they are healthy
    // (after losing quorum, one member alone never is).
    bool restart_all();

    // The index of the member the running members agree is the leader, asked
    // through /v3/maintenance/status until `timeout` passes; -1 if none.
    int leader(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Runs etcdctl (v3 API) against the running members; returns its exit
    // code with its output in `out`. `user` is "name:password" or empty.
    int etcdctl(const std::vector<std::string>& args, std::string& out, const std::string& user = {}) const;

    // Everything member i wrote so far.
    std::string log(std::size_t i) const;

private:
    struct member {
        std::string name;
        std::string data_dir;
        std::string log_path;
        std::string client_url;
        std::string peer_url;
        unsigned short client_port = 0;
        int pid = -1;
    };

    bool start_all();
    bool restart_members(const std::vector<std::size_t>& which);
    bool start(std::size_t i, const std::string& initial_cluster, const std::string& state);
    bool healthy(std::size_t i);
    std::string status_of(std::size_t i);

    etcd_cluster_options options_;
    temp_dir dir_;
    std::vector<member> members_;
    std::string cluster_token_;
};

} // namespace callgate::testing
