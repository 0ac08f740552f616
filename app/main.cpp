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
  callgate cluster import --data-dir DIR --etcd-endpoints URLS
                                            copy a stopped node's store into etcd
  callgate --help | --version

Run 'callgate serve --help' for the server's flags.
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

// Tools take only the flags that say where the store is (--data-dir, --etcd-*);
// serve's other flags make no sense there.
bool only_store_flags(const std::vector<std::string>& args, const char* command)
{
    for (const auto& a : args) {
        if (a.rfind("--", 0) != 0)
            continue;
        auto name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
        if (name != "data-dir" && name.rfind("etcd-", 0) != 0) {
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
        if (args.size() < 2 || args[1] != "create") {
            std::fprintf(stderr, "callgate: usage: callgate admin-key create [--data-dir DIR | --etcd-endpoints URLS]\n");
            return 2;
        }
        std::vector<std::string> rest(args.begin() + 2, args.end());
        for (const auto& a : rest) {
            if (a == "--help" || a == "-h") {
                std::puts("Usage: callgate admin-key create [--data-dir DIR]\n"
                          "       callgate admin-key create --etcd-endpoints URLS [--etcd-prefix P] [etcd TLS/auth flags]\n\n"
                          "Prints a new admin API key and registers its hash: in DIR/admin_keys for one\n"
                          "node, or in etcd for a cluster (every node accepts it from its next request).\n"
                          "The etcd flags are those of 'callgate serve --help'.");
                return 0;
            }
        }
        callgate::app::serve_options options;
        std::string error;
        if (!only_store_flags(rest, "admin-key create") ||
            !callgate::app::parse_serve_options(rest, callgate_environment(), options, error)) {
            if (!error.empty())
                std::fprintf(stderr, "callgate: %s\n", error.c_str());
            return 2;
        }
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
