#include "edge_token_file.hpp"

#include <fstream>

namespace callgate::app {

bool read_edge_token_file(const std::string& path, std::vector<std::string>& tokens, std::string& error)
{
    std::ifstream in(path);
    if (!in) {
        error = "cannot read edge token file " + path;
        return false;
    }
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.pop_back();
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#')
            continue;
        tokens.push_back(line.substr(first));
    }
    if (in.bad() || tokens.empty()) {
        error = in.bad() ? "cannot read edge token file " + path : "edge token file " + path + " holds no token";
        return false;
    }
    return true;
}

} // namespace callgate::app
