#include <bulwark/pipeline.hpp>
#include <bulwark/policy/adaptive_limit.hpp>
#include <bulwark/policy/detail/bulkhead_state.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

bulwark::limit_sample sample(bulwark::duration rtt, std::size_t inflight, bool drop = false) {
    return {rtt, inflight, drop};
}

/// The saturated model of the reference (§9): C workers, no-load RTT T0; `L` calls in flight
/// take T0 while L <= C and T0 * L / C beyond (the knee is L = C). One sample per window.
bulwark::duration model_rtt(std::size_t limit, std::size_t workers, bulwark::duration t0) {
    if (limit <= workers)
        return t0;
    return bulwark::duration{t0.count() * static_cast<long long>(limit) /
                             static_cast<long long>(workers)};
}

template <class Algo>
std::vector<std::size_t> drive_saturated(Algo& a, std::size_t workers, int windows,
                                         std::optional<bulwark::duration> timeout = {}) {
    std::vector<std::size_t> limits;
    for (int i = 0; i < windows; ++i) {
        const std::size_t l = a.limit();
        const bulwark::duration rtt = model_rtt(l, workers, 10ms);
        a.on_sample(sample(rtt, l, timeout && rtt > *timeout));
        limits.push_back(a.limit());
    }
    return limits;
}

} // namespace

// ---- the algorithms against the source's test vectors ----------------------------------------

TEST_CASE("aimd: a drop multiplies by the backoff ratio, a busy window adds one, clamped",
          "[policy][adaptive_limit]") {
    bulwark::aimd a{{.initial = 30, .min = 1}};
    a.on_sample(sample(1ms, 30, true));
    CHECK(a.limit() == 27);
    bulwark::aimd b{};
    b.on_sample(sample(1ms, 10));
    CHECK(b.limit() == 21);
    b.on_sample(sample(1ms, 5)); // inflight * 2 < L: the caller limits, not the server
    CHECK(b.limit() == 21);
    bulwark::aimd c{{.initial = 21, .max = 21}};
    c.on_sample(sample(1ms, 21));
    CHECK(c.limit() == 21);
    bulwark::aimd d{{.timeout = 5ms}};
    d.on_sample(sample(6ms, 20)); // slower than the timeout counts as a drop
    CHECK(d.limit() == 20);       // floor(20 * 0.9) = 18, clamped to min 20
}

TEST_CASE("vegas: the source's vectors (queue estimate against the no-load RTT)",
          "[policy][adaptive_limit]") {
    auto make = [] { return bulwark::vegas{{.initial = 10, .max = 20}}; };
    auto a = make();
    a.on_sample(sample(10ms, 1)); // the first sample only sets the no-load RTT
    a.on_sample(sample(10ms, 11));
    CHECK(a.limit() == 16); // queue 0 <= lg: + beta (6)
    auto b = make();
    b.on_sample(sample(10ms, 1));
    b.on_sample(sample(50ms, 11));
    CHECK(b.limit() == 9); // queue 8 > beta: - lg
    auto c = make();
    c.on_sample(sample(10ms, 1));
    c.on_sample(sample(14ms, 11));
    CHECK(c.limit() == 10); // queue 3: between alpha and beta, hold
    bulwark::vegas d{{.initial = 10000, .max = 20000}};
    d.on_sample(sample(10ms, 10000));
    d.on_sample(sample(10ms, 10000));
    CHECK(d.limit() == 10024); // lg 4: beta 24
    auto e = make();
    e.on_sample(sample(10ms, 1));
    e.on_sample(sample(10ms, 11, true));
    CHECK(e.limit() == 9); // a drop: - lg
}

