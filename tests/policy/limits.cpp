// Numeric extremes of every policy setting (issue 9, item 1): each user number that is
// multiplied, shifted, rounded to an integer or used to size an allocation is either rejected
// with the one message style (`bulwark::<component>: <setting> must be <rule> (got <value>)`)
// or clamped as documented. Values: 0, negative, the type's max, NaN and infinity.

#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/retry/budget.hpp>
#include <bulwark/policy/standard.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <limits>

using namespace std::chrono_literals;
using bulwark::duration;
using bulwark::invalid_argument_error;
using Catch::Contains;

namespace {
constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double k_inf = std::numeric_limits<double>::infinity();
constexpr std::int64_t i64max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t i64min = std::numeric_limits<std::int64_t>::min();

const auto ok = [](bulwark::context&) -> bulwark::outcome<int> { return 7; };
} // namespace

// ---- circuit breaker ----

TEST_CASE("limits: breaker count_window size is bounded (one byte per call)",
          "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    using bulwark::count_window;
    CHECK_THROWS_WITH(circuit_breaker({.window = count_window{0}}),
                      "bulwark::circuit_breaker: count_window size must be in [1, 2^24] (got 0): "
                      "invalid argument");
    CHECK_THROWS_AS(circuit_breaker({.window = count_window{-1}}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.window = count_window{i64min}}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.window = count_window{i64max}}), invalid_argument_error);
    // Regression: 2^31 was accepted and allocated 2 GB of slots.
    CHECK_THROWS_WITH(circuit_breaker({.window = count_window{std::int64_t{1} << 31}}),
                      Contains("count_window size must be in [1, 2^24] (got 2147483648)"));
    CHECK_NOTHROW(circuit_breaker({.window = count_window{1}, .minimum_calls = 1}));
    CHECK_NOTHROW(circuit_breaker({.window = count_window{std::int64_t{1} << 24}}));
}

TEST_CASE("limits: breaker time_window buckets × 1 s are bounded to a day",
          "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    using bulwark::time_window;
    CHECK_THROWS_WITH(circuit_breaker({.window = time_window{0}}),
                      Contains("time_window seconds must be in [1, 86400] (got 0)"));
    CHECK_THROWS_AS(circuit_breaker({.window = time_window{-5}}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.window = time_window{86401}}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.window = time_window{i64max}}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.window = time_window{std::chrono::seconds::max()}}),
                    invalid_argument_error);
    CHECK_NOTHROW(circuit_breaker({.window = time_window{86400}}));
}

TEST_CASE("limits: breaker rates reject NaN, infinity, 0 and > 1",
          "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    for (double r : {k_nan, k_inf, -k_inf, 0.0, -0.5, 1.0000001}) {
        INFO("rate " << r);
        CHECK_THROWS_WITH(circuit_breaker({.failure_rate = r}),
                          Contains("bulwark::circuit_breaker: failure_rate must be in (0, 1]"));
        CHECK_THROWS_WITH(circuit_breaker({.slow_call_rate = r}),
                          Contains("bulwark::circuit_breaker: slow_call_rate must be in (0, 1]"));
    }
    CHECK_THROWS_WITH(circuit_breaker({.failure_rate = k_nan}), Contains("(got nan)"));
}

