#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/health.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/pipeline.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

using balance_test::endpoints;

namespace {
template <class Strategy>
void hammer(Strategy strategy) {
    bulwark::registry reg(endpoints(8),
                          {.outlier = bulwark::outlier_options{.consecutive_failures = 3}});
    auto client = bulwark::pipeline{bulwark::balance<Strategy>{reg, std::move(strategy)}};
    std::atomic<bool> stop{false};
    std::atomic<long> calls{0};
    std::vector<std::thread> pickers;
    std::latch start(4); // three pickers and the updater start together
    for (int t = 0; t < 3; ++t) {
        pickers.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int i = 0; i < 10000; ++i) {
                bulwark::context ctx;
                ctx.set_hash_key(static_cast<std::uint64_t>(i * 7 + t));
                (void)client.try_execute(
                    [&](bulwark::context& c) -> bulwark::outcome<int> {
                        // Endpoints whose address ends in 1 fail: outlier ejection publishes too.
                        if (c.endpoint()->address().back() == '1')
                            return bulwark::errc::transport_error;
                        return 1;
                    },
                    ctx);
                calls.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    long updates = 0;
    std::thread updater([&] {
        start.arrive_and_wait();
        for (int round = 0; !stop.load(); ++round, ++updates) {
            reg.update(endpoints(4 + round % 8)); // membership churn
            (void)reg.healthy();
            (void)reg.in_zone("east");
        }
    });
    for (auto& t : pickers)
        t.join();
    stop = true;
    updater.join();
    CHECK(calls.load() == 30000);
    CHECK(updates > 0);
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}
} // namespace

TEST_CASE("concurrent picks and registry updates", "[balance][concurrency]") {
    hammer(bulwark::p2c_peak_ewma{});
    hammer(bulwark::round_robin{});
    hammer(bulwark::weighted_round_robin{});
    hammer(bulwark::ring_hash{{.balance_factor = 1.5}});
    hammer(bulwark::maglev{{.table_size = 4099}});
}

TEST_CASE("concurrent picks while health checks flip endpoints", "[balance][concurrency][health]") {
    bulwark::registry reg(endpoints(6));
    std::atomic<unsigned> flips{0};
    auto probe = [&](const bulwark::endpoint& e, bulwark::context&) {
        // Odd rounds take e1 and e2 down, even rounds bring them back.
        return (flips.load() % 2 == 0) || (e.address() != "e1" && e.address() != "e2");
    };
    bulwark::health_checker checker(reg, probe, {.healthy_threshold = 1, .unhealthy_threshold = 1});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    std::atomic<bool> stop{false};
    std::latch start(3);
    std::thread checks([&] {
        start.arrive_and_wait();
        while (!stop.load()) {
            flips.fetch_add(1);
            checker.check_now();
        }
    });
    std::vector<std::thread> pickers;
    std::atomic<long> no_endpoint{0};
    for (int t = 0; t < 2; ++t)
        pickers.emplace_back([&] {
            start.arrive_and_wait();
            for (int i = 0; i < 20000; ++i) {
                auto o =
                    client.try_execute([](bulwark::context& c) { return c.endpoint()->weight(); });
                if (!o.has_value())
                    no_endpoint.fetch_add(1);
            }
        });
    for (auto& t : pickers)
        t.join();
    stop = true;
    checks.join();
    CHECK(no_endpoint.load() == 0); // at least 4 of 6 are always healthy
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}
