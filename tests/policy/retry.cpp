#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using bulwark::duration;
using bulwark::test::scripted_op;

namespace {

/// Records what a retry tells its listener.
struct recorder {
    struct retry_event {
        std::uint32_t attempt;
        duration delay;
        bool failed;
    };
    std::vector<retry_event> retries;
    std::vector<bulwark::retry_stop> stops;
};

struct recording_listener {
    recorder* log;
    template <class R>
    void on_retry(std::uint32_t attempt, duration delay, const bulwark::outcome<R>& o) {
        log->retries.push_back({attempt, delay, o.has_failure()});
    }
    template <class R>
    void on_give_up(bulwark::retry_stop why, std::uint32_t, const bulwark::outcome<R>&) {
        log->stops.push_back(why);
    }
};

bulwark::retry constant_retry(int attempts, duration d, bulwark::manual_clock& clock) {
    return bulwark::retry{
        .max_attempts = attempts, .backoff = bulwark::constant_backoff{.delay = d}, .clock = clock};
}

} // namespace

TEST_CASE("the DESIGN syntax builds a retry", "[policy][retry]") {
    auto r = bulwark::retry{
        .max_attempts = 3,
        .backoff =
            bulwark::exponential_backoff{.base = 10ms, .cap = 1s, .jitter = bulwark::full_jitter},
        .budget = bulwark::retry_budget{.ratio = 0.2, .min_per_second = 10}};
    STATIC_REQUIRE(bulwark::async_policy<bulwark::retry>);
    STATIC_REQUIRE(bulwark::policy_kind_v<bulwark::retry> == bulwark::policy_kind::retry);
    CHECK(r.max_attempts == 3);
    CHECK(r.backoff.get_if<bulwark::exponential_backoff>()->cap == 1s);
    CHECK(r.budget.get_if<bulwark::retry_budget>()->ratio == 0.2);
    // The other budget kinds fit the same field.
    bulwark::retry envoy{.budget = bulwark::concurrency_budget{.ratio = 0.2, .min_concurrency = 3}};
    bulwark::retry grpc{.budget = bulwark::grpc_throttle{.max_tokens = 10, .token_ratio = 0.1}};
    CHECK_FALSE(envoy.budget.empty());
    CHECK_FALSE(grpc.budget.empty());
}

TEST_CASE("retry runs attempts until one succeeds, numbering them in the context",
          "[policy][retry]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{constant_retry(4, 10ms, clock)};
    scripted_op op{.fail_on = {1, 2}, .value = 7};
    CHECK(p.execute(std::ref(op)) == 7);
    CHECK(op.calls == 3);
    CHECK(op.attempts_seen == std::vector<std::uint32_t>{1, 2, 3});
    CHECK(clock.sleeps() == std::vector<duration>{10ms, 10ms});
    CHECK(clock.now() == bulwark::time_point{} + 20ms);
}

TEST_CASE("retry gives up after max_attempts with the last outcome", "[policy][retry]") {
    bulwark::manual_clock clock;
    recorder log;
    auto r = constant_retry(3, 5ms, clock).with_listener(recording_listener{&log});
    bulwark::pipeline p{r};
    scripted_op op{.fail_all = true};
    CHECK_THROWS_AS(p.execute(std::ref(op)), bulwark::test::scripted_failure);
    CHECK(op.calls == 3);
    // The last failure is what the caller sees.
    scripted_op op2{.fail_all = true};
    auto out = p.try_execute(std::ref(op2));
    REQUIRE(out.has_failure());
    CHECK(out.error().holds<bulwark::test::scripted_failure>());
    try {
        std::rethrow_exception(out.error().exception);
    } catch (const bulwark::test::scripted_failure& f) {
        CHECK(f.call == 3);
    }
    REQUIRE(log.retries.size() == 4);
    CHECK(log.retries[0].attempt == 1);
    CHECK(log.retries[1].attempt == 2);
    CHECK(log.retries[0].delay == 5ms);
    CHECK(log.stops == std::vector{bulwark::retry_stop::attempts_exhausted,
                                   bulwark::retry_stop::attempts_exhausted});
}

