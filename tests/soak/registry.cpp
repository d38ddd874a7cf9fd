// Soak: a registry whose endpoint list is replaced continuously by a discovery thread while 3
// threads balance calls over it, with outlier ejection on: no use of a removed endpoint (ASan),
// outstanding counts back to 0, memory flat (removed endpoints are freed).
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/registry.hpp>
#include <bulwark/pipeline.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("soak: a registry under updates while 3 threads balance over it",
          "[soak][registry][concurrency]") {
    bulwark::registry reg({.outlier = bulwark::outlier_options{.consecutive_failures = 3,
                                                               .base_ejection_time = 5ms,
                                                               .max_ejection_time = 50ms,
                                                               .max_ejection_percent = 50}});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    std::atomic<std::uint64_t> progress{0}, calls{0}, updates{0}, none{0}, failed{0};
    std::atomic<std::size_t> checksum{0};
    soak::heap_probe heap;
    {
        soak::watchdog dog("registry", progress);
        soak::run_for(soak::run_time(), 4, heap, [&](int i) {
            thread_local std::minstd_rand rng(static_cast<unsigned>(i) + 7);
            if (i == 0) { // discovery: a random subset of 32 addresses
                std::vector<bulwark::endpoint_info> list;
                for (int a = 0; a < 32; ++a)
                    if (rng() % 3 != 0)
                        list.push_back({.address = "10.0.0." + std::to_string(a) + ":80",
                                        .weight = 1 + static_cast<std::uint32_t>(rng() % 4)});
                reg.update(list);
                updates.fetch_add(1, std::memory_order_relaxed);
                progress.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(100us);
                return;
            }
            const bool fail = rng() % 10 == 0;
            auto o = client.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
                // Read the endpoint: ASan reports it if a removed one was freed under us.
                checksum.fetch_add(ctx.endpoint()->address().size(), std::memory_order_relaxed);
                if (fail)
                    return bulwark::errc::transport_error;
                return 1;
            });
            if (o.has_failure())
                (o.code() == bulwark::errc::no_endpoint ? none : failed).fetch_add(1);
            calls.fetch_add(1, std::memory_order_relaxed);
            progress.fetch_add(1, std::memory_order_relaxed);
        });
    }
    heap.finished();
    WARN("soak [registry]: " << calls << " calls over " << updates << " updates, " << failed
                             << " failed, " << none << " found no endpoint; " << heap.describe());
    auto r = reg.read();
    for (const bulwark::endpoint* e : r.set().all())
        CHECK(e->outstanding() == 0);
    CHECK(updates > 10);
    CHECK(checksum > 0);
    CHECK(heap.growth() < soak::max_growth);
}
