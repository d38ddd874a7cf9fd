// Soak: the synchronous bus with 2 publishing threads and 2 threads that subscribe and
// unsubscribe handlers all the time: the permanent subscriber sees every message exactly once,
// the handler count of every publish adds up, and retired handlers are freed.
#include <bulwark/channel/bus.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>

namespace {
struct ping {
    static constexpr std::string_view subject = "soak.ping";
    int n = 0;
};
using soak_topics = bulwark::topics<ping>;
} // namespace

TEST_CASE("soak: the bus under publish and subscribe churn", "[soak][bus][concurrency]") {
    bulwark::bus<soak_topics> bus;
    std::atomic<std::uint64_t> progress{0}, published{0}, permanent{0}, churn_calls{0},
        handlers_ran{0}, subscribes{0};
    auto keep = bus.subscribe<ping>([&](const ping&) { permanent.fetch_add(1); });
    soak::heap_probe heap;
    {
        soak::watchdog dog("bus", progress);
        soak::run_for(soak::run_time(), 4, heap, [&](int i) {
            if (i < 2) {
                handlers_ran.fetch_add(bus.publish(ping{i}), std::memory_order_relaxed);
                published.fetch_add(1, std::memory_order_relaxed);
            } else {
                auto sub = bus.subscribe<ping>([&](const ping&) { churn_calls.fetch_add(1); });
                subscribes.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::yield();
                sub.unsubscribe();
            }
            progress.fetch_add(1, std::memory_order_relaxed);
        });
    }
    heap.finished();
    WARN("soak [bus]: " << published << " publishes, " << subscribes
                        << " subscribe/unsubscribe pairs, " << handlers_ran << " handler calls; "
                        << heap.describe());
    CHECK(permanent == published);
    CHECK(handlers_ran == permanent + churn_calls);
    CHECK(heap.growth() < soak::max_growth);
}
