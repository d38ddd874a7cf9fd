#include <bulwark/pipeline.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/timeout.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct hedge_log {
    std::map<std::uint32_t, bulwark::time_point> started;
    std::vector<std::uint32_t> stopped;
};

/// Attempt n takes latency[n-1] of the manual clock (honouring its stop token), then returns
/// n * 100, or fails if n is in `fail`.
struct hedged_op {
    bulwark::manual_clock clock;
    std::vector<bulwark::duration> latency;
    std::set<std::uint32_t> fail;
    hedge_log* log;
    bulwark::task<bulwark::outcome<int>> operator()(bulwark::context& ctx) const {
        const std::uint32_t n = ctx.attempt();
        log->started[n] = clock.now();
        const bool elapsed = co_await clock.async_sleep_for(latency.at(n - 1), ctx.stop_token());
        if (!elapsed) {
            log->stopped.push_back(n);
            co_return bulwark::errc::cancelled;
        }
        if (fail.count(n) != 0)
            co_return bulwark::errc::transport_error;
        co_return static_cast<int>(n) * 100;
    }
};

bulwark::time_point at(bulwark::duration d) {
    return bulwark::time_point{} + d;
}

} // namespace

TEST_CASE("hedge (latency mode) starts another attempt after the delay; the first success wins "
          "and the loser observes stop",
          "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 2, .delay = 10ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {100ms, 5ms, 5ms}, {}, &log}, ctx));
    CHECK(log.started.size() == 1);
    clock.advance(10ms);
    CHECK(log.started.size() == 2);
    CHECK(log.started[2] == at(10ms));
    CHECK_FALSE(running.done());
    clock.advance(5ms); // attempt 2 succeeds at 15 ms
    REQUIRE(running.done());
    CHECK(*running.get() == 200);
    CHECK(log.stopped == std::vector<std::uint32_t>{1}); // the slow first attempt was stopped
    CHECK(log.started.size() == 2);                      // no third attempt
    CHECK(clock.pending_timers() == 0);
    CHECK_FALSE(ctx.stop_requested());
}

TEST_CASE("hedge keeps the first attempt when it wins before the delay", "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 1, .delay = 50ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {20ms, 1ms}, {}, &log}, ctx));
    clock.advance(20ms);
    REQUIRE(running.done());
    CHECK(*running.get() == 100);
    CHECK(log.started.size() == 1);
    CHECK(clock.pending_timers() == 0); // the hedge timer was cancelled
}

TEST_CASE("hedge (parallel mode) starts every attempt at once", "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 2, .delay = 0ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {30ms, 20ms, 10ms}, {}, &log}, ctx));
    CHECK(log.started.size() == 3);
    clock.advance(10ms);
    REQUIRE(running.done());
    CHECK(*running.get() == 300);
    CHECK(log.stopped == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("hedge starts the next attempt at once when one fails", "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 2, .delay = 50ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {5ms, 5ms, 5ms}, {1}, &log}, ctx));
    clock.advance(5ms); // attempt 1 fails: attempt 2 starts now, not at 50 ms
    CHECK(log.started.size() == 2);
    CHECK(log.started[2] == at(5ms));
    clock.advance(5ms);
    REQUIRE(running.done());
    CHECK(*running.get() == 200);
}

TEST_CASE("hedge returns the last failure when every attempt fails", "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 1, .delay = 1ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {10ms, 10ms}, {1, 2}, &log}, ctx));
    clock.advance(20ms);
    REQUIRE(running.done());
    CHECK(running.get().code() == bulwark::errc::transport_error);
    CHECK(log.started.size() == 2);
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("hedge (fallback mode) waits for a failure before the next attempt",
          "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 1, .delay = -1ms, .clock = clock}};
    bulwark::context ctx;
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {100ms, 10ms}, {1}, &log}, ctx));
    clock.advance(99ms);
    CHECK(log.started.size() == 1);
    clock.advance(1ms);
    CHECK(log.started.size() == 2);
    clock.advance(10ms);
    REQUIRE(running.done());
    CHECK(*running.get() == 200);
}

TEST_CASE("hedge: the caller's stop reaches every attempt", "[policy][hedge][async]") {
    bulwark::manual_clock clock;
    hedge_log log;
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 2, .delay = 10ms, .clock = clock}};
    std::stop_source caller;
    bulwark::context ctx{caller.get_token()};
    auto running =
        bulwark::spawn(p.async_try_execute(hedged_op{clock, {1s, 1s, 1s}, {}, &log}, ctx));
    clock.advance(10ms);
    CHECK(log.started.size() == 2);
    caller.request_stop();
    REQUIRE(running.done());
    CHECK(running.get().code() == bulwark::errc::cancelled);
    CHECK(log.stopped.size() == 2);
    CHECK(log.started.size() == 2); // no new attempt after the stop
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("hedge's sync driver runs attempts one after another while they fail",
          "[policy][hedge]") {
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 2, .delay = 10ms}};
    bulwark::test::scripted_op op{.fail_on = {1, 2, 4, 5, 6}};
    CHECK(p.execute(std::ref(op)) == 42);
    CHECK(op.attempts_seen == std::vector<std::uint32_t>{1, 2, 3});
    auto out = p.try_execute(std::ref(op)); // calls 4, 5, 6 all fail
    CHECK(out.error().holds<bulwark::test::scripted_failure>());
    CHECK(op.calls == 6);
    bulwark::test::alloc_scope scope;
    CHECK(p.execute(std::ref(op)) == 42); // first attempt wins: nothing allocated
    CHECK(scope.count() == 0);
}

TEST_CASE("hedge settings and placement are validated", "[policy][hedge]") {
    CHECK_THROWS_AS(bulwark::hedge{.max_hedged_attempts = 0}, bulwark::invalid_argument_error);
    CHECK_THROWS_WITH(bulwark::hedge{.max_hedged_attempts = 11}, Catch::Contains("[1, 10]"));
    CHECK_THROWS_WITH((bulwark::pipeline{bulwark::timeout{.per_attempt = 1s}, bulwark::hedge{}}),
                      Catch::Contains("per-attempt timeout is outside"));
    CHECK_NOTHROW((bulwark::pipeline{bulwark::timeout{.total = 2s}, bulwark::hedge{},
                                     bulwark::attempt_timeout{1s}}));
}

TEST_CASE("hedge on real time: attempts finish on the timer thread, the loser is stopped",
          "[policy][hedge][async][concurrency]") {
    // The hedge delay and attempt 2 run on real time (5 ms each, on the timer thread); attempt 1
    // waits on a manual clock nobody advances, so only its stop token can end it — from the
    // timer thread, when attempt 2 wins.
    bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 1, .delay = 5ms}};
    bulwark::manual_clock frozen;
    std::atomic<int> stopped{0};
    bulwark::context ctx;
    auto out = bulwark::sync_wait(p.async_try_execute(
        [&](bulwark::context& c) -> bulwark::task<bulwark::outcome<int>> {
            bool elapsed;
            if (c.attempt() == 1)
                elapsed = co_await frozen.async_sleep_for(1h, c.stop_token());
            else
                elapsed = co_await bulwark::steady_clock::async_sleep_for(5ms, c.stop_token());
            if (!elapsed) {
                ++stopped;
                co_return bulwark::errc::cancelled;
            }
            co_return static_cast<int>(c.attempt());
        },
        ctx));
    REQUIRE(out.has_value());
    CHECK(*out == 2);
    CHECK(stopped.load() == 1);
}
