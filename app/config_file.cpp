#include "config_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

namespace callgate::app {
namespace {

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool is_key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// Appends the UTF-8 of a \uXXXX escape (no surrogates, no NUL).
bool append_unicode(std::string_view hex, std::string& out)
{
    if (hex.size() != 4)
        return false;
    unsigned cp = 0;
    for (char c : hex) {
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return false;
        cp = cp << 4 | static_cast<unsigned>(v);
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | cp >> 6));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xE0 | cp >> 12));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return true;
}

// A quoted value: the string, then only a comment may follow.
bool parse_quoted(std::string_view raw, std::string& value, std::string& error)
{
    char quote = raw.front();
    std::size_t i = 1;
    for (; i < raw.size() && raw[i] != quote; ++i) {
        char c = raw[i];
        if (quote == '\'' || c != '\\') {
            value.push_back(c);
            continue;
        }
        if (++i == raw.size())
            break;
        switch (raw[i]) {
        case '"': value.push_back('"'); break;
        case '\\': value.push_back('\\'); break;
        case 't': value.push_back('\t'); break;
        case 'n': value.push_back('\n'); break;
        case 'u':
            if (!append_unicode(raw.substr(i + 1, 4), value)) {
                error = "bad \\u escape (4 hex digits, not 0000 or a surrogate)";
                return false;
            }
            i += 4;
            break;
        default: error = std::string("unknown escape \\") + raw[i]; return false;
        }
    }
    if (i >= raw.size()) {
        error = std::string("no closing ") + quote;
        return false;
    }
    auto rest = trim(raw.substr(i + 1));
    if (!rest.empty() && rest.front() != '#' && rest.front() != ';') {
        error = "unexpected text after the closing quote: '" + std::string(rest) + "'";
        return false;
    }
    return true;
}

} // namespace

bool parse_config_text(std::string_view text, std::vector<config_entry>& out, std::string& error,
                       std::size_t max_bytes)
{
    if (text.size() > max_bytes) {
        error = "1: the file is over " + std::to_string(max_bytes) + " bytes";
        return false;
    }
    std::map<std::string, int, std::less<>> seen;
    int number = 0;
    for (std::size_t start = 0; start < text.size();) {
        auto end = text.find('\n', start);
        std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        start = end == std::string_view::npos ? text.size() : end + 1;
        ++number;
        auto fail = [&](const std::string& what) {
            error = std::to_string(number) + ": " + what;
            return false;
        };
        for (char c : line)
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
                return fail("a control character");
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == ';')
            continue;
        if (line.front() == '[')
            return fail("sections are not used: write every setting as key = value at the top level");
        auto eq = line.find('=');
        if (eq == std::string_view::npos)
            return fail("expected key = value");
        auto key = trim(line.substr(0, eq));
        if (key.empty())
            return fail("a value with no key");
        for (char c : key)
            if (!is_key_char(c))
                return fail("bad key '" + std::string(key) + "' (keys are the flag names, such as api-listen)");
        auto raw = trim(line.substr(eq + 1));
        config_entry entry{std::string(key), {}, number};
        if (raw.empty()) {
            return fail("no value for " + entry.key + " (write \"\" for an empty string)");
        } else if (raw.front() == '"' || raw.front() == '\'') {
            std::string why;
            if (!parse_quoted(raw, entry.value, why))
                return fail(why);
        } else if (raw.front() == '[' || raw.front() == '{') {
            return fail("arrays and tables are not used: write a list as one comma-separated string");
        } else {
            for (std::size_t i = 1; i < raw.size(); ++i)
                if ((raw[i] == '#' || raw[i] == ';') && (raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
                    raw = trim(raw.substr(0, i));
                    break;
                }
            entry.value = std::string(raw);
        }
        if (auto [it, fresh] = seen.emplace(entry.key, number); !fresh)
            return fail(entry.key + " is set twice (first on line " + std::to_string(it->second) + ")");
        out.push_back(std::move(entry));
    }
    return true;
}

bool read_config_file(const std::string& path, std::vector<config_entry>& out, std::string& error)
{
    constexpr std::size_t limit = 1 << 20;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read config file " + path + ": " + std::strerror(errno);
        return false;
    }
    std::string text;
    text.resize(limit + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) {
        error = "cannot read config file " + path + ": " + std::strerror(errno);
        return false;
    }
    text.resize(static_cast<std::size_t>(in.gcount()));
    std::string where;
    if (!parse_config_text(text, out, where, limit)) {
        error = path + ":" + where;
        return false;
    }
    return true;
}

} // namespace callgate::app
