#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using bulwark::breaker_state;
using bulwark::errc;

namespace {

/// Runs one call through the breaker: a success or a failure that takes `latency` on `clock`.
struct caller {
    bulwark::manual_clock clock;
    bulwark::duration latency{};
    int calls = 0;

    template <class Breaker>
    bulwark::outcome<int> operator()(Breaker& b, bool ok) {
        auto p = bulwark::pipeline{std::ref(b)};
        return p.try_execute([&]() -> bulwark::outcome<int> {
            ++calls;
            if (latency > bulwark::duration::zero())
                clock.advance(latency);
            if (!ok)
                return errc::transport_error;
            return 1;
        });
    }
};

struct recording_listener {
    std::vector<std::pair<breaker_state, breaker_state>>* changes;
    std::vector<bulwark::duration>* rejections;
    void on_state_change(breaker_state from, breaker_state to) { changes->emplace_back(from, to); }
    void on_rejected(breaker_state, bulwark::duration retry_after) {
        rejections->push_back(retry_after);
    }
};

} // namespace

TEST_CASE("the DESIGN syntax builds a breaker and it is one pointer", "[policy][circuit_breaker]") {
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{100},
                                 .failure_rate = 0.5,
                                 .minimum_calls = 20,
                                 .open_for = 30s,
                                 .half_open_calls = 3}};
    STATIC_REQUIRE(bulwark::async_policy<bulwark::circuit_breaker>);
    STATIC_REQUIRE(bulwark::policy_kind_v<bulwark::circuit_breaker> ==
                   bulwark::policy_kind::circuit_breaker);
    STATIC_REQUIRE(sizeof(bulwark::circuit_breaker) == sizeof(void*));
    CHECK(cb.state() == breaker_state::closed);
    auto p = bulwark::pipeline{std::move(cb)}; // movable into a pipeline
    CHECK(p.execute([] { return 7; }) == 7);
    CHECK(p.get<0>().metrics().window.calls == 1);
}

TEST_CASE("opens exactly when the failure rate crosses the threshold after minimum calls",
          "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{10},
                                 .failure_rate = 0.5,
                                 .minimum_calls = 4,
                                 .open_for = 10s,
                                 .clock = call.clock}};
    // 3 failures: 100 % but below minimum calls.
    for (int i = 0; i < 3; ++i)
        CHECK(call(cb, false).code() == errc::transport_error);
    CHECK(cb.state() == breaker_state::closed);
    // The 4th call, a success, makes 3/4 = 75 % over 4 calls: open now.
    CHECK(call(cb, true).has_value());
    CHECK(cb.state() == breaker_state::open);
    auto rejected = call(cb, true);
    REQUIRE(rejected.has_failure());
    CHECK(rejected.code() == errc::circuit_open);
    CHECK(rejected.error().retry_after == 10s);
    CHECK(call.calls == 4); // the rejected call never ran
    CHECK(cb.metrics().rejected == 1);
}

TEST_CASE("a rate just below the threshold keeps the breaker closed", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{10},
                                 .failure_rate = 0.5,
                                 .minimum_calls = 10,
                                 .clock = call.clock}};
    for (int i = 0; i < 4; ++i)
        (void)call(cb, false);
    for (int i = 0; i < 5; ++i)
        (void)call(cb, true);
    CHECK(cb.state() == breaker_state::closed); // 9 calls < minimum
    (void)call(cb, true);                       // 4/10 = 40 %
    CHECK(cb.state() == breaker_state::closed);
    for (int i = 0; i < 4; ++i)
        (void)call(cb, false); // each evicts one of the first failures: still 4/10
    CHECK(cb.state() == breaker_state::closed);
    CHECK(cb.metrics().window.calls == 10);
    CHECK(cb.metrics().window.failures == 4);
    (void)call(cb, false); // evicts a success: 5/10 = 50 %, open
    CHECK(cb.state() == breaker_state::open);
}

TEST_CASE("minimum calls is clamped to a count window's size (resilience4j)",
          "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{
        {.window = bulwark::count_window{5}, .minimum_calls = 100, .clock = call.clock}};
    for (int i = 0; i < 4; ++i)
        (void)call(cb, false);
    CHECK(cb.state() == breaker_state::closed);
    (void)call(cb, false);
    CHECK(cb.state() == breaker_state::open);
}

