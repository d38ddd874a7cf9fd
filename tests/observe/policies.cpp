// Each policy reports its events exactly when they happen: manual-clock scenarios per policy,
// the old hooks still heard, the default listener costs no byte and no allocation.

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/rate_limiter.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/standard.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/testing/manual_clock.hpp>

#include "observe/recorder.hpp"
#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace bulwark;
using namespace std::chrono_literals;
using test::event_log;
using test::recorder;
using names = std::vector<std::string>;

namespace {
/// Fails (errc::transport_error) on the calls listed, succeeds on the others.
struct flaky {
    std::vector<bool> fail; // index = call number - 1
    int calls = 0;
    outcome<int> operator()(context&) {
        const bool f =
            calls < static_cast<int>(fail.size()) && fail[static_cast<std::size_t>(calls)];
        ++calls;
        if (f)
            return failure{errc::transport_error};
        return calls;
    }
};
} // namespace

// ---- zero cost of the default listener ---------------------------------------------------------

static_assert(sizeof(basic_bulkhead<null_listener>) + sizeof(void*) ==
              sizeof(basic_bulkhead<metrics_listener>));
static_assert(sizeof(basic_rate_limiter<null_listener>) + sizeof(void*) ==
              sizeof(basic_rate_limiter<metrics_listener>));
static_assert(sizeof(basic_circuit_breaker<default_classifier, null_listener>) + sizeof(void*) ==
              sizeof(basic_circuit_breaker<default_classifier, metrics_listener>));
static_assert(sizeof(total_timeout) + sizeof(void*) ==
              sizeof(basic_timeout<policy_kind::total_timeout, metrics_listener>));
static_assert(sizeof(hedge) + sizeof(void*) == sizeof(basic_hedge<metrics_listener>));
static_assert(sizeof(retry) + sizeof(void*) ==
              sizeof(basic_retry<default_classifier, metrics_listener>));
static_assert(std::is_same_v<retry, basic_retry<default_classifier, null_listener>>);

// ---- retry -------------------------------------------------------------------------------------

TEST_CASE("retry events: attempts, completion, give-up, budget refusal",
          "[observe][events][retry]") {
    manual_clock clock;
    event_log log;
    auto r =
        retry{.max_attempts = 3, .backoff = constant_backoff{10ms}, .clock = clock}.with_listener(
            recorder{&log});
    SECTION("two failures then success") {
        flaky op{{true, true}};
        context ctx;
        auto p = pipeline{std::ref(r)};
        REQUIRE(p.try_execute(std::ref(op), ctx).has_value());
        CHECK(log.all() == names{"retry_attempt", "retry_attempt", "retry_completed"});
        CHECK(log.attempts == std::vector<std::uint32_t>{1, 2, 3});
        CHECK(log.durations == std::vector<duration>{10ms, 10ms});
    }
    SECTION("attempts exhausted") {
        flaky op{{true, true, true}};
        context ctx;
        auto p = pipeline{std::ref(r)};
        REQUIRE_FALSE(p.try_execute(std::ref(op), ctx).has_value());
        CHECK(log.all() ==
              names{"retry_attempt", "retry_attempt", "retry_give_up", "retry_completed"});
        CHECK(log.attempts.back() == 3);
    }
    SECTION("first-try success: one completion, nothing else") {
        flaky op{{}};
        context ctx;
        auto p = pipeline{std::ref(r)};
        REQUIRE(p.try_execute(std::ref(op), ctx).has_value());
        CHECK(log.all() == names{"retry_completed"});
    }
}

TEST_CASE("retry events: the budget refuses", "[observe][events][retry]") {
    manual_clock clock;
    event_log log;
    auto r = retry{.max_attempts = 3,
                   .backoff = constant_backoff{10ms},
                   .budget = retry_budget{.ratio = 0.01, .min_per_second = 0, .clock = clock},
                   .clock = clock}
                 .with_listener(recorder{&log});
    flaky op{{true, true, true}};
    context ctx;
    auto p = pipeline{std::ref(r)};
    REQUIRE_FALSE(p.try_execute(std::ref(op), ctx).has_value());
    CHECK(log.all() == names{"retry_budget_refused", "retry_give_up", "retry_completed"});
}

