#include <bulwark/balance/registry.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using balance_test::endpoints;

namespace {
struct fixture {
    bulwark::manual_clock clock;
    bulwark::registry reg;
    explicit fixture(bulwark::outlier_options o, std::size_t n = 10)
        : reg(endpoints(n), {.outlier = o, .clock = clock}) {}
    void fail(const char* addr, int times = 1) {
        for (int i = 0; i < times; ++i)
            reg.record(*reg.find(addr), bulwark::verdict::failure, 1ms, clock.now());
    }
    void succeed(const char* addr) {
        reg.record(*reg.find(addr), bulwark::verdict::success, 1ms, clock.now());
    }
    bool ejected(const char* addr) { return reg.find(addr)->ejected(); }
};
} // namespace

TEST_CASE("outlier: consecutive failures eject, time returns the endpoint", "[balance][outlier]") {
    fixture f({}); // Envoy defaults: 5 in a row, 30 s base
    f.fail("e0", 4);
    f.succeed("e0"); // a success breaks the streak
    f.fail("e0", 4);
    CHECK_FALSE(f.ejected("e0"));
    f.fail("e0");
    CHECK(f.ejected("e0"));
    CHECK(f.reg.read()->ready().size() == 9);
    CHECK(f.reg.find("e0")->ejected_until() == f.clock.now() + 30s);

    f.clock.advance(29s);
    f.reg.return_due(f.clock.now());
    CHECK(f.ejected("e0"));
    f.clock.advance(1s);
    f.reg.return_due(f.clock.now());
    CHECK_FALSE(f.ejected("e0"));
    CHECK(f.reg.read()->ready().size() == 10);
    CHECK(f.reg.find("e0")->consecutive_failures() == 0);
}

TEST_CASE("outlier: ejection time grows with repeats, capped, and decays in service",
          "[balance][outlier]") {
    fixture f({.consecutive_failures = 1,
               .base_ejection_time = 10s,
               .max_ejection_time = 25s,
               .interval = 60s});
    auto eject_and_measure = [&] {
        f.fail("e1");
        REQUIRE(f.ejected("e1"));
        const auto length = f.reg.find("e1")->ejected_until() - f.clock.now();
        f.clock.advance(length);
        f.reg.return_due(f.clock.now());
        REQUIRE_FALSE(f.ejected("e1"));
        return length;
    };
    CHECK(eject_and_measure() == 10s);
    CHECK(eject_and_measure() == 20s);
    CHECK(eject_and_measure() == 25s); // 30 s capped at 25 s
    CHECK(f.reg.find("e1")->times_ejected() == 3);
    f.clock.advance(120s); // two intervals in service: the multiplier drops by two
    CHECK(eject_and_measure() == 20s);
}

TEST_CASE("outlier: max ejection percent, but always at least one", "[balance][outlier]") {
    fixture f({.consecutive_failures = 1, .max_ejection_percent = 20});
    f.fail("e0");
    f.fail("e1");
    f.fail("e2"); // 20 % of 10 = 2
    CHECK(f.ejected("e0"));
    CHECK(f.ejected("e1"));
    CHECK_FALSE(f.ejected("e2"));

    fixture g({.consecutive_failures = 1, .max_ejection_percent = 0}, 3);
    g.fail("e0");
    g.fail("e1");
    CHECK(g.ejected("e0")); // Envoy ejects one host whatever the percentage
    CHECK_FALSE(g.ejected("e1"));
}

TEST_CASE("outlier: ignored outcomes count for nothing", "[balance][outlier]") {
    fixture f({.consecutive_failures = 2});
    f.fail("e0");
    f.reg.record(*f.reg.find("e0"), bulwark::verdict::ignore, 1ms, f.clock.now());
    CHECK(f.reg.find("e0")->consecutive_failures() == 1);
    f.reg.record(*f.reg.find("e1"), bulwark::verdict::ignore, 1ms, f.clock.now());
    CHECK_FALSE(f.reg.find("e1")->has_latency_history());
}

TEST_CASE("outlier options are validated", "[balance][outlier]") {
    using o = bulwark::outlier_options;
    CHECK_THROWS_AS(bulwark::outlier_detector(o{.base_ejection_time = 0s}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(
        bulwark::outlier_detector(o{.base_ejection_time = 10s, .max_ejection_time = 5s}),
        bulwark::invalid_argument_error);
    CHECK_THROWS_AS(bulwark::outlier_detector(o{.interval = 0s}), bulwark::invalid_argument_error);
    CHECK_NOTHROW(bulwark::outlier_detector(o{}));
}
