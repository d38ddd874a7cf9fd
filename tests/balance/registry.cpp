#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/round_robin.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using balance_test::endpoints;

TEST_CASE("registry holds a static list and answers cold queries", "[balance][registry]") {
    bulwark::registry reg(endpoints(4));
    CHECK(reg.size() == 4);
    CHECK(reg.endpoints().size() == 4);
    CHECK(reg.in_zone("east").size() == 2);
    CHECK(reg.healthy().size() == 4);
    REQUIRE(reg.find("e2") != nullptr);
    CHECK(reg.find("e2")->zone() == "east");
    CHECK(reg.find("nope") == nullptr);

    bulwark::context ctx;
    ctx.set_endpoint(reg.find("e1").get());
    auto left = reg.not_tried(ctx);
    CHECK(left.size() == 3);
}

TEST_CASE("registry updates keep unchanged endpoints and their stats", "[balance][registry]") {
    bulwark::registry reg(endpoints(3));
    auto e1 = reg.find("e1");
    e1->observe_latency(5ms, bulwark::time_point{1s}, 10s);
    const auto v = reg.version();
    auto next = endpoints(4);
    reg.update(next);
    CHECK(reg.version() > v);
    CHECK(reg.size() == 4);
    CHECK(reg.find("e1") == e1); // same object, same statistics
    CHECK(reg.find("e1")->has_latency_history());
    next[1].weight = 7; // a changed description makes a new endpoint
    reg.update(next);
    CHECK(reg.find("e1") != e1);
    CHECK(reg.find("e1")->weight() == 7);
}

TEST_CASE("registry rejects bad endpoint lists and settings", "[balance][registry]") {
    bulwark::registry reg(endpoints(2));
    CHECK_THROWS_AS(reg.update({{.address = "a"}, {.address = "a"}}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(reg.update({{.address = ""}}), bulwark::invalid_argument_error);
    CHECK_THROWS_AS(reg.update({{.address = "a", .weight = 0}}), bulwark::invalid_argument_error);
    CHECK(reg.size() == 2); // unchanged
    CHECK_THROWS_AS(bulwark::registry({.panic_threshold = 1.5}), bulwark::invalid_argument_error);
    CHECK_THROWS_AS(bulwark::registry({.ewma_decay = 0s}), bulwark::invalid_argument_error);
    CHECK_THROWS_AS(
        bulwark::registry({.outlier = bulwark::outlier_options{.consecutive_failures = 0}}),
        bulwark::invalid_argument_error);
    CHECK_THROWS_AS(
        bulwark::registry({.outlier = bulwark::outlier_options{.max_ejection_percent = 101}}),
        bulwark::invalid_argument_error);
}

TEST_CASE("registry follows a discovery source", "[balance][registry][discovery]") {
    static_assert(bulwark::discovery_source<balance_test::fake_discovery>);
    static_assert(!bulwark::discovery_source<int>);
    bulwark::registry reg;
    balance_test::fake_discovery dns;
    reg.attach(dns);
    CHECK(reg.size() == 0);
    dns.push(endpoints(3));
    CHECK(reg.size() == 3);
    dns.push(endpoints(1));
    CHECK(reg.size() == 1);
    CHECK(reg.find("e0") != nullptr);
}

TEST_CASE("a removed endpoint stays alive while a request is in flight", "[balance][registry]") {
    bulwark::registry reg(endpoints(2));
    std::weak_ptr<const bulwark::endpoint> weak;
    {
        auto e = reg.find("e1");
        weak = e;
        e->begin_request();
    }
    reg.update(endpoints(1)); // e1 removed while in flight
    CHECK_FALSE(weak.expired());
    weak.lock()->end_request();
    reg.update(endpoints(1)); // the next update frees it
    CHECK(weak.expired());
}

TEST_CASE("panic threshold: below it, balance across all endpoints", "[balance][registry][panic]") {
    auto clock = bulwark::manual_clock{};
    bulwark::registry reg(endpoints(4),
                          {.outlier = bulwark::outlier_options{.consecutive_failures = 1,
                                                               .max_ejection_percent = 100},
                           .clock = clock});
    auto fail = [&](const char* addr) {
        reg.record(*reg.find(addr), bulwark::verdict::failure, 1ms, clock.now());
    };
    fail("e0");
    fail("e1");
    // 2 of 4 healthy = 50 %: not below the threshold.
    CHECK_FALSE(reg.panic());
    CHECK(reg.read()->ready().size() == 2);
    fail("e2");
    // 1 of 4 healthy = 25 % < 50 %: panic, balance across all four (Envoy).
    CHECK(reg.panic());
    CHECK(reg.read()->ready().size() == 4);
}

TEST_CASE("panic threshold 0 disables panic: no healthy endpoint means none ready",
          "[balance][registry][panic]") {
    auto clock = bulwark::manual_clock{};
    bulwark::registry reg(endpoints(2),
                          {.panic_threshold = 0.0,
                           .outlier = bulwark::outlier_options{.consecutive_failures = 1,
                                                               .max_ejection_percent = 100},
                           .clock = clock});
    reg.record(*reg.find("e0"), bulwark::verdict::failure, 1ms, clock.now());
    reg.record(*reg.find("e1"), bulwark::verdict::failure, 1ms, clock.now());
    CHECK_FALSE(reg.panic());
    CHECK(reg.read()->ready().empty());
}