TEST_CASE("open -> half-open after open_for, judged as a window of N calls",
          "[policy][circuit_breaker]") {
    caller call;
    std::vector<std::pair<breaker_state, breaker_state>> changes;
    std::vector<bulwark::duration> rejections;
    bulwark::basic_circuit_breaker cb{{.window = bulwark::count_window{4},
                                       .minimum_calls = 4,
                                       .open_for = 5s,
                                       .half_open_calls = 3,
                                       .clock = call.clock},
                                      bulwark::default_classifier{},
                                      recording_listener{&changes, &rejections}};
    for (int i = 0; i < 4; ++i)
        (void)call(cb, false);
    REQUIRE(cb.state() == breaker_state::open);
    call.clock.advance(4s);
    CHECK(call(cb, true).error().retry_after == 1s);
    call.clock.advance(1s);

    SECTION("two of three trial successes close it with an empty window") {
        CHECK(call(cb, true).has_value());
        CHECK(cb.state() == breaker_state::half_open);
        CHECK(call(cb, false).code() == errc::transport_error);
        CHECK(call(cb, true).has_value()); // 1/3 failed < 50 %
        CHECK(cb.state() == breaker_state::closed);
        CHECK(cb.metrics().window.calls == 0);
        CHECK(cb.metrics().trips == 0);
    }
    SECTION("two of three trial failures reopen it") {
        (void)call(cb, false);
        (void)call(cb, true);
        CHECK(cb.state() == breaker_state::half_open);
        (void)call(cb, false);
        CHECK(cb.state() == breaker_state::open);
        CHECK(cb.metrics().trips == 2);
    }
    SECTION("the permitted calls are taken while they run: the next caller is rejected") {
        auto p = bulwark::pipeline{std::ref(cb)};
        int inner_rejections = 0;
        auto nested = [&](auto& self, int depth) -> bulwark::outcome<int> {
            return p.try_execute([&]() -> bulwark::outcome<int> {
                if (depth < 3) {
                    auto o = self(self, depth + 1);
                    if (o.has_failure() && o.code() == errc::circuit_open)
                        ++inner_rejections;
                }
                return 1;
            });
        };
        CHECK(nested(nested, 0).has_value()); // 3 admitted (nested), the 4th rejected
        CHECK(inner_rejections == 1);
        CHECK(cb.state() == breaker_state::closed);
    }
    using S = breaker_state;
    REQUIRE(changes.size() >= 2);
    CHECK(changes[0] == std::pair{S::closed, S::open});
    CHECK(changes[1] == std::pair{S::open, S::half_open});
    CHECK(rejections.front() == 1s);
}

TEST_CASE("open time grows on repeated trips, up to max_open_for", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.consecutive_failures = 1,
                                 .open_for = 10s,
                                 .open_multiplier = 2.0,
                                 .max_open_for = 30s,
                                 .half_open_calls = 1,
                                 .clock = call.clock}};
    (void)call(cb, false);
    CHECK(call(cb, true).error().retry_after == 10s);
    call.clock.advance(10s);
    (void)call(cb, false); // failed probe
    CHECK(call(cb, true).error().retry_after == 20s);
    call.clock.advance(20s);
    (void)call(cb, false);
    CHECK(call(cb, true).error().retry_after == 30s); // 40 s capped
    call.clock.advance(30s);
    (void)call(cb, true); // probe succeeds: closed, history forgotten
    CHECK(cb.state() == breaker_state::closed);
    (void)call(cb, false);
    CHECK(call(cb, true).error().retry_after == 10s);
}

TEST_CASE("consecutive-failures mode opens on N failures in a row", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{
        {.consecutive_failures = 3, .open_for = 1s, .half_open_calls = 2, .clock = call.clock}};
    (void)call(cb, false);
    (void)call(cb, false);
    (void)call(cb, true); // breaks the run
    (void)call(cb, false);
    (void)call(cb, false);
    CHECK(cb.state() == breaker_state::closed);
    CHECK(cb.metrics().consecutive_failures == 2);
    (void)call(cb, false);
    CHECK(cb.state() == breaker_state::open);
    call.clock.advance(1s);
    SECTION("one failed probe reopens at once") {
        (void)call(cb, false);
        CHECK(cb.state() == breaker_state::open);
    }
    SECTION("N successful probes close") {
        (void)call(cb, true);
        CHECK(cb.state() == breaker_state::half_open);
        (void)call(cb, true);
        CHECK(cb.state() == breaker_state::closed);
        CHECK(cb.metrics().consecutive_failures == 0);
    }
}