TEST_CASE("limits: breaker open_for growth (multiplier, cap) never overflows",
          "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    for (double m : {k_nan, k_inf, -k_inf, 0.0, 0.999, -1.0}) {
        INFO("multiplier " << m);
        CHECK_THROWS_WITH(circuit_breaker({.open_multiplier = m}),
                          Contains("open_multiplier must be >= 1 and finite"));
    }
    CHECK_THROWS_WITH(circuit_breaker({.open_for = -1ns}),
                      Contains("bulwark::circuit_breaker: open_for must be >= 0 (got -1ns)"));
    CHECK_THROWS_WITH(circuit_breaker({.open_for = duration::max(), .max_open_for = 1s}),
                      Contains("max_open_for must be >= open_for"));

    // The largest finite multiplier and the largest durations: the open time is clamped to
    // max_open_for, and open_for near duration::max() saturates the reopen time point.
    bulwark::manual_clock clock;
    circuit_breaker cb{{.consecutive_failures = 1,
                        .open_for = 1s,
                        .open_multiplier = std::numeric_limits<double>::max(),
                        .max_open_for = duration::max(),
                        .half_open_calls = 1,
                        .clock = clock}};
    auto p = bulwark::pipeline{std::ref(cb)};
    auto fail = [](bulwark::context&) -> bulwark::outcome<int> {
        return bulwark::errc::transport_error;
    };
    (void)p.try_execute(fail);
    CHECK(p.try_execute(ok).error().retry_after == 1s);
    clock.advance(1s);
    (void)p.try_execute(fail); // failed probe: the next open time is 1 s × max → clamped
    auto rejected = p.try_execute(ok);
    REQUIRE(rejected.has_failure());
    CHECK(rejected.error().code == bulwark::errc::circuit_open);
    CHECK(rejected.error().retry_after > 24h * 365 * 100); // clamped at max, not wrapped around

    circuit_breaker huge{{.consecutive_failures = 1,
                          .open_for = duration::max(),
                          .max_open_for = duration::max(),
                          .clock = clock}};
    auto q = bulwark::pipeline{std::ref(huge)};
    (void)q.try_execute(fail);
    CHECK(q.try_execute(ok).error().code == bulwark::errc::circuit_open);
}

TEST_CASE("limits: breaker half_open_calls fits its 16-bit counters",
          "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    CHECK_THROWS_WITH(circuit_breaker({.half_open_calls = 0}),
                      Contains("half_open_calls must be in [1, 65535] (got 0)"));
    CHECK_THROWS_AS(circuit_breaker({.half_open_calls = -1}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.half_open_calls = 65536}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.half_open_calls = i64max}), invalid_argument_error);
    CHECK_NOTHROW(circuit_breaker({.half_open_calls = 65535}));
    CHECK_THROWS_AS(circuit_breaker({.minimum_calls = 0}), invalid_argument_error);
    CHECK_THROWS_AS(circuit_breaker({.minimum_calls = i64min}), invalid_argument_error);
    CHECK_NOTHROW(circuit_breaker({.minimum_calls = i64max}));
    CHECK_THROWS_AS(circuit_breaker({.consecutive_failures = -1}), invalid_argument_error);
    CHECK_NOTHROW(circuit_breaker({.consecutive_failures = i64max}));
    CHECK_THROWS_AS(circuit_breaker({.max_wait_in_half_open = duration::min()}),
                    invalid_argument_error);
    CHECK_NOTHROW(circuit_breaker({.max_wait_in_half_open = duration::max()}));
}

TEST_CASE("limits: breaker slow_call threshold", "[policy][limits][circuit_breaker]") {
    using bulwark::circuit_breaker;
    CHECK_THROWS_WITH(circuit_breaker({.slow_call_duration = 0ns}),
                      Contains("slow_call_duration must be > 0 (or unset) (got 0ns)"));
    CHECK_THROWS_AS(circuit_breaker({.slow_call_duration = duration::min()}),
                    invalid_argument_error);
    // The largest threshold: no call is ever slow (end - start never reaches it).
    bulwark::manual_clock clock;
    circuit_breaker cb{{.window = bulwark::count_window{2},
                        .slow_call_rate = 0.5,
                        .slow_call_duration = duration::max(),
                        .minimum_calls = 2,
                        .clock = clock}};
    auto p = bulwark::pipeline{std::ref(cb)};
    for (int i = 0; i < 4; ++i)
        CHECK(p.try_execute([&](bulwark::context&) -> bulwark::outcome<int> {
                   clock.advance(24h * 365);
                   return 1;
               }).has_value());
    CHECK(cb.state() == bulwark::breaker_state::closed);
}

// ---- timeouts ----