TEST_CASE("gradient2: the long average is a mean, then an EMA; no queueing grows by 0.8",
          "[policy][adaptive_limit]") {
    bulwark::gradient2 g{{.long_window = 100}};
    for (int i = 10; i < 20; ++i)
        g.on_sample(sample(bulwark::duration{i}, 0)); // app-limited: the limit stays
    CHECK(g.long_rtt().count() == 14);                // mean of 10..19 = 14.5
    g.on_sample(sample(bulwark::duration{100}, 0));
    CHECK(g.long_rtt().count() == 16); // 14.5 * 99/101 + 100 * 2/101 = 16.19
    CHECK(g.limit() == 20);
    bulwark::gradient2 h{};
    for (int i = 0; i < 5; ++i)
        h.on_sample(sample(10ms, h.limit()));
    CHECK(h.limit() == 24); // 20 + 5 * 0.8
}

TEST_CASE("adaptive algorithms reject bad settings with the setting's name",
          "[policy][adaptive_limit]") {
    CHECK_THROWS_WITH(
        bulwark::aimd({.backoff_ratio = 1.0}),
        Catch::StartsWith("bulwark::aimd: backoff_ratio must be in [0.5, 1) (got 1)"));
    CHECK_THROWS_WITH(
        bulwark::aimd({.initial = 5}),
        Catch::StartsWith("bulwark::aimd: initial must be within [min, max] (got 5)"));
    CHECK_THROWS_WITH(bulwark::vegas({.smoothing = 0}),
                      Catch::StartsWith("bulwark::vegas: smoothing must be in (0, 1] (got 0)"));
    CHECK_THROWS_WITH(
        bulwark::vegas({.max = std::size_t{1} << 60}),
        Catch::StartsWith("bulwark::vegas: max must be in [1, 2^52] (got 1152921504606846976)"));
    CHECK_THROWS_WITH(
        bulwark::gradient2({.rtt_tolerance = 0.5}),
        Catch::StartsWith("bulwark::gradient2: rtt_tolerance must be >= 1 (got 0.5)"));
    CHECK_THROWS_WITH(
        bulwark::adaptive_limit<>({.window = {.min_window = 0ms}}),
        Catch::StartsWith("bulwark::adaptive_limit: min_window must be > 0 (got 0ns)"));
    CHECK_THROWS_WITH(
        bulwark::adaptive_limit<>({.window = {.min_samples = 0}}),
        Catch::StartsWith("bulwark::adaptive_limit: min_samples must be >= 1 (got 0)"));
}

// ---- convergence on the saturated model -------------------------------------------------------

TEST_CASE("vegas converges near the knee and follows a capacity step down",
          "[policy][adaptive_limit][convergence]") {
    bulwark::vegas v{};
    auto before = drive_saturated(v, 50, 100);
    // Knee 50: the band C+3..C+6 (the ceil at C+6 is float-sensitive, so a range).
    for (std::size_t i = 60; i < 100; ++i) {
        CHECK(before[i] >= 52);
        CHECK(before[i] <= 57);
    }
    auto after = drive_saturated(v, 25, 60);
    std::printf("vegas on the saturated model: knee 50 -> limit %zu; step to 25 -> after 10 "
                "windows %zu, after 60 %zu\n",
                before.back(), after[9], after.back());
    CHECK(after.back() >= 26);
    CHECK(after.back() <= 32);
}

TEST_CASE("aimd saw-tooths under the load at which calls time out",
          "[policy][adaptive_limit][convergence]") {
    bulwark::aimd a{};
    auto limits = drive_saturated(a, 50, 400, 20ms); // timeout 2 T0: a drop beyond L = 100
    const auto [lo, hi] = std::minmax_element(limits.begin() + 200, limits.end());
    std::printf("aimd on the saturated model (timeout 2 T0): limit between %zu and %zu\n", *lo,
                *hi);
    CHECK(*lo >= 88);
    CHECK(*hi <= 101);
}

TEST_CASE("gradient2 sheds load after a capacity step (and creeps: not asserted as converged)",
          "[policy][adaptive_limit][convergence]") {
    bulwark::gradient2 g{};
    auto before = drive_saturated(g, 50, 100);
    auto after = drive_saturated(g, 25, 15);
    std::printf("gradient2 on the saturated model: knee 50 -> %zu after 100 windows; step to 25 "
                "-> %zu after 15 windows\n",
                before.back(), after.back());
    CHECK(before.back() > 50); // it overshoots the knee (1.5 C + 4 is its fixed point)
    CHECK(after.back() < before.back() * 3 / 4);
}

