// Every resilience policy, in its neutral state, obeys the policy laws (tests/support/laws.hpp):
// success passes through, user exceptions are kept, failures stay failures, no allocation on the
// success path, and the coroutine driver agrees with the synchronous one. (fallback is the one
// policy whose purpose is to turn failures into values; its own tests cover it.)
#include "support/laws.hpp"

#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/rate_limiter.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

TEST_CASE("retry obeys the policy laws", "[policy][laws]") {
    bulwark::manual_clock clock;
    bulwark::test::check_policy_laws(
        [&] {
            return bulwark::retry{.max_attempts = 3,
                                  .backoff = bulwark::exponential_backoff{.base = 10ms, .cap = 1s},
                                  .clock = clock};
        },
        clock);
}

TEST_CASE("circuit_breaker obeys the policy laws", "[policy][laws]") {
    bulwark::test::check_policy_laws([] {
        return bulwark::circuit_breaker{{.window = bulwark::count_window{100},
                                         .failure_rate = 0.5,
                                         .minimum_calls = 20,
                                         .open_for = 30s,
                                         .half_open_calls = 3}};
    });
}

TEST_CASE("timeouts obey the policy laws", "[policy][laws]") {
    bulwark::manual_clock clock;
    SECTION("total") {
        bulwark::test::check_policy_laws(
            [&] { return bulwark::timeout{.total = 2s, .clock = clock}; });
    }
    SECTION("per attempt") {
        bulwark::test::check_policy_laws(
            [&] { return bulwark::timeout{.per_attempt = 300ms, .clock = clock}; });
    }
}

TEST_CASE("bulkhead obeys the policy laws", "[policy][laws]") {
    bulwark::test::check_policy_laws([] { return bulwark::bulkhead{{.max_concurrent = 4}}; });
}

TEST_CASE("rate_limiter obeys the policy laws", "[policy][laws]") {
    bulwark::manual_clock clock;
    bulwark::test::check_policy_laws(
        [&] { return bulwark::rate_limiter{{.rate = 1e6, .burst = 1000, .clock = clock}}; });
}

TEST_CASE("hedge obeys the policy laws", "[policy][laws]") {
    bulwark::manual_clock clock;
    bulwark::test::check_policy_laws(
        [&] { return bulwark::hedge{.max_hedged_attempts = 2, .delay = 50ms, .clock = clock}; },
        clock);
}
