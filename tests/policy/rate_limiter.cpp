#include <bulwark/pipeline.hpp>
#include <bulwark/policy/rate_limiter.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("rate limiter lets a burst through, then refuses with retry_after",
          "[policy][rate_limiter]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::rate_limiter{{.rate = 10, .per = 1s, .burst = 3, .clock = clock}}};
    auto op = [] { return 1; };
    CHECK(p.get<0>().available() == 3);
    for (int i = 0; i < 3; ++i)
        CHECK(p.try_execute(op).has_value());
    auto refused = p.try_execute(op);
    REQUIRE(refused.has_failure());
    CHECK(refused.code() == bulwark::errc::rate_limited);
    CHECK(refused.error().retry_after == 100ms); // one interval: 1 s / 10
    try {
        p.execute(op);
        FAIL("expected a resilience_error");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::rate_limited);
        CHECK(e.retry_after() == 100ms);
    }
}

TEST_CASE("rate limiter refills by the clock, up to the burst", "[policy][rate_limiter]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::rate_limiter{{.rate = 10, .burst = 3, .clock = clock}}};
    auto op = [] { return 1; };
    for (int i = 0; i < 3; ++i)
        REQUIRE(p.try_execute(op).has_value());
    CHECK(p.get<0>().available() == 0);
    clock.advance(99ms);
    CHECK(p.try_execute(op).code() == bulwark::errc::rate_limited);
    clock.advance(1ms); // one interval since the bucket emptied: one permit
    CHECK(p.get<0>().available() == 1);
    CHECK(p.try_execute(op).has_value());
    CHECK(p.try_execute(op).code() == bulwark::errc::rate_limited);
    clock.advance(10s); // a long pause refills to the burst, never beyond
    CHECK(p.get<0>().available() == 3);
    for (int i = 0; i < 3; ++i)
        CHECK(p.try_execute(op).has_value());
    CHECK(p.try_execute(op).code() == bulwark::errc::rate_limited);
}

TEST_CASE("rate limiter's burst defaults to one period's worth", "[policy][rate_limiter]") {
    bulwark::manual_clock clock;
    bulwark::rate_limiter rl{{.rate = 5, .per = 1s, .clock = clock}};
    CHECK(rl.available() == 5);
}

TEST_CASE("rate limiter waits for a permit up to max_wait", "[policy][rate_limiter]") {
    bulwark::manual_clock clock; // sync sleeps advance it and are recorded
    bulwark::pipeline p{
        bulwark::rate_limiter{{.rate = 10, .burst = 1, .max_wait = 150ms, .clock = clock}}};
    auto op = [] { return 1; };
    REQUIRE(p.try_execute(op).has_value());
    CHECK(clock.sleeps().empty());
    CHECK(p.try_execute(op).has_value()); // waits one interval
    CHECK(clock.sleeps() == std::vector<bulwark::duration>{100ms});
    CHECK(clock.now() == bulwark::time_point{} + 100ms);

    // A wait that would pass the context's deadline is refused at once.
    bulwark::context ctx{clock.now() + 50ms};
    auto out = p.try_execute(op, ctx);
    CHECK(out.code() == bulwark::errc::rate_limited);
    CHECK(out.error().retry_after == 100ms);
    CHECK(clock.sleeps().size() == 1);
}

TEST_CASE("async rate limiter awaits the next permit on the clock",
          "[policy][rate_limiter][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{
        bulwark::rate_limiter{{.rate = 10, .burst = 1, .max_wait = 1s, .clock = clock}}};
    auto op = []() -> bulwark::task<int> { co_return 7; };
    bulwark::context c1, c2, c3;
    auto first = bulwark::spawn(p.async_try_execute(op, c1));
    REQUIRE(first.done());
    auto second = bulwark::spawn(p.async_try_execute(op, c2));
    auto third = bulwark::spawn(p.async_try_execute(op, c3));
    CHECK_FALSE(second.done());
    clock.advance(100ms);
    REQUIRE(second.done());
    CHECK(*second.get() == 7);
    CHECK_FALSE(third.done());
    clock.advance(100ms);
    REQUIRE(third.done());
    CHECK(*third.get() == 7);
}

TEST_CASE("async rate limiter: a stopped wait returns cancelled", "[policy][rate_limiter][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{
        bulwark::rate_limiter{{.rate = 1, .burst = 1, .max_wait = 10s, .clock = clock}}};
    auto op = []() -> bulwark::task<int> { co_return 7; };
    bulwark::context c1;
    auto first = bulwark::spawn(p.async_try_execute(op, c1));
    std::stop_source caller;
    bulwark::context c2{caller.get_token()};
    auto second = bulwark::spawn(p.async_try_execute(op, c2));
    CHECK_FALSE(second.done());
    caller.request_stop();
    REQUIRE(second.done());
    CHECK(second.get().code() == bulwark::errc::cancelled);
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("rate limiter's success path allocates nothing", "[policy][rate_limiter][alloc]") {
    bulwark::pipeline p{bulwark::rate_limiter{{.rate = 1e6, .burst = 1000}}};
    int ok = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        ok += p.try_execute([] { return 1; }).has_value() ? 1 : 0;
    CHECK(scope.count() == 0);
    CHECK(ok == 100);
}