TEST_CASE("max_attempts = 1 never retries", "[policy][retry]") {
    bulwark::pipeline p{bulwark::retry{.max_attempts = 1}};
    scripted_op op{.fail_all = true};
    CHECK(p.try_execute(std::ref(op)).has_failure());
    CHECK(op.calls == 1);
}

TEST_CASE("retry_if chooses what is retried", "[policy][retry]") {
    bulwark::manual_clock clock;
    SECTION("by exception type") {
        bulwark::pipeline p{
            constant_retry(5, 1ms, clock).retry_if(bulwark::failure_on<std::system_error>)};
        int calls = 0;
        CHECK_THROWS_AS(p.execute([&]() -> int {
            ++calls;
            throw std::logic_error("a bug: retrying will not help");
        }),
                        std::logic_error);
        CHECK(calls == 1);
        calls = 0;
        CHECK(p.execute([&]() -> int {
            if (++calls < 3)
                throw std::system_error(std::make_error_code(std::errc::connection_reset));
            return 1;
        }) == 1);
        CHECK(calls == 3);
    }
    SECTION("by error value") {
        auto only_timeouts = [](const auto& o) {
            return o.has_failure() && o.code() == bulwark::errc::timeout;
        };
        bulwark::pipeline p{constant_retry(5, 1ms, clock).retry_if(only_timeouts)};
        scripted_op timeouts{.fail_on = {1},
                             .failure = scripted_op::how::return_error,
                             .error = bulwark::errc::timeout};
        CHECK(p.execute(std::ref(timeouts)) == 42);
        CHECK(timeouts.calls == 2);
        scripted_op rejected{.fail_on = {1},
                             .failure = scripted_op::how::return_error,
                             .error = bulwark::errc::rejected};
        CHECK(p.try_execute(std::ref(rejected)).code() == bulwark::errc::rejected);
        CHECK(rejected.calls == 1);
    }
    SECTION("by result (an HTTP 503 is retried)") {
        struct response {
            int status;
        };
        bulwark::pipeline p{
            constant_retry(5, 1ms, clock).retry_if(bulwark::failure_if([](const response& r) {
                return r.status == 503;
            }))};
        int calls = 0;
        auto r = p.execute([&] { return response{++calls < 3 ? 503 : 200}; });
        CHECK(r.status == 200);
        CHECK(calls == 3);
    }
    SECTION("ignored outcomes are not retried") {
        recorder log;
        bulwark::pipeline p{constant_retry(5, 1ms, clock)
                                .retry_if(bulwark::ignore_if([](int v) { return v == 404; }))
                                .with_listener(recording_listener{&log})};
        int calls = 0;
        CHECK(p.execute([&] { return ++calls, 404; }) == 404);
        CHECK(calls == 1);
        CHECK(log.stops == std::vector{bulwark::retry_stop::not_retryable});
    }
}

TEST_CASE("retry never waits past the context deadline", "[policy][retry]") {
    bulwark::manual_clock clock;
    recorder log;
    bulwark::pipeline p{constant_retry(10, 10ms, clock).with_listener(recording_listener{&log})};
    bulwark::context ctx{bulwark::time_point{} + 25ms};
    scripted_op op{.fail_all = true};
    CHECK(p.try_execute(std::ref(op), ctx).has_failure());
    CHECK(op.calls == 3); // at 0, 10 and 20 ms; the next would start at 30 ms > 25 ms
    CHECK(clock.now() == bulwark::time_point{} + 20ms);
    CHECK(log.stops == std::vector{bulwark::retry_stop::deadline});

    // A retry_after that would cross the deadline stops the retries too.
    bulwark::manual_clock c2;
    bulwark::pipeline p2{constant_retry(10, 1ms, c2)};
    bulwark::context ctx2{bulwark::time_point{} + 1s};
    int calls = 0;
    auto out = p2.try_execute(
        [&]() -> bulwark::outcome<int> {
            return ++calls, bulwark::outcome<int>{bulwark::errc::circuit_open, 5s};
        },
        ctx2);
    CHECK(out.code() == bulwark::errc::circuit_open);
    CHECK(calls == 1);
    CHECK(c2.now() == bulwark::time_point{});
}

