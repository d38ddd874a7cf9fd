#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// Spins (yielding) until `pred` holds.
template <class Pred>
void wait_until(Pred pred) {
    while (!pred())
        std::this_thread::yield();
}

/// An async operation that holds its permit for `latency` of the manual clock.
struct hold_for {
    bulwark::manual_clock clock;
    bulwark::duration latency;
    int value;
    bulwark::task<int> operator()(bulwark::context&) const {
        co_await clock.async_sleep_for(latency, {});
        co_return value;
    }
};

} // namespace

TEST_CASE("bulkhead rejects a call beyond max_concurrent when there is no queue",
          "[policy][bulkhead]") {
    bulwark::pipeline p{bulwark::bulkhead{{.max_concurrent = 1}}};
    CHECK(p.get<0>().active() == 0);
    bulwark::errc inner{};
    auto out = p.try_execute([&] {
        CHECK(p.get<0>().active() == 1);
        // A second call while the first holds the only permit.
        inner = p.try_execute([] { return 1; }).code();
        return 2;
    });
    REQUIRE(out.has_value());
    CHECK(inner == bulwark::errc::bulkhead_full);
    CHECK(p.get<0>().active() == 0);
    CHECK(p.execute([] { return 3; }) == 3); // the permit came back
    CHECK_THROWS_AS(p.execute([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    CHECK(p.get<0>().active() == 0); // ... also after an exception
}

TEST_CASE("bulkhead's fast path allocates nothing", "[policy][bulkhead][alloc]") {
    bulwark::pipeline p{bulwark::bulkhead{}};
    int sum = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        sum += p.execute([i] { return i; });
    CHECK(scope.count() == 0);
    CHECK(sum == 4950);
}

TEST_CASE(
    "bulkhead rejects beyond max concurrent + queue, and queued callers wait at most max_wait",
    "[policy][bulkhead][concurrency]") {
    bulwark::manual_clock clock;
    clock.auto_advance(false); // waits block until this thread advances time
    bulwark::bulkhead bh{{.max_concurrent = 2, .max_queued = 1, .max_wait = 100ms, .clock = clock}};
    std::atomic<bool> gate_a{false}, gate_b{false};
    auto hold = [&](std::atomic<bool>& gate) {
        return [&] {
            bulwark::context ctx;
            return bh.execute(
                [&](bulwark::context&) -> bulwark::outcome<int> {
                    wait_until([&] { return gate.load(); });
                    return 1;
                },
                ctx);
        };
    };
    bulwark::outcome<int> a, b, c, d;
    std::thread ta([&] { a = hold(gate_a)(); });
    std::thread tb([&] { b = hold(gate_b)(); });
    wait_until([&] { return bh.active() == 2; });

    std::thread tc([&] {
        bulwark::context ctx;
        c = bh.execute([](bulwark::context&) -> bulwark::outcome<int> { return 3; }, ctx);
    });
    wait_until([&] { return bh.queued() == 1; });

    // Two running, one queued: the next caller is rejected at once, without waiting.
    bulwark::context ctx;
    auto rejected = bh.execute([](bulwark::context&) -> bulwark::outcome<int> { return 4; }, ctx);
    CHECK(rejected.code() == bulwark::errc::bulkhead_full);

    // Advance only once the queued caller is asleep on the clock: `queued()` counts it a moment
    // before it computes its due time, and an earlier advance would leave it waiting forever.
    wait_until([&] { return !clock.sleeps().empty(); });
    clock.advance(100ms); // the queued caller's max wait passes
    tc.join();
    CHECK(c.code() == bulwark::errc::bulkhead_full);
    CHECK(bh.queued() == 0);

    std::thread td([&] {
        bulwark::context ctx2;
        d = bh.execute([](bulwark::context&) -> bulwark::outcome<int> { return 5; }, ctx2);
    });
    wait_until([&] { return bh.queued() == 1; });
    gate_a = true; // a permit comes back: the queued caller takes it
    td.join();
    REQUIRE(d.has_value());
    CHECK(*d == 5);
    gate_b = true;
    ta.join();
    tb.join();
    CHECK(*a == 1);
    CHECK(*b == 1);
    CHECK(bh.active() == 0);
}

TEST_CASE("bulkhead under contention never exceeds max_concurrent",
          "[policy][bulkhead][concurrency]") {
    bulwark::bulkhead bh{{.max_concurrent = 3, .max_queued = 8, .max_wait = 10s}};
    std::atomic<int> running{0}, peak{0}, done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                bulwark::context ctx;
                auto o = bh.execute(
                    [&](bulwark::context&) -> bulwark::outcome<int> {
                        int now = ++running;
                        int p = peak.load();
                        while (now > p && !peak.compare_exchange_weak(p, now))
                            ;
                        std::this_thread::yield();
                        --running;
                        return 1;
                    },
                    ctx);
                if (o.has_value())
                    ++done;
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(peak.load() <= 3);
    CHECK(done.load() == 8 * 200); // real time, 10 s max wait: every call gets its turn
    CHECK(bh.active() == 0);
    CHECK(bh.queued() == 0);
}

TEST_CASE("async bulkhead queues coroutines and wakes them when a permit comes back",
          "[policy][bulkhead][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::bulkhead{
        {.max_concurrent = 1, .max_queued = 1, .max_wait = 50ms, .clock = clock}}};
    bulwark::context c1, c2, c3;
    auto first = bulwark::spawn(p.async_try_execute(hold_for{clock, 30ms, 1}, c1));
    auto second = bulwark::spawn(p.async_try_execute(hold_for{clock, 30ms, 2}, c2));
    auto third = bulwark::spawn(p.async_try_execute(hold_for{clock, 30ms, 3}, c3));
    REQUIRE(third.done()); // one running + one queued: rejected at once
    CHECK(third.get().code() == bulwark::errc::bulkhead_full);
    CHECK(p.get<0>().queued() == 1);

    clock.advance(30ms); // the first finishes; the second takes its permit
    REQUIRE(first.done());
    CHECK(*first.get() == 1);
    CHECK_FALSE(second.done());
    clock.advance(30ms);
    REQUIRE(second.done());
    CHECK(*second.get() == 2);
    CHECK(p.get<0>().active() == 0);
}

TEST_CASE("async bulkhead: a queued call gives up after max_wait or when stopped",
          "[policy][bulkhead][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::bulkhead{
        {.max_concurrent = 1, .max_queued = 2, .max_wait = 50ms, .clock = clock}}};
    bulwark::context c1, c2;
    std::stop_source caller;
    bulwark::context c3{caller.get_token()};
    auto first = bulwark::spawn(p.async_try_execute(hold_for{clock, 100ms, 1}, c1));
    auto second = bulwark::spawn(p.async_try_execute(hold_for{clock, 1ms, 2}, c2));
    auto third = bulwark::spawn(p.async_try_execute(hold_for{clock, 1ms, 3}, c3));
    CHECK(p.get<0>().queued() == 2);
    caller.request_stop();
    REQUIRE(third.done());
    CHECK(third.get().code() == bulwark::errc::cancelled);
    clock.advance(50ms);
    REQUIRE(second.done());
    CHECK(second.get().code() == bulwark::errc::bulkhead_full);
    clock.advance(50ms);
    REQUIRE(first.done());
    CHECK(*first.get() == 1);
    CHECK(p.get<0>().queued() == 0);
}