TEST_CASE("slow calls count toward the slow-call rate", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{4},
                                 .slow_call_rate = 0.5,
                                 .slow_call_duration = 2s,
                                 .minimum_calls = 4,
                                 .clock = call.clock}};
    call.latency = 1s;
    (void)call(cb, true);
    (void)call(cb, true);
    call.latency = 2s; // at the threshold counts as slow (resilience4j: >=)
    (void)call(cb, true);
    CHECK(cb.metrics().window.slow == 1);
    CHECK(cb.state() == breaker_state::closed);
    (void)call(cb, true); // 2 slow of 4 = 50 %
    CHECK(cb.state() == breaker_state::open);
    CHECK(cb.metrics().window.failures == 0);
}

TEST_CASE("a slow failure counts in both rates; slow trials reopen", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{2},
                                 .failure_rate = 1.0,
                                 .slow_call_rate = 1.0,
                                 .slow_call_duration = 1s,
                                 .open_for = 1s,
                                 .half_open_calls = 2,
                                 .clock = call.clock}};
    call.latency = 1s;
    (void)call(cb, false);
    CHECK(cb.metrics().window.failures == 1);
    CHECK(cb.metrics().window.slow == 1);
    (void)call(cb, true);
    REQUIRE(cb.state() == breaker_state::open);
    call.clock.advance(1s);
    (void)call(cb, true);
    (void)call(cb, true); // both trials slow: 100 % >= 100 %
    CHECK(cb.state() == breaker_state::open);
}

TEST_CASE("time window: rates over the last seconds, evicted by the clock",
          "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::time_window{10s},
                                 .failure_rate = 0.5,
                                 .minimum_calls = 4,
                                 .clock = call.clock}};
    (void)call(cb, false);
    (void)call(cb, false);
    (void)call(cb, false);
    CHECK(cb.metrics().window.calls == 3);
    call.clock.advance(10s); // the failures leave the window
    CHECK(cb.metrics().window.calls == 0);
    (void)call(cb, false);
    (void)call(cb, true);
    (void)call(cb, true);
    (void)call(cb, true);
    CHECK(cb.state() == breaker_state::closed); // 1/4
    call.clock.advance(9s);                     // t = 19 s: seconds 10..19 are still in the window
    (void)call(cb, false);                      // 2/5
    CHECK(cb.state() == breaker_state::closed);
    (void)call(cb, false); // 3/6 = 50 %
    CHECK(cb.state() == breaker_state::open);
}

TEST_CASE("max wait in half-open reopens a trial that never completes",
          "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.consecutive_failures = 1,
                                 .open_for = 1s,
                                 .half_open_calls = 1,
                                 .max_wait_in_half_open = 5s,
                                 .clock = call.clock}};
    (void)call(cb, false);
    call.clock.advance(1s);
    auto p = bulwark::pipeline{std::ref(cb)};
    // A trial call that hangs: the breaker is half-open while it runs.
    (void)p.try_execute([&] {
        CHECK(cb.state() == breaker_state::half_open);
        CHECK(call(cb, true).code() == errc::circuit_open); // the one permit is taken
        call.clock.advance(5s);
        auto late = call(cb, true);
        CHECK(late.code() == errc::circuit_open); // max wait passed: open again
        CHECK(cb.state() == breaker_state::open);
        return 1;
    });
    CHECK(cb.state() == breaker_state::open); // the late trial outcome is dropped
}

TEST_CASE("manual states: isolate, disable, metrics_only, reset", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{
        {.window = bulwark::count_window{2}, .minimum_calls = 2, .clock = call.clock}};
    cb.isolate();
    CHECK(cb.state() == breaker_state::forced_open);
    auto r = call(cb, true);
    CHECK(r.code() == errc::circuit_open);
    CHECK(r.error().retry_after == 0s);
    call.clock.advance(1h);
    CHECK(call(cb, true).code() == errc::circuit_open); // forced open does not expire

    cb.disable();
    (void)call(cb, false);
    (void)call(cb, false);
    CHECK(cb.state() == breaker_state::disabled);
    CHECK(cb.metrics().window.calls == 0);

    cb.metrics_only();
    (void)call(cb, false);
    (void)call(cb, false);
    CHECK(cb.state() == breaker_state::metrics_only);
    CHECK(cb.metrics().window.failures == 2);

    cb.reset();
    CHECK(cb.state() == breaker_state::closed);
    CHECK(cb.metrics().window.calls == 0);
    cb.trip();
    CHECK(cb.state() == breaker_state::open);
    cb.force_open();
    CHECK(cb.state() == breaker_state::forced_open);
    cb.reset();
    CHECK(call(cb, true).has_value());
}

