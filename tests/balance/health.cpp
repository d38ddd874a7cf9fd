#include <bulwark/balance/health.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace std::chrono_literals;
using balance_test::endpoints;

TEST_CASE("health checks mark endpoints by thresholds, driven by the clock", "[balance][health]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(3), {.clock = clock});
    std::set<std::string> down{"e1"};
    int probes = 0;
    auto probe = [&](const bulwark::endpoint& e, bulwark::context&) {
        ++probes;
        return down.count(e.address()) == 0;
    };
    bulwark::health_checker checker(
        reg, probe, {.interval = 5s, .healthy_threshold = 2, .unhealthy_threshold = 3});
    std::stop_source stop;
    auto run = bulwark::spawn(checker.run(stop.get_token()));
    CHECK(probes == 3); // the first round runs at once
    CHECK(reg.find("e1")->active_healthy());
    clock.advance(5s);
    CHECK(reg.find("e1")->active_healthy()); // 2 bad probes
    clock.advance(5s);
    CHECK_FALSE(reg.find("e1")->active_healthy()); // 3 in a row
    CHECK(reg.read()->ready().size() == 2);
    CHECK(reg.healthy().size() == 2);

    down.clear();
    clock.advance(5s);
    CHECK_FALSE(reg.find("e1")->active_healthy()); // 1 good probe
    clock.advance(5s);
    CHECK(reg.find("e1")->active_healthy()); // 2 in a row
    CHECK(reg.read()->ready().size() == 3);

    stop.request_stop();
    CHECK(run.done());
    const int before = probes;
    clock.advance(50s);
    CHECK(probes == before);
}

TEST_CASE("health checks: a slow or throwing probe fails", "[balance][health]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(2), {.clock = clock});
    auto probe = [&](const bulwark::endpoint& e, bulwark::context& ctx) -> bool {
        CHECK(ctx.deadline() == clock.now() + 1s);
        if (e.address() == "e0")
            clock.advance(2s); // past the 1 s timeout
        else
            throw std::runtime_error("connection refused");
        return true;
    };
    bulwark::health_checker checker(reg, probe, {.unhealthy_threshold = 1});
    CHECK(checker.check_now() == 2);
    CHECK(reg.healthy().empty());
    // Both unhealthy: 0 % < 50 %, the registry panics and balances across both.
    CHECK(reg.panic());
    CHECK(reg.read()->ready().size() == 2);
}

TEST_CASE("health check options are validated", "[balance][health]") {
    bulwark::registry reg;
    auto probe = [](const bulwark::endpoint&, bulwark::context&) { return true; };
    CHECK_THROWS_AS(bulwark::health_checker(reg, probe, {.interval = 0s}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(bulwark::health_checker(reg, probe, {.healthy_threshold = 0}),
                    bulwark::invalid_argument_error);
}
