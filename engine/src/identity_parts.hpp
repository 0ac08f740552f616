#pragma once

// The value of column::decision_records: an identity's record value with its
// action's and signing key's, under the identity's key. Private to engine.

#include "callgate/engine/store.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace callgate::engine::detail {

std::string encode_identity_parts(std::string_view identity, std::optional<std::string_view> action,
                                  std::optional<std::string_view> signing_key);
bool decode_identity_parts(std::string_view bytes, identity_parts& out);

// The parts read from their three columns through any reader with
// get(column, key, value): the store, a write transaction.
template <class Reader>
read_result read_identity_parts(Reader& reader, std::string_view id, identity_parts& out)
{
    auto r = reader.get(column::identities, id, out.identity);
    if (r != read_result::found)
        return r;
    for (auto [c, part] : {std::pair{column::actions, &out.action}, std::pair{column::signing_keys, &out.signing_key}}) {
        std::string value;
        r = reader.get(c, id, value);
        if (r == read_result::error)
            return r;
        if (r == read_result::found)
            *part = std::move(value);
        else
            part->reset();
    }
    return read_result::found;
}

} // namespace callgate::engine::detail