TEST_CASE("bulkhead settings are validated at construction", "[policy][bulkhead]") {
    using bulwark::bulkhead;
    using bulwark::invalid_argument_error;
    CHECK_THROWS_AS(bulkhead({.max_concurrent = 0}), invalid_argument_error);
    CHECK_THROWS_AS(bulkhead({.max_queued = 5}), invalid_argument_error);
    CHECK_THROWS_AS(bulkhead({.max_wait = 5ms}), invalid_argument_error);
    CHECK_THROWS_WITH(bulkhead({.max_queued = 1, .max_wait = -5ms}),
                      Catch::Contains("bulwark::bulkhead: max_wait must be >= 0 (got -5000000ns)"));
    CHECK_THROWS_WITH(bulkhead({.max_concurrent = 0}),
                      Catch::Contains("bulwark::bulkhead: max_concurrent must be >= 1 (got 0)"));
    // extremes: the largest sizes are accepted and behave (counters stop at them)
    bulwark::bulkhead huge{
        {.max_concurrent = SIZE_MAX, .max_queued = SIZE_MAX, .max_wait = bulwark::duration::max()}};
    bulwark::context ctx;
    CHECK(huge.execute([](bulwark::context&) -> bulwark::outcome<int> { return 1; }, ctx)
              .has_value());
    CHECK_NOTHROW(bulkhead({.max_concurrent = 1, .max_queued = 1, .max_wait = 1ms}));
}

TEST_CASE("async bulkhead across threads: queued coroutines are woken by releases on other threads",
          "[policy][bulkhead][async][concurrency]") {
    bulwark::pipeline p{bulwark::bulkhead{{.max_concurrent = 2, .max_queued = 8, .max_wait = 10s}}};
    std::atomic<int> running{0}, peak{0}, ok{0};
    auto op = [&]() -> bulwark::task<int> {
        int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now))
            ;
        // Real time (200 us): the coroutine resumes on the timer thread, and releases there.
        co_await bulwark::steady_clock::async_sleep_for(std::chrono::microseconds{200}, {});
        --running;
        co_return 1;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 20; ++i) {
                bulwark::context ctx;
                if (bulwark::sync_wait(p.async_try_execute(op, ctx)).has_value())
                    ++ok;
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(peak.load() <= 2);
    CHECK(ok.load() == 80);
    CHECK(p.get<0>().active() == 0);
    CHECK(p.get<0>().queued() == 0);
}
