#include <bulwark/runtime/steady_clock.hpp>
#include <bulwark/runtime/when.hpp>
#include <bulwark/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A task that waits `d` on a manual clock (stoppable) and then yields `v`, or throws `what`.
struct timed {
    bulwark::manual_clock clock;
    std::vector<int>* stopped;

    bulwark::task<int> value(bulwark::duration d, int v, std::stop_token st = {}) const {
        const bool elapsed = co_await clock.async_sleep_for(d, std::move(st)); // bound: g++ 12
        if (!elapsed) {
            stopped->push_back(v);
            co_return -v;
        }
        co_return v;
    }
    bulwark::task<void> nothing(bulwark::duration d) const {
        co_await clock.async_sleep_for(d, {});
    }
    bulwark::task<std::string> fail(bulwark::duration d, std::string what) const {
        co_await clock.async_sleep_for(d, {});
        throw std::runtime_error(what);
    }
};

} // namespace

TEST_CASE("when_all waits for every task and yields their values in argument order",
          "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    auto running =
        bulwark::spawn(bulwark::when_all(t.value(30ms, 1), t.nothing(10ms), t.value(20ms, 3)));
    CHECK_FALSE(running.done());
    clock.advance(20ms);
    CHECK_FALSE(running.done()); // the 30 ms one is still running
    clock.advance(10ms);
    REQUIRE(running.done());
    auto [a, none, c] = running.get();
    CHECK(a == 1);
    CHECK(none == std::monostate{});
    CHECK(c == 3);
}

TEST_CASE("when_all of tasks that finish at once completes without suspending",
          "[runtime][when][async]") {
    auto ready = [](int v) -> bulwark::task<int> { co_return v; };
    auto running = bulwark::spawn(bulwark::when_all(ready(4), ready(5)));
    REQUIRE(running.done());
    CHECK(running.get() == std::tuple{4, 5});
}

TEST_CASE("when_all rethrows a failed branch only after every branch has finished",
          "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    auto running =
        bulwark::spawn(bulwark::when_all(t.value(50ms, 1), t.fail(10ms, "second branch broke")));
    clock.advance(10ms);
    CHECK_FALSE(running.done()); // failed, but the first branch still runs: not abandoned
    clock.advance(40ms);
    REQUIRE(running.done());
    CHECK_THROWS_WITH(running.get(), "second branch broke");
}

TEST_CASE("when_all with a stop_source stops the others when one branch fails",
          "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    std::stop_source stop;
    auto running = bulwark::spawn(
        bulwark::when_all(stop, t.value(1h, 7, stop.get_token()), t.fail(10ms, "broke")));
    clock.advance(10ms);
    REQUIRE(running.done()); // the hour-long branch gave up on the stop
    CHECK(stopped == std::vector<int>{7});
    CHECK_THROWS_WITH(running.get(), "broke");
}

TEST_CASE("when_any yields the first task's value and stops the losers", "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    std::stop_source losers;
    auto running = bulwark::spawn(bulwark::when_any(losers, t.value(1h, 1, losers.get_token()),
                                                    t.value(10ms, 2, losers.get_token()),
                                                    t.value(2h, 3, losers.get_token())));
    CHECK_FALSE(running.done());
    clock.advance(10ms);
    REQUIRE(running.done());
    CHECK(losers.stop_requested());
    std::sort(stopped.begin(), stopped.end()); // stop callbacks run in no given order
    CHECK(stopped == std::vector<int>{1, 3});  // both losers observed the stop and finished
    auto first = running.get();
    CHECK(first.index() == 1);
    CHECK(std::get<1>(first) == 2);
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("when_any rethrows when the first task to finish failed", "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    std::stop_source losers;
    auto running = bulwark::spawn(bulwark::when_any(losers, t.value(1h, 1, losers.get_token()),
                                                    t.fail(5ms, "winner failed")));
    clock.advance(5ms);
    REQUIRE(running.done());
    CHECK(stopped == std::vector<int>{1});
    CHECK_THROWS_WITH(running.get(), "winner failed");
}

TEST_CASE("when_any waits for a loser that ignores the stop token", "[runtime][when][async]") {
    bulwark::manual_clock clock;
    std::vector<int> stopped;
    timed t{clock, &stopped};
    std::stop_source losers;
    auto running = bulwark::spawn(
        bulwark::when_any(losers, t.value(5ms, 1, losers.get_token()), t.value(30ms, 2)));
    clock.advance(5ms);
    CHECK_FALSE(running.done()); // the second branch has no token: it runs to its end
    clock.advance(25ms);
    REQUIRE(running.done());
    CHECK(running.get().index() == 0);
}

TEST_CASE("when_all and when_any on real time, with branches finishing on the timer thread",
          "[runtime][when][async][concurrency]") {
    auto after = [](bulwark::duration d, int v, std::stop_token st) -> bulwark::task<int> {
        const bool elapsed = co_await bulwark::steady_clock::async_sleep_for(d, std::move(st));
        co_return elapsed ? v : -v;
    };
    for (int i = 0; i < 20; ++i) {
        auto [a, b] = bulwark::sync_wait(bulwark::when_all(after(1ms, 1, {}), after(2ms, 2, {})));
        CHECK(a + b == 3);
        std::stop_source losers;
        auto first = bulwark::sync_wait(bulwark::when_any(losers, after(1h, 1, losers.get_token()),
                                                          after(1ms, 2, losers.get_token())));
        CHECK(first.index() == 1);
    }
}
