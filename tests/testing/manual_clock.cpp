// Tests of bulwark::manual_clock (include/bulwark/testing/manual_clock.hpp), the clock users test
// with, and of its sharing one time line with any_clock. (Moved from tests/core/time.cpp.)
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>
#include <bulwark/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("manual_clock starts at zero and moves only when told", "[testing][manual_clock]") {
    bulwark::manual_clock clock;
    CHECK(clock.now() == bulwark::time_point{});
    clock.advance(5s);
    CHECK(clock.now() == bulwark::time_point{} + 5s);
    clock.advance_to(bulwark::time_point{} + 2s); // never backwards
    CHECK(clock.now() == bulwark::time_point{} + 5s);
}

TEST_CASE("copies of a manual_clock and any_clock share one time line", "[testing][manual_clock]") {
    bulwark::manual_clock clock;
    bulwark::manual_clock copy = clock;
    bulwark::any_clock any = clock;
    copy.advance(1s);
    CHECK(clock.now() == any.now());
    CHECK(any.is_manual());
    CHECK_FALSE(bulwark::any_clock{}.is_manual());
}

TEST_CASE("synchronous sleeps on a manual clock advance it and are recorded",
          "[testing][manual_clock]") {
    bulwark::manual_clock clock;
    CHECK(clock.sleep_for(10ms, {}));
    CHECK(clock.sleep_for(20ms, {}));
    CHECK(clock.now() == bulwark::time_point{} + 30ms);
    CHECK(clock.sleeps() == std::vector<bulwark::duration>{10ms, 20ms});
    std::stop_source stopped;
    stopped.request_stop();
    CHECK_FALSE(clock.sleep_for(10ms, stopped.get_token()));
    CHECK(clock.now() == bulwark::time_point{} + 30ms);
}

TEST_CASE("async sleeps fire in due order with now() at their due time",
          "[testing][manual_clock][async]") {
    bulwark::manual_clock clock;
    std::vector<std::pair<int, bulwark::time_point>> fired;
    auto sleeper = [&](int id, bulwark::duration d) -> bulwark::task<void> {
        bool elapsed = co_await clock.async_sleep_for(d, {});
        CHECK(elapsed);
        fired.emplace_back(id, clock.now());
    };
    auto a = bulwark::spawn(sleeper(1, 30ms));
    auto b = bulwark::spawn(sleeper(2, 10ms));
    auto c = bulwark::spawn(sleeper(3, 20ms));
    CHECK(clock.pending_timers() == 3);
    clock.advance(15ms);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0] == std::pair{2, bulwark::time_point{} + 10ms});
    clock.advance(1s);
    REQUIRE(fired.size() == 3);
    CHECK(fired[1] == std::pair{3, bulwark::time_point{} + 20ms});
    CHECK(fired[2] == std::pair{1, bulwark::time_point{} + 30ms});
    CHECK(clock.now() == bulwark::time_point{} + 1015ms);
    CHECK((a.done() && b.done() && c.done()));
}

TEST_CASE("a stop request cancels an async sleep at once", "[testing][manual_clock][async]") {
    bulwark::manual_clock clock;
    std::stop_source stop;
    auto t = [&]() -> bulwark::task<bool> {
        co_return co_await clock.async_sleep_for(1h, stop.get_token());
    };
    auto running = bulwark::spawn(t());
    CHECK_FALSE(running.done());
    stop.request_stop();
    REQUIRE(running.done());
    CHECK_FALSE(running.get());
    CHECK(clock.pending_timers() == 0);
    CHECK(clock.now() == bulwark::time_point{});
}

TEST_CASE("zero and already-stopped async sleeps complete without suspending",
          "[testing][manual_clock][async]") {
    bulwark::manual_clock clock;
    std::stop_source stop;
    stop.request_stop();
    auto t = [&]() -> bulwark::task<int> {
        bool a = co_await clock.async_sleep_for(0s, {});
        bool b = co_await clock.async_sleep_for(1s, stop.get_token());
        co_return (a ? 1 : 0) + (b ? 2 : 0);
    };
    auto running = bulwark::spawn(t());
    REQUIRE(running.done());
    CHECK(running.get() == 1);
}

TEST_CASE("a manual clock without auto-advance blocks sleepers until time passes",
          "[testing][manual_clock][concurrency]") {
    bulwark::manual_clock clock;
    clock.auto_advance(false);
    std::atomic<bool> woke{false};
    std::jthread sleeper([&] {
        CHECK(clock.sleep_for(50ms, {}));
        woke = true;
    });
    while (clock.sleeps().empty())
        std::this_thread::yield();
    CHECK_FALSE(woke.load());
    clock.advance(50ms);
    sleeper.join();
    CHECK(woke.load());
}
