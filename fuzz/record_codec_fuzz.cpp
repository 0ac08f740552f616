// The storage codec (engine/src/record_codec.hpp via records.hpp and
// call_records.hpp): any bytes read back from disk, decoded as each stored
// record kind. A value that decodes re-encodes to a canonical form that
// decodes to the same record, never longer than the input; the record's API
// JSON is well-formed whenever its strings are UTF-8.
//
// Input: one byte choosing the record kind, then the stored value.

#include "callgate/engine/call_records.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/records.hpp"
#include "callgate/engine/uuid.hpp"
#include "callgate/engine/validation.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace engine = callgate::engine;

bool utf8(std::initializer_list<std::string_view> texts)
{
    for (auto t : texts)
        if (!engine::is_valid_utf8(t))
            return false;
    return true;
}

std::string_view opt(const std::optional<std::string>& s) { return s ? std::string_view(*s) : std::string_view{}; }

// The API JSON of a record parses back as an object whose `key` is `expected`.
void check_json(std::string_view json, std::string_view key, std::string_view expected)
{
    engine::json_object doc;
    FUZZ_CHECK(doc.parse(json) == engine::json_parse_error::ok);
    const auto* f = doc.find(key);
    FUZZ_CHECK(f != nullptr && f->type == engine::json_type::string && f->text == expected);
}

// decode → encode → decode: the canonical encoding is a fixed point.
template <class Record>
bool round_trip(std::string_view value, Record& record)
{
    if (!engine::decode(value, record))
        return false;
    std::string canonical = engine::encode(record);
    FUZZ_CHECK(canonical.size() <= value.size());
    Record again;
    FUZZ_CHECK(engine::decode(canonical, again));
    FUZZ_CHECK(engine::encode(again) == canonical);
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 7) {
    case 0: {
        engine::identity_record r;
        if (!round_trip(value, r))
            break;
        if (utf8({r.agent_handle, opt(r.display_name), opt(r.phone_number), opt(r.description)})) {
            engine::json_writer w;
            engine::write_identity(w, r);
            check_json(w.str(), "agent_handle", r.agent_handle);
        }
        break;
    }
    case 1: {
        engine::incoming_call_action a;
        if (!round_trip(value, a))
            break;
        engine::incoming_call_action again;
        FUZZ_CHECK(engine::decode(engine::encode(a), again) && again == a);
        if (utf8({opt(a.client_websocket_url), opt(a.incoming_call_webhook_url)})) {
            engine::json_writer w;
            engine::write_incoming_call_action(w, engine::uuid{}, a);
            check_json(w.str(), "incoming_call_action", engine::to_string(a.action));
        }
        break;
    }
    case 6: {
        engine::contact_rule rule;
        if (round_trip(value, rule) && utf8({rule.target})) {
            engine::json_writer w;
            engine::write_contact_rule(w, rule);
            check_json(w.str(), "match_target", rule.target);
        }
        break;
    }
    case 2: {
        engine::signing_key_record k;
        round_trip(value, k);
        break;
    }
    case 3: {
        engine::api_key_record k;
        if (!round_trip(value, k))
            break;
        if (utf8({k.label, k.last4})) {
            engine::json_writer w;
            engine::write_api_key(w, k);
            check_json(w.str(), "label", k.label);
        }
        break;
    }
    case 4: {
        engine::call_record c;
        if (!round_trip(value, c))
            break;
        if (utf8({opt(c.local_phone_number), c.remote_phone_number, opt(c.client_websocket_url), c.decision_source,
                  opt(c.decision_reason)})) {
            engine::json_writer w;
            engine::write_call_record(w, c);
            check_json(w.str(), "remote_phone_number", c.remote_phone_number);
        }
        break;
    }
    case 5: {
        // Index values (handles, phones, api_key_ids): a 16-byte identity or key id.
        auto id = engine::uuid::from_key(value);
        FUZZ_CHECK(id.has_value() == (value.size() == 16));
        if (id) {
            FUZZ_CHECK(id->as_key() == value);
            auto parsed = engine::uuid::parse(id->to_string());
            FUZZ_CHECK(parsed && *parsed == *id);
        }
        break;
    }
    }
    return 0;
}