TEST_CASE("the classifier decides failures; ignored outcomes are not counted",
          "[policy][circuit_breaker]") {
    caller call;
    bulwark::basic_circuit_breaker cb{
        {.window = bulwark::count_window{2}, .minimum_calls = 2, .clock = call.clock},
        bulwark::ignore_if([](int v) { return v == 404; })};
    auto p = bulwark::pipeline{std::ref(cb)};
    (void)p.try_execute([] { return 404; });
    (void)p.try_execute([] { return 404; });
    CHECK(cb.metrics().window.calls == 0);
    auto fails =
        bulwark::basic_circuit_breaker{{.window = bulwark::count_window{2}, .minimum_calls = 2},
                                       bulwark::failure_if([](int v) { return v == 503; })};
    auto q = bulwark::pipeline{std::ref(fails)};
    (void)q.try_execute([] { return 503; });
    (void)q.try_execute([] { return 503; });
    CHECK(fails.state() == breaker_state::open);
}

TEST_CASE("exceptions are failures and pass through; execute throws resilience_error when open",
          "[policy][circuit_breaker]") {
    bulwark::circuit_breaker cb{{.consecutive_failures = 2, .open_for = 7s}};
    auto p = bulwark::pipeline{std::ref(cb)};
    auto boom = []() -> int { throw std::runtime_error("boom"); };
    CHECK_THROWS_AS(p.execute(boom), std::runtime_error);
    CHECK_THROWS_AS(p.execute(boom), std::runtime_error);
    try {
        p.execute([] { return 1; });
        FAIL("expected circuit_open");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == errc::circuit_open);
        CHECK(e.retry_after() > 6s);
    }
}

TEST_CASE("async_execute shares the state core", "[policy][circuit_breaker]") {
    bulwark::manual_clock clock;
    bulwark::circuit_breaker cb{
        {.consecutive_failures = 1, .open_for = 3s, .half_open_calls = 1, .clock = clock}};
    auto p = bulwark::pipeline{std::ref(cb)};
    bulwark::context ctx;
    auto failing = [&]() -> bulwark::task<int> {
        co_await clock.async_sleep_for(1s, {});
        throw std::runtime_error("x");
    };
    auto t = bulwark::spawn(p.async_try_execute(failing, ctx));
    CHECK_FALSE(t.done());
    clock.advance(1s);
    REQUIRE(t.done());
    CHECK(t.get().code() == errc::exception);
    CHECK(cb.state() == breaker_state::open);
    auto ok = []() -> bulwark::task<int> { co_return 5; };
    auto r = bulwark::spawn(p.async_try_execute(ok, ctx));
    REQUIRE(r.done());
    auto out = r.get();
    CHECK(out.code() == errc::circuit_open);
    CHECK(out.error().retry_after == 3s);
    clock.advance(3s);
    auto probe = bulwark::spawn(p.async_try_execute(ok, ctx));
    CHECK(probe.get().value() == 5);
    CHECK(cb.state() == breaker_state::closed);
}

TEST_CASE("no allocation on the success path nor on rejection", "[policy][circuit_breaker]") {
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{8}, .minimum_calls = 8}};
    auto p = bulwark::pipeline{std::ref(cb)};
    auto ok = [] { return 1; };
    auto bad = []() -> bulwark::outcome<int> { return errc::transport_error; };
    {
        bulwark::test::alloc_scope scope;
        for (int i = 0; i < 100; ++i)
            (void)p.try_execute(ok); // fills the window, then the no-write fast path
        for (int i = 0; i < 3; ++i)
            (void)p.try_execute(bad);
        CHECK(scope.count() == 0);
    }
    for (int i = 0; i < 8; ++i)
        (void)p.try_execute(bad);
    REQUIRE(cb.state() == breaker_state::open);
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        CHECK(p.try_execute(ok).code() == errc::circuit_open);
    CHECK(scope.count() == 0);
}

TEST_CASE("half-open admits exactly N under 8 concurrent threads",
          "[policy][circuit_breaker][concurrency]") {
    constexpr int n = 3;
    for (int round = 0; round < 20; ++round) {
        bulwark::manual_clock clock;
        // Even rounds: consecutive mode; odd rounds: rate mode (a window of one call).
        bulwark::circuit_breaker cb{{.window = bulwark::count_window{1},
                                     .consecutive_failures = round % 2 == 0 ? 1 : 0,
                                     .open_for = 1s,
                                     .half_open_calls = n,
                                     .clock = clock}};
        auto p = bulwark::pipeline{std::ref(cb)};
        (void)p.try_execute([]() -> bulwark::outcome<int> { return errc::transport_error; });
        clock.advance(1s);
        std::atomic<int> admitted{0}, rejected{0}, ready{0};
        std::atomic<bool> go{false}, release{false};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&] {
                ++ready;
                while (!go.load())
                    std::this_thread::yield();
                auto out = p.try_execute([&] {
                    ++admitted;
                    while (!release.load()) // hold the permit until every thread has tried
                        std::this_thread::yield();
                    return 1;
                });
                if (out.has_failure())
                    ++rejected;
            });
        while (ready.load() != 8)
            std::this_thread::yield();
        go = true;
        while (admitted.load() + rejected.load() != 8 && rejected.load() < 8 - n)
            std::this_thread::yield();
        while (admitted.load() + rejected.load() != 8)
            std::this_thread::yield();
        release = true;
        for (auto& t : threads)
            t.join();
        CHECK(admitted.load() == n);
        CHECK(rejected.load() == 8 - n);
        CHECK(cb.state() == breaker_state::closed);
    }
}