// ---- an overload step: adaptive limits against a fixed bulkhead ------------------------------

namespace {

/// A simulated service on the manual clock: C workers share the calls in flight (each call needs
/// T0 of work and gets min(1, C/N) of a worker per tick), so latency grows with load past the
/// knee N = C. Clients time out after `timeout`; a timed-out call leaves the server.
struct service_sim {
    struct call {
        bulwark::time_point start;
        double work_left_ms;
        bulwark::limit_permit permit;
    };
    struct figures {
        double goodput_per_s = 0;
        double p99_ms = 0;
        double rejected_pct = 0;
        std::size_t limit_at_end = 0;
    };

    /// `admit(now)` returns a permit or nothing; `done(permit, now, outcome)` releases it.
    template <class Admit, class Done, class Limit>
    figures run(Admit admit, Done done, Limit limit) {
        bulwark::manual_clock clock;
        std::deque<call> inflight;
        std::vector<double> latencies;
        double arrivals = 0;
        std::size_t good = 0, offered = 0, rejected = 0;
        const auto tick = 1ms;
        const int total_ms = 20'000, step_ms = 10'000, measure_from_ms = 14'000;
        for (int ms = 0; ms < total_ms; ++ms) {
            clock.advance(tick);
            const auto now = clock.now();
            const std::size_t workers = ms < step_ms ? 50 : 25;
            const bool measuring = ms >= measure_from_ms;
            // Serve: processor sharing among the calls in flight.
            const double share =
                std::min(1.0, static_cast<double>(workers) /
                                  static_cast<double>(std::max<std::size_t>(1, inflight.size())));
            for (auto it = inflight.begin(); it != inflight.end();) {
                it->work_left_ms -= share;
                const double age_ms =
                    std::chrono::duration<double, std::milli>(now - it->start).count();
                if (it->work_left_ms <= 1e-9) {
                    done(it->permit, now, bulwark::limit_outcome::success);
                    if (measuring) {
                        ++good;
                        latencies.push_back(age_ms);
                    }
                    it = inflight.erase(it);
                } else if (age_ms >= timeout_ms) {
                    done(it->permit, now, bulwark::limit_outcome::dropped);
                    if (measuring)
                        latencies.push_back(age_ms);
                    it = inflight.erase(it);
                } else {
                    ++it;
                }
            }
            // Arrive: 4 calls per ms, 80 % of the normal capacity (50 workers / 10 ms), 160 % of
            // the capacity after the step.
            for (arrivals += 4.0; arrivals >= 1.0; arrivals -= 1.0) {
                if (measuring)
                    ++offered;
                if (auto p = admit(now))
                    inflight.push_back({now, 10.0, *p});
                else if (measuring)
                    ++rejected;
            }
        }
        figures f;
        const double seconds = (total_ms - measure_from_ms) / 1000.0;
        f.goodput_per_s = static_cast<double>(good) / seconds;
        std::sort(latencies.begin(), latencies.end());
        f.p99_ms = latencies.empty() ? 0 : latencies[latencies.size() * 99 / 100];
        f.rejected_pct =
            offered == 0 ? 0 : 100.0 * static_cast<double>(rejected) / static_cast<double>(offered);
        f.limit_at_end = limit();
        return f;
    }

    double timeout_ms = 25;
};

template <class Algo>
service_sim::figures run_adaptive(typename Algo::options o) {
    bulwark::adaptive_limiter<Algo> lim{o, {.min_window = 50ms, .max_window = 50ms}};
    service_sim sim;
    return sim.run([&](bulwark::time_point now) { return lim.try_acquire(now); },
                   [&](const bulwark::limit_permit& p, bulwark::time_point now,
                       bulwark::limit_outcome how) { lim.release(p, now, how); },
                   [&] { return lim.limit(); });
}

void print(const char* name, const service_sim::figures& f) {
    std::printf("  %-28s goodput %7.0f/s  p99 %5.1f ms  rejected %5.1f %%  limit %zu\n", name,
                f.goodput_per_s, f.p99_ms, f.rejected_pct, f.limit_at_end);
}

} // namespace

