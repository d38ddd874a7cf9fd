// Soak: an async channel fed at twice what its consumers can handle, under each overflow
// policy: memory stays bounded by the queue, and every publish is accounted for — accepted and
// then acked, or refused (reject), or dropped (drop_oldest / drop_newest), or waited for (block).
#include <bulwark/channel/async_channel.hpp>

#include "soak/soak_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// Work that takes `d` of wall time on the consumer (its capacity: 1 / d per consumer).
void busy(std::chrono::nanoseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until)
        ;
}

template <class Overflow>
void soak_channel(const char* name) {
    constexpr auto cost = 50us;     // 2 consumers: 40 000 messages/s
    constexpr auto interval = 25us; // 2 producers: 80 000 messages/s, twice that
    std::atomic<std::uint64_t> progress{0}, handled{0}, published{0}, refused{0}, drops_seen{0};
    soak::heap_probe heap;
    std::uint64_t accepted = 0, acked = 0, dead = 0, dropped = 0, rejected = 0;
    {
        bulwark::async_channel<std::string, bulwark::mpmc, Overflow> ch(
            [&](std::string& m) {
                busy(cost);
                handled.fetch_add(m.empty() ? 0 : 1, std::memory_order_relaxed);
                progress.fetch_add(1, std::memory_order_relaxed);
            },
            {.capacity = 256, .consumers = 2, .on_drop = [&](const std::string&) {
                 drops_seen.fetch_add(1);
             }});
        {
            soak::watchdog dog(name, progress);
            soak::run_for(soak::run_time() / 2, 2, heap, [&](int) {
                thread_local auto next = std::chrono::steady_clock::now();
                while (std::chrono::steady_clock::now() < next)
                    ;
                next += interval;
                // A payload on the heap, so a leaked message would show in the heap figure.
                std::string m(64, 'x');
                if (ch.publish(std::move(m)))
                    refused.fetch_add(1, std::memory_order_relaxed);
                published.fetch_add(1, std::memory_order_relaxed);
                progress.fetch_add(1, std::memory_order_relaxed);
            });
            ch.close(); // handles everything accepted
        }
        accepted = ch.accepted();
        acked = ch.acked();
        dead = ch.dead_lettered();
        dropped = ch.dropped();
        rejected = ch.rejected();
    }
    heap.finished();
    WARN("soak [async_channel, " << name << "]: " << published << " publishes, " << accepted
                                 << " accepted, " << acked << " handled, " << dropped
                                 << " dropped, " << refused << " refused; " << heap.describe());
    // drop_newest discards the newcomer (publish still succeeds: it is not accepted);
    // drop_oldest accepts it and discards the oldest queued message instead.
    constexpr bool newest = std::is_same_v<Overflow, bulwark::overflow::drop_newest>;
    CHECK(accepted + refused + (newest ? dropped : 0) == published);
    CHECK(accepted == acked + dead + (newest ? 0 : dropped));
    CHECK(handled == acked);
    CHECK(dead == 0);
    CHECK(drops_seen == dropped);
    CHECK(rejected == (std::is_same_v<Overflow, bulwark::overflow::reject> ? refused.load() : 0));
    if constexpr (std::is_same_v<Overflow, bulwark::overflow::block>)
        CHECK(refused == 0);
    CHECK(heap.growth() < soak::max_growth);
}

} // namespace

TEST_CASE("soak: an async channel at twice its consumers' capacity, each overflow policy",
          "[soak][async_channel][concurrency]") {
    SECTION("block") {
        soak_channel<bulwark::overflow::block>("block");
    }
    SECTION("reject") {
        soak_channel<bulwark::overflow::reject>("reject");
    }
    SECTION("drop_oldest") {
        soak_channel<bulwark::overflow::drop_oldest>("drop_oldest");
    }
    SECTION("drop_newest") {
        soak_channel<bulwark::overflow::drop_newest>("drop_newest");
    }
}
