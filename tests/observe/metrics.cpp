#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/retry.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace bulwark;
using namespace std::chrono_literals;

TEST_CASE("metrics: each event lands in its counter", "[observe][metrics]") {
    metrics_registry reg;
    auto l = reg.listener({.pipeline = "checkout", .policy = "payments"});
    emit(l, events::retry_completed{.attempts = 1, .succeeded = true});
    emit(l, events::retry_completed{.attempts = 3, .succeeded = true});
    emit(l, events::retry_completed{.attempts = 3, .succeeded = false});
    emit(l, events::retry_attempt{.attempt = 1, .delay = 10ms});
    emit(l, events::retry_attempt{.attempt = 2, .delay = 3s});
    emit(l, events::retry_give_up{.why = retry_stop::budget_exhausted});
    emit(l, events::retry_budget_refused{});
    emit(l, events::breaker_state_changed{
                .from = breaker_state::closed, .to = breaker_state::open, .failure_rate = 0.75});
    emit(l, events::breaker_rejected{});
    emit(l, events::breaker_call{.kind = events::call_kind::failed});
    emit(l, events::channel_dead_lettered{.kind = dead_letter_kind::rejected});

    auto s = l.snapshot();
    CHECK(s.labels.pipeline == "checkout");
    CHECK(s.retry.successful_without_retry == 1);
    CHECK(s.retry.successful_with_retry == 1);
    CHECK(s.retry.failed_with_retry == 1);
    CHECK(s.retry.failed_without_retry == 0);
    CHECK(s.retry.retries == 2);
    CHECK(s.retry.budget_refused == 1);
    CHECK(s.retry.give_ups[static_cast<std::size_t>(retry_stop::budget_exhausted)] == 1);
    CHECK(s.retry.delay.count == 2);
    CHECK(s.retry.delay.sum == Approx(3.01));
    // 10 ms falls in le=0.01 (inclusive bound); 3 s in le=5
    const auto& b = s.retry.delay.bounds;
    auto idx = [&](double bound) {
        return static_cast<std::size_t>(std::find(b.begin(), b.end(), bound) - b.begin());
    };
    CHECK(s.retry.delay.cumulative[idx(0.005)] == 0);
    CHECK(s.retry.delay.cumulative[idx(0.01)] == 1);
    CHECK(s.retry.delay.cumulative[idx(2.5)] == 1);
    CHECK(s.retry.delay.cumulative[idx(5.0)] == 2);
    CHECK(s.retry.delay.cumulative.back() == 2);
    CHECK(s.breaker.state == static_cast<std::uint8_t>(breaker_state::open));
    CHECK(s.breaker.failure_rate == 0.75);
    CHECK(s.breaker.not_permitted == 1);
    CHECK(s.breaker.failed == 1);
    CHECK(s.channel.dead_lettered[1] == 1);
    CHECK(has_group(s.groups, metric_group::retry));
    CHECK(has_group(s.groups, metric_group::breaker));
    CHECK(has_group(s.groups, metric_group::channel));
    CHECK_FALSE(has_group(s.groups, metric_group::hedge));
}

TEST_CASE("metrics: the same labels give the same series; declared groups export at zero",
          "[observe][metrics]") {
    metrics_registry reg;
    auto a = reg.listener({.policy = "x"});
    auto b = reg.listener({.policy = "x"}, metric_group::breaker);
    emit(a, events::hedge_started{});
    emit(b, events::hedge_started{});
    REQUIRE(reg.snapshot().series.size() == 1);
    auto s = a.snapshot();
    CHECK(s.hedge.started == 2);
    CHECK(has_group(s.groups, metric_group::breaker));
}

TEST_CASE("metrics: bad options are rejected with a clear message", "[observe][metrics]") {
    CHECK_THROWS_WITH(metrics_registry({.buckets = {1.0, 0.5}}),
                      Catch::Contains("bulwark::metrics_registry: buckets must be strictly "
                                      "increasing"));
    CHECK_THROWS_AS(metrics_registry({.buckets = {0.0}}), invalid_argument_error);
    CHECK_THROWS_AS(metrics_registry({.buckets = {std::numeric_limits<double>::infinity()}}),
                    invalid_argument_error);
    CHECK_THROWS_AS(metrics_registry({.stripes = 65}), invalid_argument_error);
}

