#pragma once

#include <cstddef>
#include <string_view>

namespace callgate::net {

// A request's id, as X-Request-ID carries it: the client's own when it is
// sane (1 to max_length characters from [A-Za-z0-9] and "-_.:+/=@"),
// otherwise a new random one: 32 hex digits, like nginx's $request_id. Held
// inline: making one never allocates.
class request_id {
public:
    static constexpr std::size_t max_length = 128;

    // The client's `given` value if sane, else a generated one.
    void assign(std::string_view given);
    // A new random id: 128 bits from a per-thread generator seeded by the OS
    // (unique, not secret), as 32 lowercase hex digits.
    void generate();

    std::string_view view() const { return {text_, length_}; }

    static bool is_sane(std::string_view given);

private:
    char text_[max_length];
    std::size_t length_ = 0;
};

} // namespace callgate::net
