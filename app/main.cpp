#include "admin_key_commands.hpp"
#include "server.hpp"
#include "serve_options.hpp"
#include "serve_preflight.hpp"

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

constexpr const char* usage = R"(callgate — inbound call routing engine

Usage:
  callgate serve [flags]                    run the config API and dispatcher
  callgate admin-key create --data-dir DIR  print a new admin API key
  callgate admin-key create --etcd-endpoints URLS   … stored in etcd, for a cluster
  callgate admin-key list [--data-dir DIR | --etcd-endpoints URLS]
                                            the admin keys: id, created, last 4 characters
  callgate admin-key revoke ID [--force] [--data-dir DIR | --etcd-endpoints URLS]
                                            remove an admin key (ID or a prefix of it)
  callgate cluster import --data-dir DIR --etcd-endpoints URLS
                                            copy a stopped node's store into etcd
  callgate --help | --version

Run 'callgate serve --help' for the server's flags.
)";

constexpr const char* admin_key_usage = R"(Usage: callgate admin-key create [STORE]
       callgate admin-key list [STORE]
       callgate admin-key revoke ID-OR-PREFIX [--force] [STORE]

STORE: --data-dir DIR (one node, default ./data), or --etcd-endpoints URLS
[--etcd-prefix P] [etcd TLS/auth flags] for a cluster, or --config FILE that
says so. The etcd flags are those of 'callgate serve --help'.

create  prints a new admin API key and registers its hash: in DIR/admin_keys
        for one node, or in etcd for a cluster (every node accepts it from its
        next request).
list    prints each admin key's id, creation time and last four characters;
        never the key, which is not stored.
revoke  removes the admin key with this id (or the one whose id starts with
        these 4 or more characters). A running single node stops accepting it
        within a second; cluster nodes once they apply the change. The last
        admin key is only revoked with --force: without one, nobody can use
        the admin API until 'admin-key create' or a restart (which then
        generates a new DIR/admin.key) makes another.
)";

std::map<std::string, std::string> callgate_environment()
{
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        if (entry.rfind("CALLGATE_", 0) != 0)
            continue;
        auto eq = entry.find('=');
        if (eq != std::string::npos)
            env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return env;
}

// Tools take only the flags that say where the store is (--data-dir, --etcd-*,
// or a --config file that does); serve's other flags make no sense there.
bool only_store_flags(const std::vector<std::string>& args, const char* command)
{
    for (const auto& a : args) {
        if (a.rfind("--", 0) != 0)
            continue;
        auto name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
        if (name != "data-dir" && name != "config" && name.rfind("etcd-", 0) != 0) {
            std::fprintf(stderr, "callgate: unknown flag --%s for %s\n", name.c_str(), command);
            return false;
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "version") {
        std::printf("callgate %s\n", CALLGATE_VERSION);
        return 0;
    }
    if (args[0] == "serve") {
        std::vector<std::string> rest(args.begin() + 1, args.end());
        for (const auto& a : rest) {
            if (a == "--help" || a == "-h") {
                std::fputs(callgate::app::serve_help(), stdout);
                return 0;
            }
        }
        callgate::app::serve_options options;
        std::string error;
        auto env = callgate_environment();
        if (!callgate::app::parse_serve_options(rest, env, options, error)) {
            std::fprintf(stderr, "callgate: %s (see 'callgate serve --help')\n", error.c_str());
            return 2;
        }
        if (!callgate::app::check_serve_environment(options, env, error)) {
            std::fprintf(stderr, "callgate: %s (nothing was written)\n", error.c_str());
            return 2;
        }
        return callgate::app::run_server(options);
    }
    if (args[0] == "admin-key") {
        std::string sub = args.size() >= 2 ? args[1] : "";
        if (sub != "create" && sub != "list" && sub != "revoke") {
            std::fputs(admin_key_usage, stderr);
            return 2;
        }
        std::vector<std::string> rest;
        std::string id; // revoke's ID-OR-PREFIX: the word right after "revoke"
        bool force = false;
        for (std::size_t i = 2; i < args.size(); ++i) {
            const auto& a = args[i];
            if (a == "--help" || a == "-h") {
                std::fputs(admin_key_usage, stdout);
                return 0;
            }
            if (sub == "revoke" && i == 2 && a.rfind("--", 0) != 0)
                id = a;
            else if (sub == "revoke" && a == "--force")
                force = true;
            else
                rest.push_back(a);
        }
        if (sub == "revoke" && id.empty()) {
            std::fputs(admin_key_usage, stderr);
            return 2;
        }
        callgate::app::serve_options options;
        std::string error;
        if (!only_store_flags(rest, ("admin-key " + sub).c_str()) ||
            !callgate::app::parse_serve_options(rest, callgate_environment(), options, error)) {
            if (!error.empty())
                std::fprintf(stderr, "callgate: %s\n", error.c_str());
            return 2;
        }
        if (sub == "list")
            return callgate::app::list_admin_keys(options);
        if (sub == "revoke")
            return callgate::app::revoke_admin_key(options, id, force);
        return callgate::app::create_admin_key(options);
    }
    if (args[0] == "cluster") {
        if (args.size() < 2 || args[1] != "import") {
            std::fprintf(stderr, "callgate: usage: callgate cluster import --data-dir DIR --etcd-endpoints URLS\n");
            return 2;
        }
        std::vector<std::string> rest(args.begin() + 2, args.end());
        for (const auto& a : rest) {
            if (a == "--help" || a == "-h") {
                std::puts("Usage: callgate cluster import --data-dir DIR --etcd-endpoints URLS [--etcd-prefix P]\n"
                          "                               [etcd TLS/auth flags]\n\n"
                          "Copies a stopped single-node store (identities, actions, signing keys, API keys,\n"
                          "admin keys) into an empty etcd prefix, so that nodes started with the same\n"
                          "--etcd-endpoints and --etcd-prefix serve it. Refuses a prefix that holds anything\n"
                          "(exit 1, nothing written). The etcd flags are those of 'callgate serve --help'.");
                return 0;
            }
        }
        callgate::app::serve_options options;
        std::string error;
        if (!only_store_flags(rest, "cluster import") ||
            !callgate::app::parse_serve_options(rest, callgate_environment(), options, error)) {
            if (!error.empty())
                std::fprintf(stderr, "callgate: %s\n", error.c_str());
            return 2;
        }
        return callgate::app::cluster_import(options);
    }
    std::fprintf(stderr, "callgate: unknown command '%s' (see 'callgate --help')\n", args[0].c_str());
    return 2;
}
