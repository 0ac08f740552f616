// Every config API body reader (config_api/request_body.hpp) over the
// engine's JSON object parser, as the routes call them:
//   PUT /incoming-call-action      read_put_action
//   POST /identities               read_new_identity
//   PATCH /identities/{handle}     read_identity_patch
//   POST /api-keys                 read_new_api_key
// Invariants: the parser accepts only UTF-8; the tree parser and the field
// picker agree; what a reader accepts satisfies the spec's field rules, and
// written back with the API writers it reads back the same.
//
// Input: one flag byte (bit 0: admin key, so agent_identity_id is required;
// bit 1: insecure URLs allowed), then the body.

#include "callgate/config_api/request_body.hpp"
#include "callgate/engine/json_object.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/validation.hpp"

#include "fuzz_check.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace config_api = callgate::config_api;
namespace engine = callgate::engine;
using engine::json_type;

void check_strings_utf8(const engine::json_field& f)
{
    FUZZ_CHECK(engine::is_valid_utf8(f.name));
    if (f.type == json_type::string)
        FUZZ_CHECK(engine::is_valid_utf8(f.text));
    for (const auto& child : f.children)
        check_strings_utf8(child);
}

constexpr std::array<std::string_view, 10> body_keys{
    "incoming_call_action", "agent_identity_id", "client_websocket_url", "incoming_call_webhook_url",
    "agent_handle",         "display_name",      "phone_number",         "label",
    "scoped_identity_id",   "event",
};

bool valid_url(const std::optional<std::string>& url, engine::url_kind kind, bool insecure)
{
    return !url || engine::validate_url(*url, kind, insecure) == engine::url_error::ok;
}

void check_put_action(const engine::json_object& doc, bool admin, bool insecure)
{
    config_api::put_action_request req;
    std::string detail;
    if (!config_api::read_put_action(doc, admin, insecure, req, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(!admin || req.agent_identity_id.has_value());
    FUZZ_CHECK(valid_url(req.action.client_websocket_url, engine::url_kind::websocket, insecure));
    FUZZ_CHECK(valid_url(req.action.incoming_call_webhook_url, engine::url_kind::https, insecure));

    // The response body (GET /incoming-call-action) read back as a PUT body is the same request.
    engine::json_writer w;
    engine::write_incoming_call_action(w, req.agent_identity_id.value_or(engine::uuid{}), req.action);
    engine::json_object echoed;
    FUZZ_CHECK(echoed.parse(w.str()) == engine::json_parse_error::ok);
    config_api::put_action_request again;
    FUZZ_CHECK(config_api::read_put_action(echoed, true, insecure, again, detail));
    FUZZ_CHECK(again.action == req.action);
    FUZZ_CHECK(again.agent_identity_id == req.agent_identity_id.value_or(engine::uuid{}));
}

void check_new_identity(const engine::json_object& doc)
{
    engine::new_identity input;
    std::string detail;
    if (!config_api::read_new_identity(doc, input, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(engine::is_valid_agent_handle(input.agent_handle));
    FUZZ_CHECK(!input.display_name || input.display_name->size() <= 256);
    FUZZ_CHECK(!input.phone_number || engine::is_valid_e164(*input.phone_number));
    FUZZ_CHECK(!input.description || input.description->size() <= 4096);

    // The identity as the API writes it, read back as a POST body.
    engine::identity_record record;
    record.agent_handle = input.agent_handle;
    record.display_name = input.display_name;
    record.phone_number = input.phone_number;
    record.description = input.description;
    engine::json_writer w;
    engine::write_identity(w, record);
    engine::json_object echoed;
    FUZZ_CHECK(echoed.parse(w.str()) == engine::json_parse_error::ok);
    engine::new_identity again;
    FUZZ_CHECK(config_api::read_new_identity(echoed, again, detail));
    FUZZ_CHECK(again.agent_handle == input.agent_handle && again.display_name == input.display_name &&
               again.phone_number == input.phone_number && again.description == input.description);
}

void check_identity_patch(const engine::json_object& doc)
{
    engine::identity_patch patch;
    std::string detail;
    if (!config_api::read_identity_patch(doc, patch, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(patch.display_name.has_value() == (doc.find("display_name") != nullptr));
    FUZZ_CHECK(patch.phone_number.has_value() == (doc.find("phone_number") != nullptr));
    FUZZ_CHECK(patch.description.has_value() == (doc.find("description") != nullptr));
    FUZZ_CHECK(patch.agent_handle.has_value() == (doc.find("agent_handle") != nullptr));
    if (patch.agent_handle)
        FUZZ_CHECK(engine::is_valid_agent_handle(*patch.agent_handle));
    if (patch.display_name && *patch.display_name)
        FUZZ_CHECK((*patch.display_name)->size() <= 256);
    if (patch.phone_number && *patch.phone_number)
        FUZZ_CHECK(engine::is_valid_e164(**patch.phone_number));
}

void check_new_api_key(const engine::json_object& doc)
{
    config_api::new_api_key_request input;
    std::string detail;
    if (!config_api::read_new_api_key(doc, input, detail)) {
        FUZZ_CHECK(!detail.empty());
        return;
    }
    FUZZ_CHECK(input.label.size() <= 256);
    FUZZ_CHECK(engine::is_valid_utf8(input.label));
    const auto* scoped = doc.find("scoped_identity_id");
    FUZZ_CHECK(scoped != nullptr && engine::uuid::parse(scoped->text) == input.scoped_identity_id);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    bool admin = (data[0] & 1) != 0;
    bool insecure = (data[0] & 2) != 0;
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

    engine::json_object doc;
    auto parsed = doc.parse(body);

    // The field picker (the hot paths) agrees with the tree parser.
    std::array<engine::picked_field, body_keys.size()> picked;
    FUZZ_CHECK(engine::parse_fields(body, body_keys, picked) == parsed);
    if (parsed == engine::json_parse_error::ok) {
        FUZZ_CHECK(engine::is_valid_utf8(body));
        for (const auto& f : doc.fields())
            check_strings_utf8(f);
        for (std::size_t i = 0; i < body_keys.size(); ++i) {
            const auto* f = doc.find(body_keys[i]);
            FUZZ_CHECK(picked[i].present == (f != nullptr));
            if (f != nullptr) {
                FUZZ_CHECK(picked[i].type == f->type);
                if (f->type == json_type::string)
                    FUZZ_CHECK(picked[i].text == f->text);
            }
        }
    } else if (parsed == engine::json_parse_error::invalid_utf8) {
        FUZZ_CHECK(!engine::is_valid_utf8(body));
    }
    if (parsed != engine::json_parse_error::ok)
        return 0;

    check_put_action(doc, admin, insecure);
    check_new_identity(doc);
    check_identity_patch(doc);
    check_new_api_key(doc);
    return 0;
}
