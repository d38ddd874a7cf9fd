#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/pipeline.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
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
    for (int t = 0; t < 3; ++t) {
        pickers.emplace_back([&, t] {
            for (int i = 0; i < 3000; ++i) {
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
    std::thread updater([&] {
        for (int round = 0; round < 200 && !stop.load(); ++round) {
            reg.update(endpoints(4 + round % 8)); // membership churn
            (void)reg.healthy();
            (void)reg.in_zone("east");
        }
    });
    for (auto& t : pickers)
        t.join();
    stop = true;
    updater.join();
    CHECK(calls.load() == 9000);
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
