// engine/validation.hpp (URLs, UTF-8, E.164, agent handles) and
// net::parse_url, the splitter the outbound client dials with.
//
// Input: one flag byte (bit 0: WebSocket vs HTTPS URL, bit 1: insecure URLs
// allowed), then the text.

#include "callgate/engine/validation.hpp"
#include "callgate/net/outbound_client.hpp"

#include "fuzz_check.hpp"

#include <simdjson.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace engine = callgate::engine;
namespace net = callgate::net;

std::string lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

void check_url(std::string_view url, engine::url_kind kind, bool insecure)
{
    auto result = engine::validate_url(url, kind, insecure);
    if (result != engine::url_error::bad_scheme) {
        // Only the scheme depends on allow_insecure.
        FUZZ_CHECK(engine::validate_url(url, kind, !insecure) == result ||
                   engine::validate_url(url, kind, !insecure) == engine::url_error::bad_scheme);
    }
    if (result != engine::url_error::ok)
        return;

    FUZZ_CHECK(engine::validate_url(url, kind, true) == engine::url_error::ok);
    FUZZ_CHECK(url.size() <= 2048);
    FUZZ_CHECK(url.find('#') == std::string_view::npos);
    for (char c : url) {
        auto u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u > 0x20 && u < 0x7F);
    }
    std::string scheme = lower(url.substr(0, url.find("://")));
    if (kind == engine::url_kind::websocket)
        FUZZ_CHECK(scheme == "wss" || (insecure && scheme == "ws"));
    else
        FUZZ_CHECK(scheme == "https" || (insecure && scheme == "http"));

    // The splitter the outbound client dials with accepts every valid URL.
    net::url_target target;
    FUZZ_CHECK(net::parse_url(url, target));
    FUZZ_CHECK(target.scheme == scheme);
    FUZZ_CHECK(!target.host.empty());
    FUZZ_CHECK(target.host.find_first_of("@/?#") == std::string::npos);
    FUZZ_CHECK(target.port != 0);
    FUZZ_CHECK(!target.target.empty() && target.target.front() == '/');
    // Whatever follows the authority is kept as written.
    auto authority_end = url.find_first_of("/?", scheme.size() + 3);
    std::string rest = authority_end == std::string_view::npos ? "" : std::string(url.substr(authority_end));
    FUZZ_CHECK(target.target == rest || target.target == "/" + rest || (rest.empty() && target.target == "/"));
    // A '%' left in what is dialled is a valid escape.
    for (std::size_t i = target.target.find('%'); i != std::string::npos; i = target.target.find('%', i + 1))
        FUZZ_CHECK(i + 2 < target.target.size() + 0 && std::isxdigit(static_cast<unsigned char>(target.target[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(target.target[i + 2])));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::uint8_t flags = data[0];
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    auto kind = (flags & 1) != 0 ? engine::url_kind::websocket : engine::url_kind::https;
    check_url(text, kind, (flags & 2) != 0);

    // net::parse_url on anything: what it accepts has a host and a port.
    net::url_target target;
    if (net::parse_url(text, target)) {
        FUZZ_CHECK(!target.host.empty());
        FUZZ_CHECK(target.port != 0);
        FUZZ_CHECK(!target.target.empty() && target.target.front() == '/');
    }

    // UTF-8: the engine's check agrees with simdjson's validator.
    FUZZ_CHECK(engine::is_valid_utf8(text) == simdjson::validate_utf8(text.data(), text.size()));

    if (engine::is_valid_e164(text)) {
        FUZZ_CHECK(text.size() >= 9 && text.size() <= 16 && text[0] == '+');
        for (char c : text.substr(1))
            FUZZ_CHECK(c >= '0' && c <= '9');
    }
    if (engine::is_valid_agent_handle(text)) {
        FUZZ_CHECK(!text.empty() && text.size() <= 64);
        FUZZ_CHECK(engine::is_valid_utf8(text));
        FUZZ_CHECK(lower(text) == text);
    }
    return 0;
}