namespace {
/// A listener written against the older retry hooks.
struct old_style {
    int* retries;
    int* give_ups;
    template <class R>
    void on_retry(std::uint32_t, duration, const outcome<R>&) {
        ++*retries;
    }
    template <class R>
    void on_give_up(retry_stop, std::uint32_t, const outcome<R>&) {
        ++*give_ups;
    }
};
} // namespace

TEST_CASE("retry: the older on_retry/on_give_up hooks are still called",
          "[observe][events][retry]") {
    int retries = 0, give_ups = 0;
    manual_clock clock;
    auto r =
        retry{.max_attempts = 2, .backoff = constant_backoff{1ms}, .clock = clock}.with_listener(
            old_style{&retries, &give_ups});
    flaky op{{true, true}};
    context ctx;
    auto p = pipeline{std::ref(r)};
    (void)p.try_execute(std::ref(op), ctx);
    CHECK(retries == 1);
    CHECK(give_ups == 1);
}

// ---- circuit breaker ---------------------------------------------------------------------------

TEST_CASE("breaker events: calls, the trip with its rates, rejection, half-open, close",
          "[observe][events][breaker]") {
    manual_clock clock;
    event_log log;
    std::vector<events::breaker_state_changed> changes;
    auto l =
        listeners{recorder{&log},
                  on_events{[&](const events::breaker_state_changed& e) { changes.push_back(e); }}};
    basic_circuit_breaker b{{.window = count_window{4},
                             .failure_rate = 0.5,
                             .minimum_calls = 4,
                             .open_for = 1s,
                             .half_open_calls = 1,
                             .clock = clock},
                            default_classifier{},
                            std::move(l)};
    auto p = pipeline{std::ref(b)};
    flaky op{{false, true, false, true, false, false}};
    context ctx;
    for (int i = 0; i < 4; ++i)
        (void)p.try_execute(std::ref(op), ctx);
    CHECK(log.all() == names{"breaker_call", "breaker_call", "breaker_call", "breaker_call",
                             "breaker_state_changed"});
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].from == breaker_state::closed);
    CHECK(changes[0].to == breaker_state::open);
    CHECK(changes[0].failure_rate == 0.5);
    CHECK(changes[0].calls == 4);

    auto rejected = p.try_execute(std::ref(op), ctx);
    CHECK(rejected.error().code == errc::circuit_open);
    CHECK(log.all().back() == "breaker_rejected");
    CHECK(op.calls == 4);

    clock.advance(1s);
    REQUIRE(p.try_execute(std::ref(op), ctx).has_value());
    REQUIRE(changes.size() == 3);
    CHECK(changes[1].to == breaker_state::half_open);
    CHECK(changes[2].from == breaker_state::half_open);
    CHECK(changes[2].to == breaker_state::closed);
    CHECK(changes[2].calls == 1);
    CHECK(changes[2].failure_rate == 0.0);
    CHECK(log.count("breaker_call") == 5);
}

// ---- timeouts ----------------------------------------------------------------------------------

namespace {
/// Takes `took` of the manual clock and, past the context's deadline, returns errc::timeout
/// (a well-behaved operation honours the deadline).
struct slow_op {
    manual_clock clock;
    duration took;
    outcome<int> operator()(context& ctx) const {
        clock.advance(took);
        if (ctx.expired(clock.now()))
            return failure{errc::timeout};
        return 1;
    }
};
} // namespace

