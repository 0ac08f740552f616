// contact_rule_set::match, the screening lookup of every decision: the
// precedence rules of docs/contact-rules.md, the edges of E.164, and random
// rule sets checked against a plain scan of every rule.
#include "callgate/engine/config_service.hpp"
#include "callgate/engine/validation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace callgate::engine {
namespace {

contact_rule rule(match_type match, std::string target, rule_action action)
{
    contact_rule r;
    r.match = match;
    r.target = std::move(target);
    r.action = action;
    return r;
}

contact_rule exact(std::string target, rule_action action = rule_action::block)
{
    return rule(match_type::exact_number, std::move(target), action);
}

contact_rule prefix(std::string target, rule_action action = rule_action::block)
{
    return rule(match_type::prefix, std::move(target), action);
}

// The same answer the slow way: every rule looked at.
std::optional<rule_action> scan(const std::vector<contact_rule>& rules, std::string_view caller)
{
    if (!is_valid_e164(caller))
        return std::nullopt;
    std::optional<rule_action> best;
    std::size_t best_length = 0;
    for (const auto& r : rules) {
        if (r.match == match_type::exact_number && r.target == caller)
            return r.action;
        if (r.match == match_type::prefix && caller.starts_with(r.target) && r.target.size() > best_length) {
            best = r.action;
            best_length = r.target.size();
        }
    }
    return best;
}

TEST(contact_rule_set, an_empty_set_matches_nothing)
{
    contact_rule_set set;
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.match("+15550199"), std::nullopt);
    set.add(exact("+15550199"));
    EXPECT_FALSE(set.empty());
}

TEST(contact_rule_set, the_most_specific_rule_wins)
{
    contact_rule_set set;
    set.add(prefix("+1", rule_action::block));
    set.add(prefix("+1555", rule_action::allow));
    set.add(prefix("+155501", rule_action::block));
    set.add(exact("+15550199", rule_action::allow));
    EXPECT_EQ(set.match("+15550199"), rule_action::allow);  // exact over every prefix
    EXPECT_EQ(set.match("+15550188"), rule_action::block);  // +155501
    EXPECT_EQ(set.match("+15559999"), rule_action::allow);  // +1555
    EXPECT_EQ(set.match("+12125550100"), rule_action::block); // +1
    EXPECT_EQ(set.match("+442079460123"), std::nullopt);
}

TEST(contact_rule_set, an_exact_rule_matches_only_the_whole_number)
{
    contact_rule_set set;
    set.add(exact("+15550199"));
    EXPECT_EQ(set.match("+15550199"), rule_action::block);
    EXPECT_EQ(set.match("+155501990"), std::nullopt);
    EXPECT_EQ(set.match("+1555019"), std::nullopt); // and not E.164 anyway
}

TEST(contact_rule_set, a_prefix_as_long_as_the_number_matches_it)
{
    contact_rule_set set;
    set.add(prefix("+15550199", rule_action::allow));
    set.add(prefix("+123456789012345", rule_action::block)); // 15 digits, the longest E.164
    EXPECT_EQ(set.match("+15550199"), rule_action::allow);
    EXPECT_EQ(set.match("+155501990"), rule_action::allow);
    EXPECT_EQ(set.match("+123456789012345"), rule_action::block);
    EXPECT_EQ(set.match("+12345678901234"), std::nullopt);
}

TEST(contact_rule_set, leading_zeros_are_digits)
{
    contact_rule_set set;
    set.add(prefix("+0", rule_action::allow));
    set.add(prefix("+00", rule_action::block));
    set.add(exact("+000000000", rule_action::allow));
    EXPECT_EQ(set.match("+012345678"), rule_action::allow);
    EXPECT_EQ(set.match("+001234567"), rule_action::block);
    EXPECT_EQ(set.match("+000000000"), rule_action::allow);
    EXPECT_EQ(set.match("+0000000000"), rule_action::block);
}

TEST(contact_rule_set, a_withheld_caller_matches_no_rule)
{
    contact_rule_set set;
    set.add(prefix("+1"));
    for (std::string_view caller : {"anonymous", "", "+", "+1555", "15550199", "+1555019x", "+12345678901234567"})
        EXPECT_EQ(set.match(caller), std::nullopt) << caller;
}

TEST(contact_rule_set, adding_a_target_again_changes_its_action)
{
    contact_rule_set set;
    set.add(exact("+15550199", rule_action::block));
    set.add(exact("+15550199", rule_action::allow));
    set.add(prefix("+1555", rule_action::allow));
    set.add(prefix("+1555", rule_action::block));
    EXPECT_EQ(set.match("+15550199"), rule_action::allow);
    EXPECT_EQ(set.match("+15550188"), rule_action::block);
}

// Random rules over few digits, so that callers match often and at every
// depth; the set grows through its resizes as rules are added.
TEST(contact_rule_set, random_sets_answer_like_a_scan_of_every_rule)
{
    std::mt19937_64 random(20261201);
    auto digits = [&](std::size_t n) {
        std::string s = "+";
        while (s.size() < n + 1)
            s += static_cast<char>('0' + random() % 3);
        return s;
    };
    for (std::size_t round = 0; round < 4; ++round) {
        contact_rule_set set;
        std::vector<contact_rule> rules;
        std::size_t count = 10 + round * 700;
        for (std::size_t i = 0; i < count; ++i) {
            auto action = random() % 2 == 0 ? rule_action::allow : rule_action::block;
            auto r = random() % 2 == 0 ? exact(digits(8 + random() % 8), action) : prefix(digits(1 + random() % 15), action);
            auto same = std::find_if(rules.begin(), rules.end(), [&](const contact_rule& o) {
                return o.match == r.match && o.target == r.target;
            });
            if (same != rules.end())
                continue; // (match_type, match_target) is unique per identity
            rules.push_back(r);
            set.add(r);
        }
        for (std::size_t i = 0; i < 20'000; ++i) {
            auto caller = digits(8 + random() % 8);
            ASSERT_EQ(set.match(caller), scan(rules, caller)) << caller << " with " << rules.size() << " rules";
        }
    }
}

} // namespace
} // namespace callgate::engine
