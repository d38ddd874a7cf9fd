// Soak: a bulkhead of 4 with a queue of 8, hammered by 8 threads: the limit holds at every
// moment, every call either ran or was rejected, nothing is left held at the end.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("soak: a bulkhead of 4 under 8 threads", "[soak][bulkhead][concurrency]") {
    constexpr std::size_t limit = 4;
    bulwark::bulkhead bulkhead{{.max_concurrent = limit, .max_queued = 8, .max_wait = 1ms}};
    auto client = bulwark::pipeline{std::ref(bulkhead)};
    std::atomic<std::uint64_t> calls{0}, ran{0}, full{0}, other{0};
    std::atomic<std::int64_t> running{0}, most{0};
    soak::heap_probe heap;
    {
        soak::watchdog dog("bulkhead", calls);
        soak::run_for(soak::run_time(), 8, heap, [&](int) {
            auto o = client.try_execute([&]() -> bulwark::outcome<int> {
                const auto now = running.fetch_add(1) + 1;
                auto seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now))
                    ;
                ran.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::yield(); // hold the permit a little
                running.fetch_sub(1);
                return 1;
            });
            if (o.has_failure())
                (o.code() == bulwark::errc::bulkhead_full ? full : other).fetch_add(1);
            calls.fetch_add(1, std::memory_order_relaxed);
        });
    }
    heap.finished();
    WARN("soak [bulkhead]: " << calls << " calls, " << ran << " ran, " << full
                             << " rejected, most running at once " << most << " (limit " << limit
                             << "); " << heap.describe());
    CHECK(most <= static_cast<std::int64_t>(limit));
    CHECK(ran + full == calls);
    CHECK(other == 0);
    CHECK(bulkhead.active() == 0);
    CHECK(bulkhead.queued() == 0);
    CHECK(heap.growth() < soak::max_growth);
}
