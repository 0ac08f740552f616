#include "server.hpp"
#include "serve_options.hpp"

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
        if (!callgate::app::parse_serve_options(rest, callgate_environment(), options, error)) {
            std::fprintf(stderr, "callgate: %s (see 'callgate serve --help')\n", error.c_str());
            return 2;
        }
        return callgate::app::run_server(options);
    }
    if (args[0] == "admin-key") {
        std::string data_dir = "./data";
        if (const char* env = std::getenv("CALLGATE_DATA_DIR"))
            data_dir = env;
        if (args.size() < 2 || args[1] != "create") {
            std::fprintf(stderr, "callgate: usage: callgate admin-key create [--data-dir DIR]\n");
            return 2;
        }
        for (std::size_t i = 2; i < args.size(); ++i) {
            if (args[i] == "--help" || args[i] == "-h") {
                std::puts("Usage: callgate admin-key create [--data-dir DIR]\n\n"
                          "Prints a new admin API key and registers its hash in DIR/admin_keys.\n"
                          "A running server accepts it from its next request on.");
                return 0;
            }
            if (args[i] == "--data-dir" && i + 1 < args.size()) {
                data_dir = args[++i];
            } else if (args[i].rfind("--data-dir=", 0) == 0) {
                data_dir = args[i].substr(11);
            } else {
                std::fprintf(stderr, "callgate: unknown argument '%s' for admin-key create\n", args[i].c_str());
                return 2;
            }
        }
        return callgate::app::create_admin_key(data_dir);
    }
    std::fprintf(stderr, "callgate: unknown command '%s' (see 'callgate --help')\n", args[0].c_str());
    return 2;
}
