#pragma once

#include <span>
#include <string_view>

namespace callgate::net {

// What a request's framing headers allow (RFC 9112 §6), checked after the
// header is parsed and before anything else, so that no request can hide a
// second one in a body that two parsers would frame differently.
struct framing_verdict {
    unsigned status = 0;     // 0: acceptable; else the error to answer (and close)
    std::string_view detail; // fixed text for the error body
    bool close_after = false; // acceptable, but the connection closes after the response
};

// `content_lengths`: the value of every Content-Length field, in order;
// `transfer_encodings`: the value of every Transfer-Encoding field, in order.
// - Content-Length: at most one field, 1 to 18 digits, nothing else → else 400.
// - Transfer-Encoding: only in HTTP/1.1; chunked must be the final coding and
//   appear once → else 400; other codings before it are not implemented → 501.
// - Both: framed as chunked and the connection closes after the response.
framing_verdict check_request_framing(unsigned http_version, std::span<const std::string_view> content_lengths,
                                      std::span<const std::string_view> transfer_encodings);

} // namespace callgate::net