TEST_CASE("retry honours a failure's retry_after", "[policy][retry]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{constant_retry(3, 1ms, clock)};
    int calls = 0;
    auto v = p.execute([&]() -> bulwark::outcome<int> {
        if (++calls == 1)
            return {bulwark::errc::rate_limited, 250ms};
        return 3;
    });
    CHECK(v == 3);
    CHECK(clock.sleeps() == std::vector<duration>{250ms});
}

TEST_CASE("a negative retry_after (gRPC pushback) stops the retries", "[policy][retry]") {
    bulwark::manual_clock clock;
    recorder log;
    bulwark::pipeline p{constant_retry(5, 1ms, clock).with_listener(recording_listener{&log})};
    int calls = 0;
    auto out = p.try_execute([&]() -> bulwark::outcome<int> {
        ++calls;
        return {bulwark::errc::rejected, -1ms};
    });
    CHECK(out.code() == bulwark::errc::rejected);
    CHECK(calls == 1);
    CHECK(log.stops == std::vector{bulwark::retry_stop::not_retryable});
}

TEST_CASE("retry stops at max_duration", "[policy][retry]") {
    bulwark::manual_clock clock;
    recorder log;
    auto r = bulwark::retry{.max_attempts = 100,
                            .backoff = bulwark::constant_backoff{.delay = 10ms},
                            .max_duration = 45ms,
                            .clock = clock}
                 .with_listener(recording_listener{&log});
    bulwark::pipeline p{r};
    scripted_op op{.clock = clock, .latency = 5ms, .fail_all = true};
    CHECK(p.try_execute(std::ref(op)).has_failure());
    // Attempts start at 0, 15, 30 ms; the next would start at 45 ms = max_duration.
    CHECK(op.calls == 3);
    CHECK(log.stops == std::vector{bulwark::retry_stop::max_duration});
}

TEST_CASE("retry never retries once stop is requested", "[policy][retry]") {
    bulwark::manual_clock clock;
    recorder log;
    bulwark::pipeline p{constant_retry(5, 10ms, clock).with_listener(recording_listener{&log})};
    bulwark::context ctx;
    int calls = 0;
    auto out = p.try_execute(
        [&](bulwark::context& c) -> int {
            ++calls;
            c.request_stop(); // e.g. the caller gave up while the attempt ran
            throw std::runtime_error("failed");
        },
        ctx);
    CHECK(out.has_failure());
    CHECK(calls == 1);
    CHECK(clock.sleeps().empty());
    CHECK(log.stops == std::vector{bulwark::retry_stop::stopped});
}

TEST_CASE("when the budget refuses, retry returns the last outcome", "[policy][retry]") {
    bulwark::manual_clock clock;
    // One budget for two pipelines: a reserve of 2 retries, no deposits count (ratio 0).
    bulwark::retry_budget shared{.ratio = 0, .min_per_second = 1, .ttl = 2s, .clock = clock};
    recorder log;
    auto r = bulwark::retry{.max_attempts = 10,
                            .backoff = bulwark::constant_backoff{.delay = 0ms},
                            .budget = shared,
                            .clock = clock}
                 .with_listener(recording_listener{&log});
    bulwark::pipeline a{r};
    bulwark::pipeline b{r};
    scripted_op op1{.failure = scripted_op::how::return_error, .fail_all = true};
    CHECK(a.try_execute(std::ref(op1)).code() == bulwark::errc::transport_error);
    CHECK(op1.calls == 3); // 1 + the 2 retries of the budget
    scripted_op op2{.failure = scripted_op::how::return_error, .fail_all = true};
    CHECK(b.try_execute(std::ref(op2)).code() == bulwark::errc::transport_error);
    CHECK(op2.calls == 1); // the shared budget is spent
    CHECK(log.stops == std::vector{bulwark::retry_stop::budget_exhausted,
                                   bulwark::retry_stop::budget_exhausted});
}