TEST_CASE("timeout events: expired only when the deadline passed", "[observe][events][timeout]") {
    manual_clock clock;
    event_log log;
    basic_timeout<policy_kind::attempt_timeout, recorder> t{
        .limit = 100ms, .clock = clock, .listener = recorder{&log}};
    auto p = pipeline{retry{.max_attempts = 1}, std::ref(t)};
    context ctx;
    REQUIRE(p.try_execute(slow_op{clock, 50ms}, ctx).has_value());
    CHECK(log.all().empty());
    auto o = p.try_execute(slow_op{clock, 150ms}, ctx);
    CHECK(o.error().code == errc::timeout);
    // The timeout requests stop by default (docs/policies.md), so the expiry also stops the op.
    CHECK(log.count("timeout_expired") == 1);
    CHECK(log.count("timeout_stop_requested") == 1);
    CHECK(log.all().size() == 2);

    basic_timeout<policy_kind::other, recorder> total{
        .total = 1s, .clock = clock, .listener = recorder{&log}};
    auto q = pipeline{std::ref(total)};
    CHECK(q.try_execute(slow_op{clock, 2s}, ctx).error().code == errc::timeout);
    CHECK(log.count("timeout_expired") == 2);
    // a failure that is not a timeout is not an expiry
    CHECK_FALSE(q.try_execute([](context&) -> outcome<int> { return failure{errc::rejected}; }, ctx)
                    .has_value());
    CHECK(log.count("timeout_expired") == 2);
}

// ---- bulkhead and rate limiter -----------------------------------------------------------------

TEST_CASE("bulkhead events: rejected when full, queued then rejected when the wait runs out",
          "[observe][events][bulkhead]") {
    manual_clock clock; // auto-advancing: a queued caller's wait elapses at once
    event_log log;
    basic_bulkhead b({.max_concurrent = 1, .max_queued = 1, .max_wait = 50ms, .clock = clock},
                     recorder{&log});
    basic_bulkhead full({.max_concurrent = 1, .clock = clock}, recorder{&log});
    auto p = pipeline{std::ref(b)};
    auto q = pipeline{std::ref(full)};
    context ctx;
    // while the one permit is held, a nested call queues, waits 50 ms and is rejected
    auto o = p.try_execute(
        [&](context&) -> outcome<int> {
            context inner;
            auto r = p.try_execute([](context&) -> outcome<int> { return 1; }, inner);
            CHECK(r.error().code == errc::bulkhead_full);
            auto r2 = q.try_execute(
                [&](context&) -> outcome<int> {
                    context inner2;
                    return q.try_execute([](context&) -> outcome<int> { return 1; }, inner2);
                },
                inner);
            CHECK(r2.error().code == errc::bulkhead_full);
            return 1;
        },
        ctx);
    REQUIRE(o.has_value());
    CHECK(log.all() == names{"bulkhead_queued", "bulkhead_rejected", "bulkhead_rejected"});
}

TEST_CASE("rate limiter events: queued and waited for a reserved permit, rejected beyond max_wait",
          "[observe][events][rate_limiter]") {
    manual_clock clock;
    event_log log;
    basic_rate_limiter rl({.rate = 1, .per = 1s, .burst = 1, .max_wait = 2s, .clock = clock},
                          recorder{&log});
    auto p = pipeline{std::ref(rl)};
    context ctx;
    auto one = [](context&) -> outcome<int> { return 1; };
    REQUIRE(p.try_execute(one, ctx).has_value());
    CHECK(log.all().empty());
    REQUIRE(p.try_execute(one, ctx).has_value()); // waits 1 s (the manual clock advances)
    CHECK(log.all() == names{"rate_limiter_queued", "rate_limiter_waited"});
    CHECK(log.durations == std::vector<duration>{1s});

    basic_rate_limiter strict({.rate = 1, .per = 1s, .burst = 1, .clock = clock}, recorder{&log});
    auto q = pipeline{std::ref(strict)};
    REQUIRE(q.try_execute(one, ctx).has_value());
    CHECK(q.try_execute(one, ctx).error().code == errc::rate_limited);
    CHECK(log.all().back() == "rate_limiter_rejected");
}

// ---- hedge and fallback ------------------------------------------------------------------------

TEST_CASE("hedge events (sync driver): a hedge after a failure, the winner's index",
          "[observe][events][hedge]") {
    manual_clock clock;
    std::vector<std::uint32_t> started, winners;
    auto l = on_events{[&](const events::hedge_started& e) { started.push_back(e.hedge); },
                       [&](const events::hedge_winner& e) { winners.push_back(e.index); }};
    basic_hedge<decltype(l)> h{
        .max_hedged_attempts = 2, .delay = 10ms, .clock = clock, .listener = l};
    auto p = pipeline{std::ref(h)};
    flaky op{{true, false}};
    context ctx;
    REQUIRE(p.try_execute(std::ref(op), ctx).has_value());
    CHECK(started == std::vector<std::uint32_t>{1});
    CHECK(winners == std::vector<std::uint32_t>{1});
}

