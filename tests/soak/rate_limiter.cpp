// Soak: rate limiters under 4 threads, one that rejects at once and one whose callers wait up
// to 2 ms: admissions never exceed burst + rate x elapsed, and the bucket keeps refilling.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/rate_limiter.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

using namespace std::chrono_literals;

TEST_CASE("soak: rate limiters under 4 threads", "[soak][rate_limiter][concurrency]") {
    for (const auto wait : {bulwark::duration{}, bulwark::duration{2ms}}) {
        constexpr double rate = 20'000;
        constexpr std::size_t burst = 100;
        bulwark::rate_limiter limiter{{.rate = rate, .burst = burst, .max_wait = wait}};
        auto client = bulwark::pipeline{std::ref(limiter)};
        std::atomic<std::uint64_t> calls{0}, admitted{0}, limited{0}, other{0};
        soak::heap_probe heap;
        const auto start = std::chrono::steady_clock::now();
        {
            soak::watchdog dog("rate_limiter", calls);
            soak::run_for(soak::run_time() / 2, 4, heap, [&](int) {
                auto o = client.try_execute([&] {
                    admitted.fetch_add(1, std::memory_order_relaxed);
                    return 1;
                });
                if (o.has_failure())
                    (o.code() == bulwark::errc::rate_limited ? limited : other).fetch_add(1);
                calls.fetch_add(1, std::memory_order_relaxed);
            });
        }
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        heap.finished();
        const double bound = static_cast<double>(burst) + rate * elapsed;
        WARN("soak [rate_limiter, max_wait "
             << wait.count() / 1'000'000 << " ms]: " << calls << " calls, " << admitted
             << " admitted (bound " << static_cast<std::uint64_t>(bound) << " in " << elapsed
             << " s), " << limited << " limited; " << heap.describe());
        CHECK(static_cast<double>(admitted.load()) <= bound);
        CHECK(admitted + limited == calls);
        CHECK(other == 0);
        CHECK(admitted > burst); // it refilled
        CHECK(heap.growth() < soak::max_growth);
    }
}