TEST_CASE("gRPC throttling stops retries when failures drain the tokens", "[policy][retry]") {
    bulwark::manual_clock clock;
    bulwark::grpc_throttle throttle{.max_tokens = 4, .token_ratio = 0.5};
    bulwark::pipeline p{bulwark::retry{.max_attempts = 5,
                                       .backoff = bulwark::constant_backoff{.delay = 0ms},
                                       .budget = throttle,
                                       .clock = clock}};
    scripted_op op{.failure = scripted_op::how::return_error, .fail_all = true};
    CHECK(p.try_execute(std::ref(op)).has_failure());
    CHECK(op.calls == 2); // 4 -> 3 (retry) -> 2 (2 <= 4/2: stop)
    CHECK(throttle.tokens() == Approx(2));
}

TEST_CASE("concurrency budget releases its retry slot when the call ends", "[policy][retry]") {
    bulwark::manual_clock clock;
    bulwark::concurrency_budget budget{.ratio = 0, .min_concurrency = 1};
    bulwark::pipeline p{bulwark::retry{.max_attempts = 3,
                                       .backoff = bulwark::constant_backoff{.delay = 1ms},
                                       .budget = budget,
                                       .clock = clock}};
    scripted_op op{.fail_on = {1, 2}};
    CHECK(p.execute(std::ref(op)) == 42);
    CHECK(op.calls == 3);
    CHECK(budget.active_calls() == 0);
    CHECK(budget.active_retries() == 0);
}

TEST_CASE("async_execute runs the same schedule on the coroutine driver",
          "[policy][retry][async]") {
    bulwark::manual_clock clock;
    recorder log;
    bulwark::pipeline p{constant_retry(3, 10ms, clock).with_listener(recording_listener{&log})};
    int calls = 0;
    auto running = bulwark::spawn(p.async_execute([&]() -> bulwark::task<int> {
        if (++calls < 3)
            throw std::runtime_error("flaky");
        co_return 5;
    }));
    CHECK(calls == 1);
    CHECK_FALSE(running.done());
    clock.advance(10ms);
    CHECK(calls == 2);
    clock.advance(10ms);
    REQUIRE(running.done());
    CHECK(running.get() == 5);
    CHECK(log.retries.size() == 2);
}

TEST_CASE("async retry wakes on stop and makes no further attempt", "[policy][retry][async]") {
    bulwark::manual_clock clock;
    recorder log;
    bulwark::pipeline p{constant_retry(3, 1s, clock).with_listener(recording_listener{&log})};
    bulwark::context ctx;
    int calls = 0;
    auto running = bulwark::spawn(p.async_try_execute(
        [&]() -> bulwark::task<int> {
            ++calls;
            throw std::runtime_error("down");
            co_return 0;
        },
        ctx));
    CHECK_FALSE(running.done());
    ctx.request_stop();
    REQUIRE(running.done());
    CHECK(running.get().has_failure());
    CHECK(calls == 1);
    CHECK(clock.now() == bulwark::time_point{});
    CHECK(log.stops == std::vector{bulwark::retry_stop::stopped});
}

TEST_CASE("async retry respects the deadline", "[policy][retry][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{constant_retry(10, 10ms, clock)};
    bulwark::context ctx{bulwark::time_point{} + 15ms};
    int calls = 0;
    auto running = bulwark::spawn(p.async_try_execute(
        [&]() -> bulwark::task<int> {
            ++calls;
            co_return bulwark::outcome<int>{bulwark::errc::transport_error}.value();
        },
        ctx));
    clock.advance(100ms);
    REQUIRE(running.done());
    CHECK(running.get().has_failure());
    CHECK(calls == 2); // at 0 and 10 ms
}

TEST_CASE("the retry success path allocates nothing", "[policy][retry][alloc]") {
    bulwark::manual_clock clock;
    auto run = [](auto& p) {
        int sum = 0;
        bulwark::test::alloc_scope scope;
        for (int i = 0; i < 1000; ++i)
            sum += p.execute([i] { return i; });
        CHECK(sum == 999 * 1000 / 2);
        return scope.count();
    };
    bulwark::pipeline plain{bulwark::retry{}};
    bulwark::pipeline tps{bulwark::retry{.budget = bulwark::retry_budget{.clock = clock}}};
    bulwark::pipeline envoy{bulwark::retry{.budget = bulwark::concurrency_budget{}}};
    bulwark::pipeline grpc{bulwark::retry{.budget = bulwark::grpc_throttle{}}};
    bulwark::pipeline limited{bulwark::retry{.max_duration = 1s, .clock = clock}};
    CHECK(run(plain) == 0);
    CHECK(run(tps) == 0);
    CHECK(run(envoy) == 0);
    CHECK(run(grpc) == 0);
    CHECK(run(limited) == 0);
}

