#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A retry stand-in: retries once on failure (declares itself a retry for composition checks).
struct retry_twice {
    static constexpr auto kind = bulwark::policy_kind::retry;
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        auto out = next(ctx);
        if (out.has_value())
            return out;
        ctx.set_attempt(ctx.attempt() + 1);
        return next(ctx);
    }
};

/// An async operation that waits `latency` on the clock, honouring the stop token.
struct sleepy_op {
    bulwark::manual_clock clock;
    bulwark::duration latency;
    int value = 7;
    std::vector<bool>* stopped;
    bulwark::task<bulwark::outcome<int>> operator()(bulwark::context& ctx) const {
        const bool elapsed = co_await clock.async_sleep_for(latency, ctx.stop_token());
        stopped->push_back(!elapsed);
        if (!elapsed)
            co_return bulwark::errc::cancelled;
        co_return value;
    }
};

} // namespace

TEST_CASE("timeout tightens the deadline and never extends it", "[policy][timeout]") {
    bulwark::manual_clock clock;
    clock.advance(1s);
    bulwark::test::scripted_op op;
    bulwark::pipeline p{bulwark::timeout{.total = 200ms, .clock = clock}};

    CHECK(p.execute(std::ref(op)) == 42);
    REQUIRE(op.deadlines_seen.size() == 1);
    CHECK(op.deadlines_seen[0] == clock.now() + 200ms);

    bulwark::context earlier{clock.now() + 50ms};
    p.execute(std::ref(op), earlier);
    CHECK(op.deadlines_seen[1] == clock.now() + 50ms); // the caller's earlier deadline stands
    CHECK(earlier.deadline() == clock.now() + 50ms);

    bulwark::context later{clock.now() + 10s};
    p.execute(std::ref(op), later);
    CHECK(op.deadlines_seen[2] == clock.now() + 200ms);
    CHECK(later.deadline() == clock.now() + 10s); // restored after the call
}

TEST_CASE("timeout reports errc::timeout when the operation gives up at the deadline",
          "[policy][timeout]") {
    bulwark::manual_clock clock;
    bulwark::test::scripted_op op{.clock = clock, .latency = 1s};
    bulwark::pipeline p{bulwark::timeout{.per_attempt = 300ms, .clock = clock}};

    auto out = p.try_execute(std::ref(op));
    REQUIRE(out.has_failure());
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(clock.now() == bulwark::time_point{} + 300ms);
    try {
        p.execute(std::ref(op));
        FAIL("expected a resilience_error");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::timeout);
    }
}

TEST_CASE("timeout keeps a value that arrives late and a failure that comes early",
          "[policy][timeout]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::timeout{.total = 100ms, .clock = clock}};
    int v = p.execute([&] {
        clock.advance(150ms); // ignores the deadline, but succeeds
        return 5;
    });
    CHECK(v == 5);
    auto early =
        p.try_execute([]() -> bulwark::outcome<int> { return bulwark::errc::transport_error; });
    CHECK(early.code() == bulwark::errc::transport_error);
    auto late = p.try_execute([&]() -> int {
        clock.advance(100ms);
        throw std::runtime_error("late");
    });
    CHECK(late.code() == bulwark::errc::timeout);
}

TEST_CASE("total and per-attempt timeouts around a retry", "[policy][timeout]") {
    bulwark::manual_clock clock;
    bulwark::test::scripted_op op{.clock = clock, .latency = 1s};
    bulwark::pipeline p{bulwark::total_timeout{.limit = 500ms, .clock = clock}, retry_twice{},
                        bulwark::attempt_timeout{.limit = 300ms, .clock = clock}};
    auto out = p.try_execute(std::ref(op));
    CHECK(out.code() == bulwark::errc::timeout);
    REQUIRE(op.deadlines_seen.size() == 2);
    CHECK(op.deadlines_seen[0] == bulwark::time_point{} + 300ms);
    CHECK(op.deadlines_seen[1] == bulwark::time_point{} + 500ms); // the total caps attempt 2
    CHECK(clock.now() == bulwark::time_point{} + 500ms);
}

