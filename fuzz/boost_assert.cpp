// BOOST_ASSERT in the fuzz build (BOOST_ENABLE_ASSERT_HANDLER, set by
// CALLGATE_FUZZ for every file): a failed assertion aborts with its
// expression, so libFuzzer keeps the input, except for the known-harmless
// ones below, where the code goes on exactly as it does in a release build.

#include <boost/assert.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct known_assertion {
    const char* file_suffix;
    const char* expression;
    const char* why;
};

constexpr known_assertion known[] = {
    // After a final chunk ("0\r\n") the parser waits for the trailer; when the
    // next read brings fewer than 2 bytes, parse_chunk_header asserts n >= 5,
    // then (as with NDEBUG) finds no end of message and asks for more bytes.
    // Beast's own read loop reaches it when the peer sends a byte at a time.
    {"boost/beast/http/impl/basic_parser.ipp", "n >= 5", "Beast 1.81: final chunk, trailer arriving in pieces"},
};

bool ends_with(const char* text, const char* suffix)
{
    std::size_t n = std::strlen(text), m = std::strlen(suffix);
    return n >= m && std::strcmp(text + n - m, suffix) == 0;
}

} // namespace

namespace boost {

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line)
{
    for (const auto& k : known)
        if (std::strcmp(expr, k.expression) == 0 && ends_with(file, k.file_suffix))
            return;
    std::fprintf(stderr, "%s:%ld: %s: Boost assertion failed: %s%s%s\n", file, line, function, expr,
                 msg != nullptr ? ": " : "", msg != nullptr ? msg : "");
    std::abort();
}

void assertion_failed(char const* expr, char const* function, char const* file, long line)
{
    assertion_failed_msg(expr, nullptr, function, file, line);
}

} // namespace boost
