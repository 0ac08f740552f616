#pragma once

#include <string>
#include <string_view>

namespace callgate::codec {

// RFC 4648 base64. The decoders are strict: one canonical text per byte
// string, so that a value that is checked once (a signing key, a media
// payload, an etcd key) cannot mean two things.

// Standard alphabet (A-Z a-z 0-9 + /), padded with '=' to a multiple of 4 (section 4).
std::string base64_encode(std::string_view bytes);
// base64_encode's text appended to `out` (no string of its own).
void append_base64(std::string& out, std::string_view bytes);
// URL alphabet (A-Z a-z 0-9 - _), no padding (section 5): API keys.
std::string base64url_encode(std::string_view bytes);

// Decodes what base64_encode writes, and nothing else: the standard alphabet
// only, length a multiple of 4, one or two '=' only where the last group is
// short, and the unused bits of the last character zero. The empty text is
// the empty string. False (and `out` unspecified) otherwise.
bool base64_decode(std::string_view text, std::string& out);
// Decodes what base64url_encode writes: the URL alphabet only, no '=', a
// length that is not 1 more than a multiple of 4, unused bits zero.
bool base64url_decode(std::string_view text, std::string& out);

// Whether base64_decode would accept `text`, without decoding it.
bool is_base64(std::string_view text);

} // namespace callgate::codec