TEST_CASE("total and per-attempt timeouts around bulwark::retry", "[policy][timeout]") {
    bulwark::manual_clock clock;
    bulwark::test::scripted_op op{.clock = clock, .latency = 1s}; // honours ctx.deadline()
    bulwark::pipeline p{bulwark::timeout{.total = 500ms, .clock = clock},
                        bulwark::retry{.max_attempts = 3,
                                       .backoff = bulwark::constant_backoff{.delay = 0ms},
                                       .clock = clock},
                        bulwark::timeout{.per_attempt = 300ms, .clock = clock}};
    auto out = p.try_execute(std::ref(op));
    CHECK(out.code() == bulwark::errc::timeout);
    // Attempt 1 is cut at 300 ms; attempt 2 by the total at 500 ms; no attempt 3 past the deadline.
    CHECK(op.deadlines_seen == std::vector<bulwark::time_point>{bulwark::time_point{} + 300ms,
                                                                bulwark::time_point{} + 500ms});
}

TEST_CASE("timeout's success path allocates nothing", "[policy][timeout][alloc]") {
    bulwark::pipeline p{bulwark::timeout{.total = 1s}, bulwark::timeout{.per_attempt = 100ms}};
    int sum = 0;
    p.execute([] { return 0; }); // warm-up: the thread's timer lane is made on its first call
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        sum += p.execute([i](bulwark::context& ctx) { return ctx.has_deadline() ? i : -1000; });
    CHECK(scope.count() == 0);
    CHECK(sum == 99 * 100 / 2);
}