TEST_CASE("limits: timeouts reject zero and negative limits, accept duration::max()",
          "[policy][limits][timeout]") {
    CHECK_THROWS_WITH(bulwark::timeout{.total = duration::min()},
                      Contains("bulwark::timeout: total must be > 0 (got -9223372036854775808ns)"));
    CHECK_THROWS_WITH(bulwark::timeout{.per_attempt = -1ns},
                      Contains("bulwark::timeout: per_attempt must be > 0 (got -1ns)"));
    CHECK_THROWS_AS(bulwark::total_timeout{0ns}, invalid_argument_error);
    CHECK_THROWS_AS(bulwark::attempt_timeout{duration::min()}, invalid_argument_error);

    // The largest limit: the deadline saturates at no_deadline instead of wrapping into the past.
    bulwark::manual_clock clock;
    clock.advance(1h);
    for (bool stop : {false, true}) {
        bulwark::pipeline p{
            bulwark::timeout{.total = duration::max(), .clock = clock, .stop_on_expiry = stop}};
        bulwark::time_point seen{};
        auto out = p.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
            seen = ctx.deadline();
            return bulwark::errc::transport_error; // a failure is judged against the deadline
        });
        CHECK(seen == bulwark::no_deadline);
        REQUIRE(out.has_failure());
        CHECK(out.error().code == bulwark::errc::transport_error); // not turned into a timeout
    }
    bulwark::pipeline a{bulwark::attempt_timeout{.limit = duration::max(), .clock = clock}};
    bulwark::context ctx;
    auto running = bulwark::spawn(a.async_try_execute(
        [](bulwark::context&) -> bulwark::task<bulwark::outcome<int>> { co_return 5; }, ctx));
    REQUIRE(running.done());
    CHECK(*running.get() == 5);
    CHECK(clock.pending_timers() == 0);
}

// ---- retry budgets ----

TEST_CASE("limits: retry_budget ratio, reserve and ttl", "[policy][limits][retry]") {
    using bulwark::retry_budget;
    for (double r : {k_nan, k_inf, -k_inf, -0.1, 1.5, 1e9, 1e300}) {
        INFO("ratio " << r);
        CHECK_THROWS_WITH((retry_budget{.ratio = r}),
                          Contains("bulwark::retry_budget: ratio must be 0 or in [1e-6, 1]"));
    }
    // Regression: a tiny positive ratio made 1000/ratio overflow llround (UB, a garbage cost).
    CHECK_THROWS_WITH((retry_budget{.ratio = 1e-300}), Contains("(got 1e-300)"));
    CHECK_THROWS_AS((retry_budget{.ratio = 1e-7}), invalid_argument_error);
    CHECK_NOTHROW(retry_budget{.ratio = 0});
    CHECK_NOTHROW(retry_budget{.ratio = 1e-6});
    CHECK_NOTHROW(retry_budget{.ratio = 1});
    // Regression: min_per_second × ttl × 1/ratio overflowed llround for a huge reserve.
    for (double m : {k_nan, k_inf, -1.0, 1e6 + 1, 1e300}) {
        INFO("min_per_second " << m);
        CHECK_THROWS_WITH((retry_budget{.min_per_second = m}),
                          Contains("min_per_second must be in [0, 1e6]"));
    }
    {
        bulwark::manual_clock clock;
        retry_budget b{.ratio = 1e-6, .min_per_second = 1e6, .ttl = 60s, .clock = clock};
        CHECK(b.balance() == Approx(6e7)); // 1e6 per second over 60 s, no overflow
        CHECK(b.try_withdraw());
    }
    for (duration t :
         {duration::zero(), duration::min(), duration::max(), duration{999ms}, duration{61s}}) {
        INFO("ttl " << t.count());
        CHECK_THROWS_WITH((retry_budget{.ttl = t}), Contains("ttl must be in [1s, 60s]"));
    }
}

TEST_CASE("limits: concurrency_budget and grpc_throttle", "[policy][limits][retry]") {
    for (double r : {k_nan, k_inf, -1.0, 1.01, 1e9}) {
        INFO("ratio " << r);
        CHECK_THROWS_WITH((bulwark::concurrency_budget{.ratio = r}),
                          Contains("bulwark::concurrency_budget: ratio must be in [0, 1]"));
    }
    bulwark::concurrency_budget c{.ratio = 1, .min_concurrency = UINT32_MAX};
    CHECK(c.active_calls() == 0);
    for (double t : {k_nan, k_inf, 0.0, -1.0, 1000.5, 1e300}) {
        INFO("max_tokens " << t);
        CHECK_THROWS_WITH((bulwark::grpc_throttle{.max_tokens = t}),
                          Contains("bulwark::grpc_throttle: max_tokens must be in (0, 1000]"));
    }
    // Regression: a huge token_ratio was accepted and overflowed llround(ratio × 1000).
    for (double r : {k_nan, k_inf, 0.0, -0.1, 10.5, 1e300}) {
        INFO("token_ratio " << r);
        CHECK_THROWS_WITH(
            (bulwark::grpc_throttle{.token_ratio = r}),
            Contains("bulwark::grpc_throttle: token_ratio must be in (0, max_tokens]"));
    }
    bulwark::grpc_throttle g{.max_tokens = 1000, .token_ratio = 1000};
    CHECK(g.tokens() == 1000);
}

