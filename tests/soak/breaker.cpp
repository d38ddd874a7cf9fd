// Soak: one circuit breaker shared by 4 threads whose calls fail in bursts, cycling it through
// closed, open and half-open for the whole run. Accounting exact, memory flat, no deadlock.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <random>

using namespace std::chrono_literals;

namespace {
struct transitions {
    std::atomic<std::uint64_t>* count;
    void on_state_change(bulwark::breaker_state, bulwark::breaker_state) { count->fetch_add(1); }
};
} // namespace

TEST_CASE("soak: a circuit breaker shared by 4 threads", "[soak][breaker][concurrency]") {
    std::atomic<std::uint64_t> changes{0}, calls{0}, ran{0}, rejected{0}, other{0};
    bulwark::basic_circuit_breaker<bulwark::default_classifier, transitions> breaker{
        {.window = bulwark::count_window{50},
         .failure_rate = 0.5,
         .minimum_calls = 20,
         .open_for = 2ms,
         .half_open_calls = 3},
        {},
        transitions{&changes}};
    auto client = bulwark::pipeline{std::ref(breaker)};
    const auto start = std::chrono::steady_clock::now();
    soak::heap_probe heap;
    {
        soak::watchdog dog("breaker", calls);
        soak::run_for(soak::run_time(), 4, heap, [&](int i) {
            thread_local std::minstd_rand rng(static_cast<unsigned>(i) + 1);
            // Failure bursts: every other 20 ms window fails 90 % of calls.
            const bool bad = ((std::chrono::steady_clock::now() - start) / 20ms) % 2 == 1;
            const bool fail = rng() % 100 < (bad ? 90u : 2u);
            auto o = client.try_execute([&]() -> bulwark::outcome<int> {
                ran.fetch_add(1, std::memory_order_relaxed);
                if (fail)
                    return bulwark::errc::transport_error;
                return 1;
            });
            if (o.has_failure() && o.code() == bulwark::errc::circuit_open)
                rejected.fetch_add(1, std::memory_order_relaxed);
            else if (o.has_failure() && o.code() != bulwark::errc::transport_error)
                other.fetch_add(1, std::memory_order_relaxed);
            calls.fetch_add(1, std::memory_order_relaxed);
        });
    }
    heap.finished();
    WARN("soak [breaker]: " << calls << " calls, " << ran << " ran, " << rejected << " rejected, "
                            << changes << " state changes; " << heap.describe());
    CHECK(ran + rejected == calls);
    CHECK(other == 0);
    CHECK(breaker.metrics().rejected == static_cast<std::int64_t>(rejected.load()));
    CHECK(changes > 0);
    CHECK(heap.growth() < soak::max_growth);
}
