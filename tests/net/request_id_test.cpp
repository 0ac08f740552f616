#include "callgate/net/request_id.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace callgate::net {
namespace {

bool is_generated(std::string_view id)
{
    if (id.size() != 32)
        return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

TEST(request_id, a_sane_client_id_is_kept)
{
    for (std::string given : {std::string("a"), std::string("abc-123"), std::string("0af7651916cd43dd8448eb211c80319c"),
                              std::string("trace:1/2+3=4@x_y.z"),
                              std::string(request_id::max_length, 'x')}) {
        request_id id;
        id.assign(given);
        EXPECT_EQ(id.view(), given);
    }
}

TEST(request_id, anything_else_is_replaced_by_a_generated_one)
{
    for (std::string given : {std::string(), std::string("has space"), std::string("quote\""), std::string("new\nline"),
                              std::string("tab\t"), std::string("semi;colon"), std::string("caf\xc3\xa9"),
                              std::string(request_id::max_length + 1, 'x'), std::string("nul\0byte", 8)}) {
        request_id id;
        id.assign(given);
        EXPECT_TRUE(is_generated(id.view())) << given << " -> " << id.view();
        EXPECT_FALSE(request_id::is_sane(given)) << given;
    }
}

TEST(request_id, generated_ids_are_32_hex_digits_and_do_not_repeat)
{
    std::set<std::string> seen;
    request_id id;
    for (int i = 0; i < 10000; ++i) {
        id.generate();
        ASSERT_TRUE(is_generated(id.view())) << id.view();
        seen.insert(std::string(id.view()));
    }
    EXPECT_EQ(seen.size(), 10000u);
}

} // namespace
} // namespace callgate::net