TEST_CASE("metrics: no allocation per event", "[observe][metrics]") {
    metrics_registry reg;
    auto l = reg.listener({.policy = "p"});
    emit(l, events::retry_completed{}); // this thread takes its stripe slot (once)
    test::alloc_scope scope;
    for (int i = 0; i < 1000; ++i) {
        emit(l, events::retry_completed{});
        emit(l, events::breaker_call{});
        emit(l, events::bulkhead_waited{.waited = 2ms});
        emit(l, events::channel_published{.subject = "a.b"});
        emit(l, events::breaker_state_changed{});
    }
    REQUIRE(scope.count() == 0);
    REQUIRE(l.snapshot().retry.successful_without_retry == 1001);
}

TEST_CASE("metrics: threads count without losing updates", "[observe][metrics][concurrency]") {
    // More threads than stripes: some share the extra stripe (atomic adds) while the others
    // write their own; the sum must still be exact.
    metrics_registry reg({.stripes = 2});
    auto l = reg.listener({.policy = "p"});
    constexpr int threads = 6, per = 20000;
    std::vector<std::thread> ts;
    std::atomic<bool> go{false};
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&] {
            while (!go.load())
                std::this_thread::yield();
            for (int i = 0; i < per; ++i) {
                emit(l, events::breaker_call{});
                emit(l, events::rate_limiter_waited{.waited = 1ms});
            }
        });
    go = true;
    // Snapshots while counting: values only rise.
    std::uint64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        auto now = l.snapshot().breaker.successful;
        CHECK(now >= last);
        last = now;
    }
    for (auto& t : ts)
        t.join();
    auto s = l.snapshot();
    CHECK(s.breaker.successful == std::uint64_t{threads} * per);
    CHECK(s.rate_limiter.wait.count == std::uint64_t{threads} * per);
    CHECK(s.rate_limiter.wait.sum == Approx(threads * per * 0.001));
}

TEST_CASE("metrics: a thread's stripe is reused after it ends, counts are kept",
          "[observe][metrics][concurrency]") {
    metrics_registry reg({.stripes = 4});
    auto l = reg.listener({.policy = "p"});
    for (int round = 0; round < 20; ++round) {
        std::thread t([&] {
            for (int i = 0; i < 100; ++i)
                emit(l, events::fallback_used{});
        });
        t.join();
    }
    REQUIRE(l.snapshot().fallback.used == 2000);
}

TEST_CASE("metrics: a default-made listener is usable and exported by no registry",
          "[observe][metrics]") {
    metrics_registry reg;
    metrics_listener unbound;
    emit(unbound, events::fallback_used{});
    CHECK(unbound.snapshot().fallback.used >= 1);
    CHECK(reg.snapshot().series.empty());
}

TEST_CASE("metrics: the branch-free bucket search matches a linear search at every edge",
          "[observe][metrics]") {
    // 1 bound, 14 (the default) and 32 (the most): each bound exactly (inclusive), one ns above
    // and below it, zero, negative and far above the last bound (+Inf).
    for (std::size_t n : {std::size_t{1}, std::size_t{14}, std::size_t{32}}) {
        std::vector<double> bounds;
        for (std::size_t i = 0; i < n; ++i)
            bounds.push_back(0.001 * static_cast<double>(i + 1)); // 1 ms, 2 ms, ...
        metrics_registry reg({.buckets = bounds});
        auto l = reg.listener({.policy = "buckets"});
        std::vector<std::uint64_t> expected(n + 1, 0);
        auto observe = [&](duration d) {
            emit(l, events::bulkhead_waited{.waited = d});
            const auto ns = d.count() < 0 ? std::int64_t{0} : d.count();
            std::size_t b = 0;
            while (b < n && ns > static_cast<std::int64_t>(1'000'000 * (b + 1)))
                ++b;
            ++expected[b];
        };
        observe(-5ns);
        observe(0ns);
        for (std::size_t i = 1; i <= n; ++i) {
            const auto edge = std::chrono::milliseconds(i);
            observe(edge - 1ns);
            observe(edge);
            observe(edge + 1ns);
        }
        observe(1h);
        const auto s = l.snapshot();
        std::uint64_t acc = 0;
        REQUIRE(s.bulkhead.wait.cumulative.size() == n + 1);
        for (std::size_t b = 0; b <= n; ++b) {
            acc += expected[b];
            INFO("bounds " << n << ", bucket " << b);
            CHECK(s.bulkhead.wait.cumulative[b] == acc);
        }
        CHECK(s.bulkhead.wait.count == 3 * n + 3);
    }
}
