#include <bulwark/observe/listener.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace bulwark;

namespace {

struct hears_retry {
    std::vector<std::uint32_t>* attempts;
    void on(const events::retry_attempt& e) { attempts->push_back(e.attempt); }
};
struct hears_breaker {
    int* rejected;
    void on(const events::breaker_rejected&) { ++*rejected; }
};
struct hears_all {
    int* n;
    template <class E>
    void on(const E&) {
        ++*n;
    }
};

} // namespace

static_assert(listens_to<hears_retry, events::retry_attempt>);
static_assert(!listens_to<hears_retry, events::retry_give_up>, "no conversion between events");
static_assert(!listens_to<null_listener, events::retry_attempt>);
static_assert(hears<hears_all&, events::channel_published>);
static_assert(std::is_empty_v<listeners<null_listener>>);
static_assert(sizeof(listeners<null_listener, hears_retry>) == sizeof(hears_retry));

TEST_CASE("emit reaches a listener only for the events it overloads", "[observe][listener]") {
    std::vector<std::uint32_t> attempts;
    hears_retry l{&attempts};
    emit(l, events::retry_attempt{.attempt = 2});
    emit(l, events::retry_give_up{}); // not heard: compiles to nothing
    null_listener n;
    emit(n, events::retry_attempt{.attempt = 3});
    REQUIRE(attempts == std::vector<std::uint32_t>{2});
}

TEST_CASE("listeners{a, b} calls each member that hears the event", "[observe][listener]") {
    std::vector<std::uint32_t> attempts;
    int rejected = 0, all = 0;
    listeners both{hears_retry{&attempts}, hears_breaker{&rejected}, hears_all{&all}};
    emit(both, events::retry_attempt{.attempt = 1});
    emit(both, events::breaker_rejected{});
    emit(both, events::hedge_winner{});
    REQUIRE(attempts.size() == 1);
    REQUIRE(rejected == 1);
    REQUIRE(all == 3);
    static_assert(!listens_to<listeners<hears_retry, hears_breaker>, events::hedge_winner>);
}

TEST_CASE("listener_ref shares one stateful listener; on_events builds one from lambdas",
          "[observe][listener]") {
    int all = 0;
    hears_all counter{&all};
    listener_ref ref{counter};
    auto copy = ref;
    emit(ref, events::fallback_used{});
    emit(copy, events::fallback_used{});
    REQUIRE(all == 2);

    int published = 0;
    on_events lambdas{[&](const events::channel_published&) { ++published; }};
    emit(lambdas, events::channel_published{.subject = "orders.created"});
    emit(lambdas, events::channel_delivered{});
    REQUIRE(published == 1);
}