TEST_CASE("fallback events: used only on a failure", "[observe][events][fallback]") {
    event_log log;
    fallback fb{-1, default_classifier{}, recorder{&log}};
    auto p = pipeline{std::ref(fb)};
    flaky op{{true, false}};
    context ctx;
    CHECK(p.try_execute(std::ref(op), ctx).value() == -1);
    CHECK(p.try_execute(std::ref(op), ctx).value() == 2);
    CHECK(log.all() == names{"fallback_used"});
}

// ---- balance -----------------------------------------------------------------------------------

TEST_CASE("balance events: picks, an ejection with its time, the return, panic mode",
          "[observe][events][balance]") {
    manual_clock clock;
    event_log log;
    registry reg({{.address = "a"}, {.address = "b"}},
                 {.panic_threshold = 0.6,
                  .outlier = outlier_options{.consecutive_failures = 1,
                                             .base_ejection_time = 30s,
                                             .max_ejection_percent = 100.0},
                  .clock = clock});
    balance bal(reg, round_robin{}, default_classifier{}, recorder{&log});
    auto p = pipeline{std::ref(bal)};
    context ctx;
    int n = 0;
    auto op = [&](context& c) -> outcome<int> {
        ++n;
        if (c.endpoint()->address() == "a")
            return failure{errc::transport_error};
        return 1;
    };
    (void)p.try_execute(op, ctx);
    (void)p.try_execute(op, ctx);
    CHECK(log.count("balance_picked") == 2);
    CHECK(log.count("balance_ejected") == 1);
    // one of two healthy is below the 0.6 panic threshold: the next pick reports panic mode
    (void)p.try_execute(op, ctx);
    CHECK(log.count("balance_panic") == 1);
    clock.advance(30s);
    (void)p.try_execute(op, ctx);
    CHECK(log.count("balance_returned") == 1);
    CHECK(log.count("balance_panic") == 2); // left panic mode
}

// ---- the standard pipeline with the metrics listener
// ---------------------------------------------

TEST_CASE("metrics listener on every stage of the standard pipeline: known counts, 0 allocations",
          "[observe][events][metrics]") {
    manual_clock clock;
    metrics_registry reg;
    auto l = reg.listener({.pipeline = "standard", .policy = "all"});
    const standard_options o;
    auto p = pipeline{
        basic_bulkhead{bulkhead_options{o.concurrency}, l},
        basic_timeout<policy_kind::total_timeout, metrics_listener>{
            .limit = o.total_timeout, .clock = clock, .listener = l},
        retry{.max_attempts = o.max_attempts, .backoff = constant_backoff{1ms}, .clock = clock}
            .with_listener(l),
        basic_circuit_breaker{circuit_breaker_options{.window = count_window{100}, .clock = clock},
                              default_classifier{}, l},
        basic_timeout<policy_kind::attempt_timeout, metrics_listener>{
            .limit = o.attempt_timeout, .clock = clock, .listener = l},
    };
    flaky op{{false, true, false}};
    context ctx;
    REQUIRE(p.try_execute(std::ref(op), ctx).has_value()); // first try
    REQUIRE(p.try_execute(std::ref(op), ctx).has_value()); // one retry
    auto s = l.snapshot();
    CHECK(s.retry.successful_without_retry == 1);
    CHECK(s.retry.successful_with_retry == 1);
    CHECK(s.retry.retries == 1);
    CHECK(s.breaker.successful == 2);
    CHECK(s.breaker.failed == 1);

    flaky ok{{}};
    test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        (void)p.try_execute(std::ref(ok), ctx);
    CHECK(scope.count() == 0);
    CHECK(l.snapshot().retry.successful_without_retry == 101);
}
