#include <bulwark/policy/standard.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("standard pipeline: MEHR's order and defaults", "[policy][standard]") {
    auto p = bulwark::standard_pipeline();
    STATIC_REQUIRE(std::is_same_v<decltype(p), bulwark::standard_pipeline_t>);
    STATIC_REQUIRE(bulwark::policy_kind_v<decltype(p.get<0>())> == bulwark::policy_kind::bulkhead);
    STATIC_REQUIRE(bulwark::policy_kind_v<decltype(p.get<1>())> ==
                   bulwark::policy_kind::total_timeout);
    STATIC_REQUIRE(bulwark::policy_kind_v<decltype(p.get<2>())> == bulwark::policy_kind::retry);
    STATIC_REQUIRE(bulwark::policy_kind_v<decltype(p.get<3>())> ==
                   bulwark::policy_kind::circuit_breaker);
    STATIC_REQUIRE(bulwark::policy_kind_v<decltype(p.get<4>())> ==
                   bulwark::policy_kind::attempt_timeout);
    CHECK(p.get<1>().limit == 30s);
    CHECK(p.get<2>().max_attempts == 4); // 3 retries
    CHECK(p.get<4>().limit == 10s);
    const bulwark::standard_options defaults{};
    CHECK(defaults.concurrency.max_concurrent == 1000);
    CHECK(defaults.concurrency.max_queued == 0);
    CHECK(defaults.backoff.base == 2s);
    CHECK(defaults.breaker.failure_rate == 0.1);
    CHECK(defaults.breaker.minimum_calls == 100);
    CHECK(std::get<bulwark::time_window>(defaults.breaker.window).seconds == 30);
    CHECK(defaults.breaker.open_for == 5s);
    CHECK(p.execute([] { return 7; }) == 7);
}

TEST_CASE("standard pipeline retries with backoff under a total and a per-attempt deadline",
          "[policy][standard]") {
    bulwark::manual_clock clock;
    auto p = bulwark::standard_pipeline(
        {.total_timeout = 5s,
         .backoff = {.base = 100ms, .cap = 1s, .jitter = bulwark::no_jitter},
         .attempt_timeout = 1s,
         .clock = clock});
    bulwark::test::scripted_op op{.clock = clock, .latency = 3s}; // every attempt is too slow
    auto out = p.try_execute(std::ref(op));
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(op.calls == 4);
    CHECK(clock.sleeps() == std::vector<bulwark::duration>{100ms, 200ms, 400ms});
    REQUIRE(op.deadlines_seen.size() == 4);
    CHECK(op.deadlines_seen[0] == bulwark::time_point{} + 1s);
    CHECK(op.deadlines_seen[1] == bulwark::time_point{} + 2100ms);
    CHECK(op.deadlines_seen[3] == bulwark::time_point{} + 4700ms);
}

TEST_CASE("standard pipeline: the total timeout caps the last attempt", "[policy][standard]") {
    bulwark::manual_clock clock;
    auto p = bulwark::standard_pipeline(
        {.total_timeout = 2500ms,
         .backoff = {.base = 100ms, .cap = 1s, .jitter = bulwark::no_jitter},
         .breaker = {.window = bulwark::time_window{2}, .minimum_calls = 100},
         .attempt_timeout = 1s,
         .clock = clock});
    bulwark::test::scripted_op op{.clock = clock, .latency = 3s};
    CHECK(p.try_execute(std::ref(op)).code() == bulwark::errc::timeout);
    REQUIRE(op.calls == 3); // 0–1 s, 1.1–2.1 s, 2.3–2.5 s (cut by the total)
    CHECK(op.deadlines_seen[2] == bulwark::time_point{} + 2500ms);
    CHECK(clock.now() == bulwark::time_point{} + 2500ms);
}

TEST_CASE("standard pipeline: the breaker opens and fails fast", "[policy][standard]") {
    bulwark::manual_clock clock;
    auto p = bulwark::standard_pipeline({.max_attempts = 1,
                                         .breaker = {.window = bulwark::count_window{10},
                                                     .failure_rate = 0.5,
                                                     .minimum_calls = 10,
                                                     .open_for = 5s},
                                         .clock = clock});
    bulwark::test::scripted_op op{.fail_all = true};
    for (int i = 0; i < 10; ++i)
        CHECK(p.try_execute(std::ref(op)).error().is_exception());
    auto rejected = p.try_execute(std::ref(op));
    CHECK(rejected.code() == bulwark::errc::circuit_open);
    CHECK(op.calls == 10);
}

TEST_CASE("standard pipeline's success path allocates nothing", "[policy][standard][alloc]") {
    auto p = bulwark::standard_pipeline();
    int sum = p.execute([] { return 0; }); // a thread's first stopping timeout takes its timer lane
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        sum += p.execute([i] { return i; });
    CHECK(scope.count() == 0);
    CHECK(sum == 4950);
}

TEST_CASE("standard pipeline validates its settings like MEHR's validator", "[policy][standard]") {
    using bulwark::invalid_argument_error;
    CHECK_THROWS_WITH(bulwark::standard_pipeline({.total_timeout = 1s, .attempt_timeout = 2s}),
                      "bulwark::standard_pipeline: attempt_timeout must be <= total_timeout (got "
                      "2000000000ns): invalid argument");
    CHECK_THROWS_WITH(bulwark::standard_pipeline({.breaker = {.window = bulwark::time_window{10}}}),
                      Catch::Contains("attempt_timeout must be <= half the breaker's time window"));
    CHECK_THROWS_AS(bulwark::standard_pipeline({.max_attempts = 0}), invalid_argument_error);
    CHECK_THROWS_AS(bulwark::standard_pipeline({.concurrency = {.max_concurrent = 0}}),
                    invalid_argument_error);
}

TEST_CASE("standard pipeline on the coroutine driver", "[policy][standard][async]") {
    bulwark::manual_clock clock;
    auto p = bulwark::standard_pipeline(
        {.total_timeout = 5s,
         .backoff = {.base = 100ms, .cap = 1s, .jitter = bulwark::no_jitter},
         .attempt_timeout = 1s,
         .clock = clock});
    int calls = 0;
    std::vector<bool> stopped;
    auto op = [&](bulwark::context& ctx) -> bulwark::task<bulwark::outcome<int>> {
        ++calls;
        // Attempt 1 hangs (the attempt timeout stops it), attempt 2 fails, attempt 3 answers.
        const auto latency = calls == 1 ? bulwark::duration{1h} : bulwark::duration{10ms};
        const bool elapsed = co_await clock.async_sleep_for(latency, ctx.stop_token());
        stopped.push_back(!elapsed);
        if (calls < 3)
            co_return bulwark::errc::transport_error;
        co_return 7;
    };
    bulwark::context ctx;
    auto running = bulwark::spawn(p.async_try_execute(op, ctx));
    clock.advance(1s); // attempt 1 times out
    CHECK(stopped == std::vector<bool>{true});
    clock.advance(100ms + 10ms); // backoff, then attempt 2 fails
    CHECK(calls == 2);
    clock.advance(200ms + 10ms); // backoff, then attempt 3 answers
    REQUIRE(running.done());
    auto out = running.get();
    REQUIRE(out.has_value());
    CHECK(*out == 7);
    CHECK(clock.pending_timers() == 0);
}