TEST_CASE("empty classifier and listener cost no space", "[policy][retry]") {
    struct stateless_listener {
        void on_retry(std::uint32_t, duration, const bulwark::outcome<int>&) {}
    };
    STATIC_REQUIRE(sizeof(bulwark::basic_retry<bulwark::default_classifier, stateless_listener>) ==
                   sizeof(bulwark::retry));
    STATIC_REQUIRE(sizeof(bulwark::retry) <= sizeof(int) + sizeof(bulwark::any_backoff) +
                                                 sizeof(bulwark::any_retry_budget) +
                                                 sizeof(duration) + sizeof(bulwark::any_clock) + 8);
}

TEST_CASE("bad retry settings are rejected at construction", "[policy][retry]") {
    using Catch::Contains;
    CHECK_THROWS_AS((bulwark::retry{.max_attempts = 0}), bulwark::invalid_argument_error);
    CHECK_THROWS_WITH((bulwark::retry{.max_attempts = 0}),
                      Contains("bulwark::retry: max_attempts must be >= 1 (got 0)"));
    CHECK_THROWS_WITH((bulwark::retry{.max_attempts = -2}), Contains("max_attempts"));
    CHECK_THROWS_WITH((bulwark::retry{.max_duration = -1s}),
                      Contains("bulwark::retry: max_duration must be > 0"));
    CHECK_THROWS_WITH((bulwark::retry{.backoff = bulwark::exponential_backoff{.base = -10ms}}),
                      Contains("exponential_backoff: base must be >= 0"));
    CHECK_THROWS_WITH((bulwark::retry{.budget = bulwark::retry_budget{.ratio = 1.2}}),
                      Contains("retry_budget: ratio must be 0 or in [1e-6, 1] (got 1.2)"));
}

TEST_CASE("a backoff of your own plugs in with with_backoff", "[policy][retry]") {
    struct doubling_from_3ms {
        duration next_delay(std::uint32_t, duration previous, bulwark::backoff_rng&) const {
            return previous == duration::zero() ? duration{3ms} : 2 * previous;
        }
    };
    bulwark::manual_clock clock;
    bulwark::pipeline p{
        bulwark::retry{.max_attempts = 4, .clock = clock}.with_backoff(doubling_from_3ms{})};
    scripted_op op{.fail_on = {1, 2, 3}};
    CHECK(p.execute(std::ref(op)) == 42);
    CHECK(clock.sleeps() == std::vector<duration>{3ms, 6ms, 12ms});
}

TEST_CASE("one retry policy and its budgets serve concurrent calls",
          "[policy][retry][concurrency]") {
    bulwark::concurrency_budget budget{.ratio = 0.5, .min_concurrency = 2};
    bulwark::retry_budget tokens{.ratio = 0.5, .min_per_second = 1};
    auto r = bulwark::retry{
        .max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 0ms}, .budget = budget};
    bulwark::pipeline shared{std::ref(r)};
    bulwark::pipeline bucket{bulwark::retry{
        .max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 0ms}, .budget = tokens}};
    std::atomic<int> ok{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                int calls = 0;
                auto flaky = [&]() -> bulwark::outcome<int> {
                    if (++calls == 1 && (i + t) % 2 == 0)
                        return bulwark::errc::transport_error;
                    return 1;
                };
                if (shared.try_execute(flaky).has_value())
                    ok.fetch_add(1, std::memory_order_relaxed);
                calls = 0;
                (void)bucket.try_execute(flaky);
            }
        });
    for (auto& th : pool)
        th.join();
    CHECK(ok.load() > 4000); // most first failures were retried
    CHECK(budget.active_calls() == 0);
    CHECK(budget.active_retries() == 0);
}
