#include "callgate/engine/config_service.hpp"

#include "callgate/engine/clock.hpp"
#include "callgate/engine/random_source.hpp"
#include "callgate/engine/secrets.hpp"
#include "callgate/engine/store.hpp"
#include "callgate/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <future>

namespace callgate::engine {
namespace {

// Runs an async service call and waits for its callback, with a deadline.
template <class R, class F>
R wait_for(F start)
{
    std::promise<R> promise;
    auto future = promise.get_future();
    start([&promise](R r) { promise.set_value(std::move(r)); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
}

class config_service_test : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string error;
        db_ = store::open(dir_.path() + "/db", {}, error);
        ASSERT_TRUE(db_) << error;
        service_ = std::make_unique<config_service>(*db_, clock_, random_,
                                                    dir_.path() + "/admin_keys", 1000);
    }

    identity_record create(const std::string& handle, std::optional<std::string> phone = std::nullopt)
    {
        auto r = wait_for<config_result<snapshot_ptr>>([&](auto done) {
            service_->create_identity({handle, std::nullopt, phone}, done);
        });
        EXPECT_TRUE(r.ok() && r.value);
        return r.ok() && r.value ? r.value->identity : identity_record{};
    }

    testing::temp_dir dir_;
    manual_clock clock_{1'700'000'000'000'000};
    crypto_random random_;
    std::unique_ptr<store> db_;
    std::unique_ptr<config_service> service_;
};

TEST_F(config_service_test, put_action_is_visible_to_the_next_read_without_the_store)
{
    auto identity = create("bot");
    incoming_call_action action{call_action::auto_accept, "wss://a.example.com/ws", std::nullopt};
    auto r = wait_for<config_result<incoming_call_action>>(
        [&](auto done) { service_->put_action(identity.id, action, done); });
    ASSERT_TRUE(r.ok());
    auto cached = service_->try_snapshot(identity.id);
    ASSERT_TRUE(cached && *cached);
    ASSERT_TRUE((*cached)->action);
    EXPECT_EQ(*(*cached)->action, action);
}

TEST_F(config_service_test, conditional_rules_come_after_existence)
{
    uuid unknown = uuid::generate(random_);
    incoming_call_action missing_url{call_action::auto_accept, std::nullopt, std::nullopt};
    auto r = wait_for<config_result<incoming_call_action>>(
        [&](auto done) { service_->put_action(unknown, missing_url, done); });
    EXPECT_EQ(r.error, config_errc::identity_not_found);

    auto identity = create("bot");
    r = wait_for<config_result<incoming_call_action>>(
        [&](auto done) { service_->put_action(identity.id, missing_url, done); });
    EXPECT_EQ(r.error, config_errc::client_websocket_url_required);
    incoming_call_action missing_hook{call_action::webhook, std::nullopt, std::nullopt};
    r = wait_for<config_result<incoming_call_action>>(
        [&](auto done) { service_->put_action(identity.id, missing_hook, done); });
    EXPECT_EQ(r.error, config_errc::webhook_url_required);
}

TEST_F(config_service_test, handles_and_numbers_are_unique)
{
    create("bot", "+15550100");
    auto dup_handle = wait_for<config_result<snapshot_ptr>>(
        [&](auto done) { service_->create_identity({"bot", std::nullopt, std::nullopt}, done); });
    EXPECT_EQ(dup_handle.error, config_errc::handle_exists);
    auto dup_phone = wait_for<config_result<snapshot_ptr>>(
        [&](auto done) { service_->create_identity({"other", std::nullopt, "+15550100"}, done); });
    EXPECT_EQ(dup_phone.error, config_errc::phone_assigned);
}

TEST_F(config_service_test, changing_a_number_moves_the_index_and_the_cache)
{
    auto identity = create("bot", "+15550100");
    EXPECT_EQ(service_->load_phone("+15550100").value, identity.id);
    identity_patch patch;
    patch.phone_number = std::optional<std::string>("+15550111");
    clock_.advance(5);
    auto r = wait_for<config_result<snapshot_ptr>>(
        [&](auto done) { service_->update_identity("bot", patch, done); });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value->identity.updated_at_us, identity.created_at_us + 5);
    EXPECT_EQ(r.value->identity.phone_number_since_us, identity.created_at_us + 5);
    EXPECT_EQ(service_->load_phone("+15550100").value, std::nullopt);
    EXPECT_EQ(service_->load_phone("+15550111").value, identity.id);
    // The old number is free again.
    create("other", "+15550100");
}

TEST_F(config_service_test, deleting_an_identity_removes_config_and_revokes_its_keys)
{
    auto identity = create("bot", "+15550100");
    incoming_call_action action{call_action::auto_reject, std::nullopt, std::nullopt};
    wait_for<config_result<incoming_call_action>>(
        [&](auto done) { service_->put_action(identity.id, action, done); });
    auto key = wait_for<config_result<created_api_key>>(
        [&](auto done) { service_->create_api_key("k", identity.id, done); });
    ASSERT_TRUE(key.ok());
    auto hash = sha256(key.value.api_key);
    ASSERT_EQ(service_->load_api_key(hash).value->status, api_key_status::active);

    auto e = wait_for<config_errc>([&](auto done) { service_->delete_identity("bot", done); });
    ASSERT_EQ(e, config_errc::ok);
    EXPECT_EQ(service_->load_snapshot(identity.id).value, nullptr);
    EXPECT_EQ(service_->load_phone("+15550100").value, std::nullopt);
    EXPECT_EQ(service_->load_api_key(hash).value->status, api_key_status::revoked);
    EXPECT_EQ(service_->list_identities(50, 0).value.total, 0u);

    // A fresh service (cold caches) reads the same from the store.
    config_service cold(*db_, clock_, random_, dir_.path() + "/admin_keys", 1000);
    EXPECT_EQ(cold.load_snapshot(identity.id).value, nullptr);
    EXPECT_EQ(cold.load_api_key(hash).value->status, api_key_status::revoked);
    std::string value;
    EXPECT_EQ(db_->get(column::actions, identity.id.as_key(), value), read_result::not_found);
}

TEST_F(config_service_test, listing_is_by_handle_with_offset_and_total)
{
    for (auto h : {"c", "a", "b", "d"})
        create(h);
    auto page = service_->list_identities(2, 1);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page.value.total, 4u);
    ASSERT_EQ(page.value.items.size(), 2u);
    EXPECT_EQ(page.value.items[0]->identity.agent_handle, "b");
    EXPECT_EQ(page.value.items[1]->identity.agent_handle, "c");
}

TEST_F(config_service_test, a_rename_moves_the_handle_and_keeps_the_id)
{
    auto bot = create("bot", "+15550100");
    create("taken");
    identity_patch patch;
    patch.agent_handle = "taken";
    auto clash = wait_for<config_result<snapshot_ptr>>([&](auto done) { service_->update_identity("bot", patch, done); });
    EXPECT_EQ(clash.error, config_errc::handle_exists);
    patch.agent_handle = "sales-bot";
    patch.description = std::optional<std::string>("Answers sales calls");
    auto renamed = wait_for<config_result<snapshot_ptr>>([&](auto done) { service_->update_identity("bot", patch, done); });
    ASSERT_TRUE(renamed.ok());
    EXPECT_EQ(renamed.value->identity.id, bot.id);
    EXPECT_EQ(renamed.value->identity.description, "Answers sales calls");
    EXPECT_EQ(service_->load_identity_by_handle("bot").error, config_errc::identity_not_found);
    EXPECT_EQ(service_->load_identity_by_handle("sales-bot").value.id, bot.id);
    // The number stays with the identity, under its new name; the old handle is free.
    EXPECT_EQ(service_->load_phone("+15550100").value, bot.id);
    create("bot");
    // What was written survives a cold start.
    config_service cold(*db_, clock_, random_, dir_.path() + "/admin_keys", 1000);
    auto read = cold.load_identity_by_handle("sales-bot");
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(read.value.description, "Answers sales calls");
    EXPECT_EQ(read.value.phone_number_since_us, bot.created_at_us);
}

TEST_F(config_service_test, the_organization_id_is_made_once_and_kept)
{
    auto first = wait_for<config_result<uuid>>([&](auto done) { service_->organization_id(done); });
    ASSERT_TRUE(first.ok());
    auto again = wait_for<config_result<uuid>>([&](auto done) { service_->organization_id(done); });
    EXPECT_EQ(again.value, first.value);
    config_service cold(*db_, clock_, random_, dir_.path() + "/admin_keys", 1000);
    auto reread = wait_for<config_result<uuid>>([&](auto done) { cold.organization_id(done); });
    ASSERT_TRUE(reread.ok());
    EXPECT_EQ(reread.value, first.value);
}

TEST_F(config_service_test, admin_keys_added_by_another_writer_are_picked_up)
{
    std::string error;
    ASSERT_TRUE(config_service::add_admin_key(dir_.path() + "/admin_keys", "cg_first_admin_key_0001",
                                              clock_, random_, error));
    auto first = service_->load_api_key(sha256("cg_first_admin_key_0001"));
    ASSERT_TRUE(first.value);
    EXPECT_TRUE(first.value->is_admin());
    EXPECT_FALSE(service_->load_api_key(sha256("cg_not_registered")).value);
    ASSERT_TRUE(config_service::add_admin_key(dir_.path() + "/admin_keys", "cg_second_admin_key_002",
                                              clock_, random_, error));
    EXPECT_TRUE(service_->load_api_key(sha256("cg_second_admin_key_002")).value);
}

// Found by fuzzing the record codec: a phone index value that is not an id
// must not be cached as "no identity has this number".
TEST_F(config_service_test, a_corrupt_phone_index_value_is_a_store_failure_not_unknown)
{
    std::promise<bool> written;
    db_->submit({[](write_txn& txn) {
                     txn.put(column::phones, "+15550123", "not-16-bytes");
                     return true;
                 },
                 [&written](const store_status& s) { written.set_value(s.ok); }});
    ASSERT_TRUE(written.get_future().get());
    auto r = service_->load_phone("+15550123");
    EXPECT_EQ(r.error, config_errc::store_failure);
    EXPECT_FALSE(service_->try_phone("+15550123").has_value()) << "nothing cached";
}

TEST_F(config_service_test, snapshot_cache_stays_within_its_bound)
{
    config_service small(*db_, clock_, random_, dir_.path() + "/admin_keys", 10);
    std::vector<identity_record> ids;
    for (int i = 0; i < 100; ++i)
        ids.push_back(create("bot" + std::to_string(i)));
    for (const auto& id : ids)
        ASSERT_TRUE(small.load_snapshot(id.id).value);
    EXPECT_LE(small.stats().entries, 20u);
}

} // namespace
} // namespace callgate::engine
