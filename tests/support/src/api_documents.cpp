#include "callgate/testing/api_documents.hpp"

#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace callgate::testing {

std::set<std::pair<std::string, std::string>> openapi_operations(std::string_view document)
{
    std::set<std::pair<std::string, std::string>> out;
    simdjson::dom::parser parser;
    simdjson::dom::object paths;
    if (parser.parse(simdjson::padded_string(document))["paths"].get(paths) != simdjson::SUCCESS)
        return out;
    for (auto [path, item] : paths) {
        simdjson::dom::object operations;
        if (item.get(operations) != simdjson::SUCCESS)
            continue;
        for (auto [key, operation] : operations) {
            if (key == "parameters" || key == "summary" || key == "description" || key == "servers")
                continue;
            std::string method(key);
            std::transform(method.begin(), method.end(), method.begin(), ::toupper);
            out.emplace(std::move(method), std::string(path));
        }
    }
    return out;
}

std::string sample_target(std::string_view path, std::string_view value)
{
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '{') {
            out += path[i];
            continue;
        }
        out += value;
        i = path.find('}', i);
        if (i == std::string_view::npos)
            break;
    }
    return out;
}

std::string read_source_file(std::string_view relative_path)
{
    std::ifstream in(std::string(CALLGATE_SOURCE_DIR) + "/" + std::string(relative_path), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace callgate::testing