TEST_CASE("async timeout cancels the operation through its stop token",
          "[policy][timeout][async]") {
    bulwark::manual_clock clock;
    std::vector<bool> stopped;
    bulwark::pipeline p{bulwark::timeout{.total = 100ms, .clock = clock}};
    bulwark::context ctx;
    auto running = bulwark::spawn(p.async_try_execute(sleepy_op{clock, 1s, 7, &stopped}, ctx));
    CHECK_FALSE(running.done());
    clock.advance(99ms);
    CHECK_FALSE(running.done());
    clock.advance(1ms); // the timer fires: stop is requested, the operation returns
    REQUIRE(running.done());
    CHECK(stopped == std::vector<bool>{true});
    CHECK(running.get().code() == bulwark::errc::timeout);
    CHECK_FALSE(ctx.stop_requested()); // only the child context was stopped
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("async timeout returns the value when the operation wins", "[policy][timeout][async]") {
    bulwark::manual_clock clock;
    std::vector<bool> stopped;
    bulwark::pipeline p{bulwark::attempt_timeout{.limit = 100ms, .clock = clock}};
    auto running = bulwark::spawn(p.async_execute(sleepy_op{clock, 40ms, 9, &stopped}));
    clock.advance(40ms);
    REQUIRE(running.done());
    CHECK(running.get() == 9);
    CHECK(stopped == std::vector<bool>{false});
    CHECK(clock.pending_timers() == 0); // the timer was cancelled, not left behind
}

TEST_CASE("async timeout never extends the caller's deadline", "[policy][timeout][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::timeout{.total = 1s, .clock = clock}};
    std::vector<bulwark::time_point> seen;
    bulwark::context ctx{clock.now() + 10ms};
    auto running = bulwark::spawn(p.async_try_execute(
        [&](bulwark::context& c) -> bulwark::task<int> {
            seen.push_back(c.deadline());
            co_return 1;
        },
        ctx));
    REQUIRE(running.done());
    CHECK(seen == std::vector<bulwark::time_point>{clock.now() + 10ms});
}

TEST_CASE("async timeout stops when the caller stops", "[policy][timeout][async]") {
    bulwark::manual_clock clock;
    std::vector<bool> stopped;
    bulwark::pipeline p{bulwark::timeout{.total = 1s, .clock = clock}};
    std::stop_source caller;
    bulwark::context ctx{caller.get_token()};
    auto running = bulwark::spawn(p.async_try_execute(sleepy_op{clock, 5s, 1, &stopped}, ctx));
    caller.request_stop();
    REQUIRE(running.done());
    CHECK(running.get().code() == bulwark::errc::cancelled); // not a timeout: time did not pass
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("timeout settings are validated at construction", "[policy][timeout]") {
    using bulwark::invalid_argument_error;
    CHECK_THROWS_AS(bulwark::pipeline{bulwark::timeout{}}, invalid_argument_error);
    CHECK_THROWS_AS((bulwark::pipeline{bulwark::timeout{.total = 1s, .per_attempt = 1s}}),
                    invalid_argument_error);
    CHECK_THROWS_WITH(bulwark::pipeline{bulwark::timeout{.total = -1s}},
                      "bulwark::timeout: total must be > 0 (got -1000000000ns): invalid argument");
    CHECK_THROWS_WITH(bulwark::timeout{},
                      Catch::Contains("bulwark::timeout: total or per_attempt must be > 0"));
    CHECK_THROWS_WITH((bulwark::timeout{.total = 1s, .per_attempt = 1s}),
                      Catch::Contains("bulwark::timeout: exactly one of total and per_attempt "
                                      "must be set"));
    // One type: the typed forms are the same template, with the kind fixed.
    STATIC_REQUIRE(std::is_same_v<bulwark::timeout, bulwark::basic_timeout<>>);
    STATIC_REQUIRE(std::is_same_v<bulwark::total_timeout,
                                  bulwark::basic_timeout<bulwark::policy_kind::total_timeout>>);
    CHECK(bulwark::total_timeout{.total = 2s}.time_limit() == 2s);
    CHECK(bulwark::attempt_timeout{.per_attempt = 3s}.time_limit() == 3s);
    CHECK_THROWS_WITH(bulwark::attempt_timeout{.total = 1s},
                      Catch::Contains("bulwark::attempt_timeout: exactly one of limit and "
                                      "per_attempt must be set"));
    CHECK_THROWS_WITH(bulwark::timeout{2s},
                      Catch::Contains("exactly one of total and per_attempt"));
    CHECK_THROWS_AS(bulwark::attempt_timeout{}, invalid_argument_error);
    CHECK_THROWS_WITH(bulwark::total_timeout{.limit = 0s},
                      Catch::Contains("bulwark::total_timeout: limit must be > 0 (got 0ns)"));
    CHECK(bulwark::timeout{.total = 1s}.runtime_kind() == bulwark::policy_kind::total_timeout);
    CHECK(bulwark::timeout{.per_attempt = 1s}.runtime_kind() ==
          bulwark::policy_kind::attempt_timeout);
}

TEST_CASE(
    "timeout placement is checked: at construction for timeout, at compile time for the typed "
    "ones",
    "[policy][timeout]") {
    CHECK_THROWS_WITH(
        (bulwark::pipeline(bulwark::timeout{.total = 1s}, bulwark::timeout{.total = 2s})),
        Catch::Contains("two total timeouts"));
    CHECK_THROWS_WITH((bulwark::pipeline(bulwark::timeout{.per_attempt = 1s}, retry_twice{})),
                      Catch::Contains("per-attempt timeout is outside"));
    CHECK_NOTHROW((bulwark::pipeline{bulwark::timeout{.total = 2s}, retry_twice{},
                                     bulwark::timeout{.per_attempt = 1s}}));
    CHECK_NOTHROW(bulwark::pipeline{bulwark::total_timeout{2s}, retry_twice{},
                                    bulwark::attempt_timeout{300ms}});
    STATIC_REQUIRE(bulwark::policy_kind_v<bulwark::total_timeout> ==
                   bulwark::policy_kind::total_timeout);
    STATIC_REQUIRE(bulwark::policy_kind_v<bulwark::attempt_timeout> ==
                   bulwark::policy_kind::attempt_timeout);
    // (compile-fail tests: tests/compile_fail/timeout_two_totals.cpp,
    // timeout_attempt_outside_retry.cpp)
}

TEST_CASE("timeout on real time: deadline = now + limit (long limits may be a coarse tick early)",
          "[policy][timeout]") {
    bulwark::time_point seen{};
    auto record = [&](bulwark::context& c) {
        seen = c.deadline();
        return 0;
    };
    bulwark::pipeline long_limit{bulwark::timeout{.total = 2s}};
    auto before = bulwark::steady_clock::now();
    long_limit.execute(record);
    auto after = bulwark::steady_clock::now();
    CHECK(seen <= after + 2s);
    // Early by the coarse clock's lag: about one kernel tick (4 ms at HZ=250), a few on a busy
    // tickless machine; never late.
    INFO("early by "
         << std::chrono::duration_cast<std::chrono::microseconds>(before + 2s - seen).count()
         << " us");
    CHECK(seen >= before + 2s - 100ms);

    bulwark::pipeline short_limit{bulwark::timeout{.per_attempt = 50ms}};
    before = bulwark::steady_clock::now();
    short_limit.execute(record);
    after = bulwark::steady_clock::now();
    CHECK(seen >= before + 50ms); // exact below the coarse threshold
    CHECK(seen <= after + 50ms);
}

TEST_CASE("async timeout on real time: the timer thread stops the operation",
          "[policy][timeout][async][concurrency]") {
    // The timeout's timer runs on real time (20 ms, on the timer thread); the operation waits on
    // a manual clock nobody advances, so only the stop request from the timer thread ends it.
    bulwark::pipeline p{bulwark::timeout{.per_attempt = 20ms}};
    bulwark::manual_clock frozen;
    bool stopped = false;
    bulwark::context ctx;
    auto out = bulwark::sync_wait(p.async_try_execute(
        [&](bulwark::context& c) -> bulwark::task<int> {
            const bool elapsed = co_await frozen.async_sleep_for(1h, c.stop_token());
            stopped = !elapsed;
            co_return 1;
        },
        ctx));
    CHECK(stopped);
    CHECK(out.has_value()); // it returned a value after all: kept (see the late-value rule)
}

TEST_CASE("sync timeout with stop_on_expiry: a watchdog requests stop when the limit passes",
          "[policy][timeout]") {
    bulwark::manual_clock clock;
    bulwark::test::scripted_op op{.clock = clock, .latency = 1s}; // advances to the deadline
    bulwark::pipeline p{
        bulwark::timeout{.per_attempt = 300ms, .clock = clock, .stop_on_expiry = true}};
    bulwark::context ctx;
    auto out = p.try_execute(std::ref(op), ctx);
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(op.stop_seen == std::vector<bool>{true}); // the operation was told to stop
    CHECK_FALSE(ctx.stop_requested());              // only the call's child context
    CHECK(clock.pending_timers() == 0);

    bulwark::test::scripted_op quick{.clock = clock, .latency = 10ms};
    CHECK(p.execute(std::ref(quick)) == 42);
    CHECK(quick.stop_seen == std::vector<bool>{false});
    CHECK(clock.pending_timers() == 0); // the watchdog was cancelled
}

TEST_CASE("sync timeout with stop_on_expiry on real time interrupts a stop-aware wait",
          "[policy][timeout][concurrency]") {
    bulwark::pipeline p{bulwark::total_timeout{.limit = 20ms, .stop_on_expiry = true}};
    auto out = p.try_execute([](bulwark::context& ctx) -> bulwark::outcome<int> {
        // A blocking wait that honours only the stop token (no deadline): 10 s unless stopped.
        if (!bulwark::steady_clock::sleep_for(10s, ctx.stop_token()))
            return bulwark::errc::cancelled;
        return 1;
    });
    CHECK(out.code() == bulwark::errc::timeout);
}