// ---- hedge ----

TEST_CASE("limits: hedge counts and delays", "[policy][limits][hedge]") {
    for (std::uint32_t n : {0u, 11u, UINT32_MAX}) {
        INFO("max_hedged_attempts " << n);
        CHECK_THROWS_WITH(bulwark::hedge{.max_hedged_attempts = n},
                          Contains("bulwark::hedge: max_hedged_attempts must be in [1, 10]"));
    }
    // Any delay is valid (its sign picks the mode); the extremes run without overflow.
    bulwark::manual_clock clock;
    for (duration d : {duration::max(), duration::min(), duration::zero()}) {
        bulwark::pipeline p{bulwark::hedge{.max_hedged_attempts = 10, .delay = d, .clock = clock}};
        CHECK(p.try_execute(ok).value() == 7);
        bulwark::context ctx;
        auto running = bulwark::spawn(p.async_try_execute(
            [](bulwark::context&) -> bulwark::task<bulwark::outcome<int>> { co_return 9; }, ctx));
        REQUIRE(running.done());
        CHECK(*running.get() == 9);
        CHECK(clock.pending_timers() == 0);
    }
}

// ---- bulkhead ----

TEST_CASE("limits: bulkhead sizes and waits", "[policy][limits][bulkhead]") {
    using bulwark::bulkhead;
    CHECK_THROWS_WITH(bulkhead({.max_concurrent = 0}),
                      Contains("bulwark::bulkhead: max_concurrent must be >= 1 (got 0)"));
    CHECK_THROWS_AS(bulkhead({.max_queued = 1, .max_wait = duration::min()}),
                    invalid_argument_error);
    CHECK_THROWS_AS(bulkhead({.max_queued = SIZE_MAX}), invalid_argument_error); // no wait
    bulwark::manual_clock clock;
    bulkhead b(
        {.max_concurrent = 1, .max_queued = SIZE_MAX, .max_wait = duration::max(), .clock = clock});
    bulwark::pipeline p{std::ref(b)};
    CHECK(p.try_execute(ok).value() == 7);
}

// ---- standard pipeline ----

TEST_CASE("limits: standard_pipeline timeouts near duration::max()", "[policy][limits][standard]") {
    // Regression: MEHR's rule compared the window with 2 × attempt_timeout, which overflowed
    // (went negative) for an attempt timeout above duration::max() / 2 and accepted it.
    CHECK_THROWS_WITH(
        bulwark::standard_pipeline({.total_timeout = duration::max(),
                                    .breaker = {.window = bulwark::time_window{30}},
                                    .attempt_timeout = duration::max() / 2 + 1s}),
        Contains("bulwark::standard_pipeline: attempt_timeout must be <= half the breaker's time "
                 "window"));
    CHECK_THROWS_WITH(bulwark::standard_pipeline({.total_timeout = 0s, .attempt_timeout = 0s}),
                      Contains("bulwark::total_timeout: limit must be > 0 (got 0ns)"));
    CHECK_THROWS_AS(bulwark::standard_pipeline(
                        {.total_timeout = duration::min(), .attempt_timeout = duration::min()}),
                    invalid_argument_error);
    CHECK_THROWS_AS(bulwark::standard_pipeline({.max_attempts = std::numeric_limits<int>::min()}),
                    invalid_argument_error);
    // The largest timeouts with a count window: accepted, deadlines saturate.
    bulwark::manual_clock clock;
    auto p = bulwark::standard_pipeline({.total_timeout = duration::max(),
                                         .max_attempts = std::numeric_limits<int>::max(),
                                         .breaker = {.window = bulwark::count_window{10}},
                                         .attempt_timeout = duration::max(),
                                         .clock = clock});
    CHECK(p.try_execute(ok).value() == 7);
}
