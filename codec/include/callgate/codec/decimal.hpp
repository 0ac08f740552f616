#pragma once

#include <charconv>
#include <string>

namespace callgate::codec {

// Appends `value` as std::to_chars writes it (an integer in decimal, a
// floating-point number in its shortest form that reads back exactly), with
// no temporary string.
template <class Number>
void append_decimal(std::string& out, Number value)
{
    char digits[32];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

} // namespace callgate::codec