TEST_CASE("rate limiter hands out exactly the burst under contention",
          "[policy][rate_limiter][concurrency]") {
    bulwark::manual_clock clock; // time stands still: no refill
    bulwark::rate_limiter rl{{.rate = 1, .per = 1s, .burst = 100, .clock = clock}};
    std::atomic<int> granted{0}, refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                bulwark::context ctx;
                auto o =
                    rl.execute([](bulwark::context&) -> bulwark::outcome<int> { return 1; }, ctx);
                (o.has_value() ? granted : refused)++;
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(granted.load() == 100);
    CHECK(refused.load() == 300);
}

TEST_CASE("rate limiter settings are validated at construction", "[policy][rate_limiter]") {
    using bulwark::invalid_argument_error;
    using bulwark::rate_limiter;
    CHECK_THROWS_AS(rate_limiter({}), invalid_argument_error);
    CHECK_THROWS_AS(rate_limiter({.rate = -1}), invalid_argument_error);
    CHECK_THROWS_AS(rate_limiter({.rate = 1, .per = 0s}), invalid_argument_error);
    CHECK_THROWS_AS(rate_limiter({.rate = 1, .max_wait = -1ms}), invalid_argument_error);
    CHECK_THROWS_WITH(rate_limiter({.rate = 1e12, .per = 1s}), Catch::Contains("nanosecond"));
    CHECK_THROWS_WITH(rate_limiter({.rate = -1}),
                      "bulwark::rate_limiter: rate must be a positive finite number of permits per "
                      "period (got -1): invalid argument");
}

TEST_CASE("rate limiter on real time (coarse clock for deep buckets) never over-admits",
          "[policy][rate_limiter]") {
    bulwark::rate_limiter rl{{.rate = 10, .per = 1s, .burst = 10}}; // a bucket 1 s deep
    int granted = 0;
    bulwark::duration retry_after{};
    for (int i = 0; i < 11; ++i) {
        bulwark::context ctx;
        auto o = rl.execute([](bulwark::context&) -> bulwark::outcome<int> { return 1; }, ctx);
        if (o.has_value())
            ++granted;
        else
            retry_after = o.error().retry_after;
    }
    CHECK(granted == 10);
    CHECK(retry_after > 0ms);
    CHECK(retry_after <= 100ms + 50ms); // one interval, plus at most the coarse clock's lag
}

TEST_CASE("rate limiter with a huge burst admits calls instead of overflowing (issue 9)",
          "[policy][rate_limiter][regression]") {
    for (std::size_t burst : {std::size_t{1} << 40, std::numeric_limits<std::size_t>::max()}) {
        bulwark::manual_clock clock;
        bulwark::rate_limiter rl{{.rate = 1, .per = 1s, .burst = burst, .clock = clock}};
        CHECK(rl.available() > 1'000'000'000); // documented clamp: ~36 years of permits
        for (int i = 0; i < 1000; ++i) {
            bulwark::context ctx;
            auto o = rl.execute([](bulwark::context&) -> bulwark::outcome<int> { return 1; }, ctx);
            REQUIRE(o.has_value());
        }
    }
}

TEST_CASE("rate limiter with a tiny rate throws instead of admitting past its burst (issue 9)",
          "[policy][rate_limiter][regression]") {
    using bulwark::rate_limiter;
    CHECK_THROWS_WITH(rate_limiter({.rate = 1e-12}),
                      Catch::Contains("bulwark::rate_limiter: per / rate must be"));
    CHECK_THROWS_AS(rate_limiter({.rate = 1, .per = bulwark::duration::max()}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(rate_limiter({.rate = std::numeric_limits<double>::quiet_NaN()}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(rate_limiter({.rate = std::numeric_limits<double>::infinity()}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_WITH(rate_limiter({.rate = 0}),
                      Catch::Contains("bulwark::rate_limiter: rate must be"));
    // the slowest accepted rate: one permit a year, burst 1, admits exactly one call
    bulwark::manual_clock clock;
    rate_limiter rl{{.rate = 1, .per = std::chrono::hours{24 * 365}, .clock = clock}};
    int granted = 0;
    for (int i = 0; i < 5; ++i) {
        bulwark::context ctx;
        if (rl.execute([](bulwark::context&) -> bulwark::outcome<int> { return 1; }, ctx)
                .has_value())
            ++granted;
    }
    CHECK(granted == 1);
}