TEST_CASE("under an overload step, adaptive limits keep goodput higher and p99 lower than a "
          "fixed bulkhead sized for normal load",
          "[policy][adaptive_limit][convergence]") {
    // The fixed bulkhead: normal load keeps ~40 calls in flight (4/ms * 10 ms), sized at 64.
    bulwark::detail::bulkhead_state fixed{64, 0};
    service_sim sim;
    const auto fixed_f = sim.run(
        [&](bulwark::time_point now) -> std::optional<bulwark::limit_permit> {
            if (!fixed.try_acquire())
                return std::nullopt;
            return bulwark::limit_permit{now, fixed.active()};
        },
        [&](const bulwark::limit_permit&, bulwark::time_point, bulwark::limit_outcome) {
            fixed.release();
        },
        [&] { return fixed.max_concurrent(); });
    const auto vegas_f = run_adaptive<bulwark::vegas>({});
    const auto gradient_f = run_adaptive<bulwark::gradient2>({});
    const auto aimd_f = run_adaptive<bulwark::aimd>({.timeout = 25ms});
    std::printf("overload step (capacity 5/ms -> 2.5/ms at 10 s, offered 4/ms, timeout 25 ms; "
                "figures over 14-20 s; service capacity after the step: 2500/s):\n");
    print("fixed bulkhead (64)", fixed_f);
    print("adaptive_limit<vegas>", vegas_f);
    print("adaptive_limit<gradient2>", gradient_f);
    print("adaptive_limit<aimd>", aimd_f);
    for (const auto* f : {&vegas_f, &gradient_f}) {
        CHECK(f->goodput_per_s > 1.5 * fixed_f.goodput_per_s);
        CHECK(f->goodput_per_s > 2000);
        CHECK(f->p99_ms <= fixed_f.p99_ms);
    }
    // Vegas finds the knee: calls barely queue (p99 about 1.2 T0). Gradient2 creeps back up
    // toward the timeout (its known behaviour under sustained overload, see gradient2.hpp).
    CHECK(vegas_f.p99_ms < 0.6 * fixed_f.p99_ms);
    CHECK(aimd_f.goodput_per_s >= fixed_f.goodput_per_s);
}

// ---- the policy ------------------------------------------------------------------------------

