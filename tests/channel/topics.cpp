#include <bulwark/channel/topics.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace {
struct order_created {
    static constexpr std::string_view subject = "orders.created";
    std::string id;
};
struct payment_processed {
    std::string order;
};
struct unrelated {};
} // namespace

template <>
struct bulwark::subject_of<payment_processed> {
    static constexpr std::string_view value = "payments.processed";
};

using shop = bulwark::topics<order_created, payment_processed>;

static_assert(bulwark::message<order_created> && bulwark::message<payment_processed>);
static_assert(!bulwark::message<unrelated> && !bulwark::message<int>);
static_assert(bulwark::is_topic_v<order_created, shop>);
static_assert(bulwark::is_topic_v<const order_created&, shop>);
static_assert(!bulwark::is_topic_v<int, shop> && !bulwark::is_topic_v<unrelated, shop>);
static_assert(bulwark::topic_of<payment_processed, shop>);
static_assert(bulwark::topic_index_v<order_created, shop> == 0);
static_assert(bulwark::topic_index_v<payment_processed, shop> == 1);
static_assert(bulwark::topic_count_v<shop> == 2 && shop::size == 2);
static_assert(std::is_same_v<bulwark::topic_at_t<1, shop>, payment_processed>);
static_assert(bulwark::subject_v<payment_processed> == "payments.processed");
static_assert(bulwark::detail::require_topic<payment_processed, shop>() == 1);

TEST_CASE("topics map types to subjects and indices at compile time", "[channel][topics]") {
    CHECK(bulwark::subject_v<order_created> == "orders.created");
    CHECK(bulwark::topic_index_v<const payment_processed&, shop> == 1);
}