TEST_CASE("concurrent callers keep the window's totals exact",
          "[policy][circuit_breaker][concurrency]") {
    bulwark::circuit_breaker cb{
        {.window = bulwark::count_window{64}, .failure_rate = 1.0, .minimum_calls = 64}};
    auto p = bulwark::pipeline{std::ref(cb)};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i)
                (void)p.try_execute([&]() -> bulwark::outcome<int> {
                    if ((i + t) % 4 == 0)
                        return errc::transport_error;
                    return 1;
                });
        });
    for (auto& t : threads)
        t.join();
    auto m = cb.metrics();
    CHECK(m.window.calls == 64);
    CHECK(m.window.failures > 0);
    CHECK(m.window.failures < 64);
    CHECK(cb.state() == breaker_state::closed);
}

TEST_CASE("bad settings are rejected at construction", "[policy][circuit_breaker]") {
    using bulwark::circuit_breaker;
    using E = bulwark::invalid_argument_error;
    CHECK_THROWS_AS(circuit_breaker({.window = bulwark::count_window{0}}), E);
    CHECK_THROWS_AS(circuit_breaker({.window = bulwark::count_window{-5}}), E);
    CHECK_THROWS_AS(circuit_breaker({.window = bulwark::time_window{0}}), E);
    CHECK_THROWS_AS(circuit_breaker({.window = bulwark::time_window{-1s}}), E);
    CHECK_THROWS_AS(circuit_breaker({.failure_rate = 1.5}), E);
    CHECK_THROWS_AS(circuit_breaker({.failure_rate = 0.0}), E);
    CHECK_THROWS_AS(circuit_breaker({.slow_call_rate = 1.01}), E);
    CHECK_THROWS_AS(circuit_breaker({.slow_call_duration = -1s}), E);
    CHECK_THROWS_AS(circuit_breaker({.minimum_calls = 0}), E);
    CHECK_THROWS_AS(circuit_breaker({.consecutive_failures = -1}), E);
    CHECK_THROWS_AS(circuit_breaker({.open_for = -1s}), E);
    CHECK_THROWS_AS(circuit_breaker({.open_multiplier = 0.5}), E);
    CHECK_THROWS_AS(circuit_breaker({.open_for = 10s, .max_open_for = 5s}), E);
    CHECK_THROWS_AS(circuit_breaker({.half_open_calls = 0}), E);
    CHECK_THROWS_AS(circuit_breaker({.max_wait_in_half_open = -1ms}), E);
    try {
        circuit_breaker cb({.failure_rate = 2.0});
    } catch (const E& e) {
        CHECK_THAT(e.what(), Catch::Contains("failure_rate must be in (0, 1]"));
    }
    CHECK_NOTHROW(circuit_breaker({}));
}

TEST_CASE("outcomes of calls admitted before a trip are dropped", "[policy][circuit_breaker]") {
    caller call;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{2},
                                 .minimum_calls = 2,
                                 .open_for = 1s,
                                 .half_open_calls = 1,
                                 .clock = call.clock}};
    auto p = bulwark::pipeline{std::ref(cb)};
    // A slow call admitted while closed; meanwhile the breaker trips, and its trial starts.
    auto out = p.try_execute([&]() -> bulwark::outcome<int> {
        (void)call(cb, false);
        (void)call(cb, false);
        REQUIRE(cb.state() == breaker_state::open);
        call.clock.advance(1s);
        return errc::transport_error; // finishes after the trip: must not count anywhere
    });
    CHECK(out.code() == errc::transport_error);
    CHECK(cb.state() == breaker_state::open);
    CHECK(cb.metrics().window.calls == 2);
    (void)call(cb, true); // the real trial closes it
    CHECK(cb.state() == breaker_state::closed);
}