TEST_CASE("adaptive_limit rejects at the limit and samples the calls that ran",
          "[policy][adaptive_limit]") {
    bulwark::manual_clock clock;
    bulwark::adaptive_limit<bulwark::aimd> lim{
        {.algorithm = {.initial = 1, .min = 1, .max = 10},
         .window = {.min_window = 100ms, .max_window = 100ms, .min_samples = 1},
         .clock = clock}};
    bulwark::pipeline p{std::ref(lim)};
    bulwark::errc inner{};
    auto out = p.try_execute([&] {
        CHECK(lim.inflight() == 1);
        inner = p.try_execute([] { return 1; }).code();
        clock.advance(1ms);
        return 2;
    });
    CHECK(out.has_value());
    CHECK(inner == bulwark::errc::bulkhead_full);
    CHECK(lim.inflight() == 0);
    // Busy windows (inflight 1 >= L/2) raise the limit by one each.
    for (int w = 0; w < 3; ++w) {
        clock.advance(100ms);
        CHECK(p.execute([&] {
            clock.advance(1ms);
            return 1;
        }) == 1);
    }
    CHECK(lim.limit() >= 2);
    // A timeout is a drop: the limit backs off.
    const std::size_t before = lim.limit();
    clock.advance(100ms);
    auto timed_out = p.try_execute([&]() -> bulwark::outcome<int> {
        clock.advance(1ms);
        return bulwark::errc::timeout;
    });
    CHECK(timed_out.code() == bulwark::errc::timeout);
    CHECK(lim.limit() < before);
    CHECK_THROWS_AS(p.execute([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    CHECK(lim.inflight() == 0); // ... the permit came back after an exception
}

TEST_CASE("adaptive_limit's success path allocates nothing", "[policy][adaptive_limit][alloc]") {
    bulwark::pipeline p{bulwark::adaptive_limit<bulwark::vegas>{}};
    int sum = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 1000; ++i)
        sum += p.execute([i] { return i; });
    if (bulwark::test::alloc_counting_enabled())
        CHECK(scope.count() == 0);
    CHECK(sum == 499500);
}

TEST_CASE("adaptive_limit on the coroutine driver", "[policy][adaptive_limit][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{
        bulwark::adaptive_limit<bulwark::vegas>{{.algorithm = {.initial = 1}, .clock = clock}}};
    auto op = [&]() -> bulwark::task<int> {
        co_await clock.async_sleep_for(5ms, {});
        co_return 7;
    };
    bulwark::context a, b;
    auto first = p.async_try_execute(op, a);
    auto second = p.async_try_execute(op, b);
    // Start the first: it holds the only permit while it sleeps on the manual clock.
    std::optional<bulwark::outcome<int>> r1;
    std::thread t([&] { r1 = bulwark::sync_wait(std::move(first)); });
    while (clock.pending_timers() == 0)
        std::this_thread::yield();
    CHECK(bulwark::sync_wait(std::move(second)).code() == bulwark::errc::bulkhead_full);
    clock.advance(5ms);
    t.join();
    REQUIRE(r1);
    CHECK(r1->value() == 7);
    CHECK(p.get<0>().inflight() == 0);
}

TEST_CASE("adaptive_limit drives a bulkhead's limit", "[policy][adaptive_limit][bulkhead]") {
    bulwark::manual_clock clock;
    bulwark::bulkhead queue{
        {.max_concurrent = 5, .max_queued = 4, .max_wait = 10ms, .clock = clock}};
    bulwark::adaptive_limit<bulwark::aimd> lim{
        {.algorithm = {.initial = 2, .min = 1, .max = 10},
         .window = {.min_window = 10ms, .max_window = 10ms, .min_samples = 1},
         .drive = &queue,
         .clock = clock}};
    CHECK(queue.max_concurrent() == 2); // the algorithm's initial limit
    bulwark::pipeline p{std::ref(queue), std::ref(lim)};
    for (int w = 0; w < 4; ++w) {
        clock.advance(10ms);
        CHECK(p.execute([&] {
            clock.advance(1ms);
            return 1;
        }) == 1);
    }
    // A busy window (1 in flight >= L/2 at L = 2) raised the limit to 3; at 3 it holds.
    CHECK(lim.limit() == 3);
    CHECK(queue.max_concurrent() == 3);
    CHECK(queue.active() == 0);
    CHECK_THROWS_WITH(queue.set_max_concurrent(0),
                      Catch::StartsWith("bulwark::bulkhead: max_concurrent must be >= 1 (got 0)"));
}

TEST_CASE("adaptive_limit under concurrent callers never admits beyond the limit",
          "[policy][adaptive_limit][concurrency]") {
    bulwark::adaptive_limit<bulwark::gradient2> lim{
        {.algorithm = {.initial = 4, .min = 1, .max = 8},
         .window = {.min_window = 1ms, .max_window = 1ms, .min_samples = 1, .min_rtt = 0ns}}};
    bulwark::pipeline p{std::ref(lim)};
    std::atomic<std::size_t> running{0}, peak{0};
    std::atomic<int> ok{0}, full{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                auto out = p.try_execute([&] {
                    std::size_t now = ++running, seen = peak.load();
                    while (now > seen && !peak.compare_exchange_weak(seen, now))
                        ;
                    std::this_thread::yield();
                    --running;
                    return 1;
                });
                (out.has_value() ? ok : full)++;
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(ok + full == 8000);
    CHECK(peak.load() <= 8); // never above the algorithm's max
    CHECK(lim.inflight() == 0);
    CHECK(lim.limit() >= 1);
    CHECK(lim.limit() <= 8);
}
