#pragma once
// Reusable law checks, one per concept, run against every model (in the manner of Hana's laws/).
//
//   bulwark::test::check_policy_laws([] { return bulwark::retry{...}; });
//   bulwark::test::check_scheduler_laws(bulwark::manual_clock{});
//
// A policy law must hold for any correct policy in its neutral state (closed breaker, free
// bulkhead, full bucket, ...): success passes through untouched, failures are never turned into
// successes, user exceptions are captured once and kept, the async driver agrees with the sync one,
// and the success path allocates nothing.

#include "alloc_counter.hpp"

#include <bulwark/core/policy.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/pipeline.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace bulwark::test {

struct law_error : std::runtime_error {
    law_error()
        : std::runtime_error("law") {}
};

/// `make()` returns a fresh policy in its neutral state. When the policy waits on a manual clock
/// (a retry's backoff), pass that clock: the async law advances it until the call completes.
template <class Make>
void check_policy_laws(Make make, std::optional<bulwark::manual_clock> clock = std::nullopt) {
    using P = decltype(make());
    STATIC_REQUIRE(bulwark::policy<P>);

    SECTION("law: a success passes through with its value") {
        bulwark::pipeline p{make()};
        int calls = 0;
        CHECK(p.execute([&] { return ++calls * 10; }) == 10);
        CHECK(calls == 1);
        CHECK(p.execute([] { return std::string{"text"}; }) == "text");
        p.execute([] {}); // void operations
    }
    SECTION("law: a user exception is captured once and kept") {
        bulwark::pipeline p{make()};
        auto out = p.try_execute([]() -> int { throw law_error{}; });
        REQUIRE(out.has_failure());
        CHECK(out.error().template holds<law_error>());
        bulwark::pipeline q{make()};
        CHECK_THROWS_AS(q.execute([]() -> int { throw law_error{}; }), law_error);
    }
    SECTION("law: a failure is never turned into a success") {
        bulwark::pipeline p{make()};
        auto out =
            p.try_execute([]() -> bulwark::outcome<int> { return bulwark::errc::transport_error; });
        CHECK_FALSE(out.has_value());
    }
    SECTION("law: the success path allocates nothing") {
        bulwark::pipeline p{make()};
        bulwark::context ctx;
        p.execute([] { return 1; }, ctx); // warm-up: lazily built state may allocate once
        alloc_scope scope;
        int sum = 0;
        for (int i = 0; i < 100; ++i)
            sum += p.execute([i] { return i; }, ctx);
        CHECK(sum == 4950);
        CHECK(scope.count() == 0);
    }
    if constexpr (bulwark::has_async_execute<P>) {
        SECTION("law: the coroutine driver agrees with the synchronous one") {
            bulwark::pipeline p{make()};
            auto ok = bulwark::spawn(p.async_execute([]() -> bulwark::task<int> { co_return 7; }));
            REQUIRE(ok.done());
            CHECK(ok.get() == 7);
            bulwark::context ctx;
            auto bad = bulwark::spawn(p.async_try_execute(
                []() -> bulwark::task<int> {
                    throw law_error{};
                    co_return 0;
                },
                ctx));
            for (int i = 0; clock && i < 10000 && !bad.done(); ++i)
                clock->advance(std::chrono::milliseconds(100));
            REQUIRE(bad.done());
            CHECK(bad.get().error().template holds<law_error>());
        }
    }
}

/// Laws of `clock` + `sleeper` + `scheduler` models. `real` = real time (sleeps really wait).
template <class S>
void check_scheduler_laws(S s, bool real) {
    STATIC_REQUIRE(bulwark::scheduler<S>);
    STATIC_REQUIRE(bulwark::sleeper<S>);
    auto t0 = s.now();
    CHECK(s.now() >= t0); // monotonic
    CHECK(s.sleep_for(std::chrono::milliseconds(1), {}));
    CHECK(s.now() - t0 >= std::chrono::milliseconds(1));
    std::stop_source stopped;
    stopped.request_stop();
    CHECK_FALSE(s.sleep_for(std::chrono::hours(1), stopped.get_token()));
    auto sleeper = [&s](std::stop_token st) -> bulwark::task<bool> {
        co_return co_await s.async_sleep_for(std::chrono::milliseconds(1), st);
    };
    auto cancelled = bulwark::spawn(sleeper(stopped.get_token()));
    REQUIRE(cancelled.done()); // an already-stopped sleep does not suspend
    CHECK_FALSE(cancelled.get());
    if (real)
        CHECK(bulwark::sync_wait(sleeper({})));
}

} // namespace bulwark::test
