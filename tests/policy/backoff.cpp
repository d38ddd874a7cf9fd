#include <bulwark/policy/backoff.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace std::chrono_literals;
using bulwark::duration;

namespace {

constexpr int samples = 10'000;

/// Draws the delays of retries 1..n, feeding each back as `previous`, as the retry does.
template <class B>
std::vector<duration> schedule(const B& b, std::uint32_t n, bulwark::backoff_rng& rng) {
    std::vector<duration> out;
    duration prev{};
    for (std::uint32_t i = 1; i <= n; ++i) {
        prev = b.next_delay(i, prev, rng);
        out.push_back(prev);
    }
    return out;
}

} // namespace

TEST_CASE("backoffs without jitter follow their formulas", "[policy][backoff]") {
    bulwark::backoff_rng rng;
    CHECK(schedule(bulwark::constant_backoff{.delay = 5ms}, 3, rng) ==
          std::vector<duration>{5ms, 5ms, 5ms});
    CHECK(schedule(bulwark::linear_backoff{.base = 10ms, .step = 5ms, .cap = 22ms}, 4, rng) ==
          std::vector<duration>{10ms, 15ms, 20ms, 22ms});
    CHECK(schedule(
              bulwark::exponential_backoff{
                  .base = 10ms, .multiplier = 2, .cap = 50ms, .jitter = bulwark::no_jitter},
              4, rng) == std::vector<duration>{10ms, 20ms, 40ms, 50ms});
    // gRPC A6 connection-backoff style multiplier.
    CHECK(bulwark::exponential_backoff{.base = 1s, .multiplier = 1.6, .cap = 120s}.raw_delay(3) ==
          2560ms);
}

TEST_CASE("backoffs saturate at the cap instead of overflowing", "[policy][backoff]") {
    bulwark::exponential_backoff e{.base = 1ms, .cap = 30s, .jitter = bulwark::no_jitter};
    CHECK(e.raw_delay(64) == 30s);
    CHECK(e.raw_delay(100'000) == 30s);
    bulwark::linear_backoff l{.base = 1ms, .step = 1h, .cap = 2h};
    CHECK(l.raw_delay(4'000'000'000u) == 2h);
    bulwark::decorrelated_backoff d{.base = 1ms, .cap = 1s};
    bulwark::backoff_rng rng;
    auto s = schedule(d, 200, rng);
    CHECK(*std::max_element(s.begin(), s.end()) <= 1s);
}

TEST_CASE("each jitter stays within its documented bounds over 10 000 samples",
          "[policy][backoff][jitter]") {
    bulwark::backoff_rng rng{12345};
    const duration base = 10ms, cap = 1s;
    for (std::uint32_t n : {1u, 3u, 7u, 12u}) {
        const duration r = bulwark::exponential_backoff{.base = base, .cap = cap}.raw_delay(n);
        INFO("retry " << n << ", raw " << r.count() << " ns");

        { // full: U[0, r]
            bulwark::exponential_backoff b{
                .base = base, .cap = cap, .jitter = bulwark::full_jitter};
            duration lo = duration::max(), hi = duration::min();
            double sum = 0;
            for (int i = 0; i < samples; ++i) {
                duration d = b.next_delay(n, {}, rng);
                REQUIRE(d >= 0ns);
                REQUIRE(d <= r);
                lo = std::min(lo, d);
                hi = std::max(hi, d);
                sum += static_cast<double>(d.count());
            }
            CHECK(lo < r / 20); // it really spreads over the whole range
            CHECK(hi > r - r / 20);
            CHECK(sum / samples == Approx(static_cast<double>(r.count()) / 2).epsilon(0.05));
        }
        { // equal: r/2 + U[0, r/2]
            bulwark::exponential_backoff b{
                .base = base, .cap = cap, .jitter = bulwark::equal_jitter};
            duration lo = duration::max(), hi = duration::min();
            for (int i = 0; i < samples; ++i) {
                duration d = b.next_delay(n, {}, rng);
                REQUIRE(d >= r / 2);
                REQUIRE(d <= r);
                lo = std::min(lo, d);
                hi = std::max(hi, d);
            }
            CHECK(lo < r / 2 + r / 40);
            CHECK(hi > r - r / 40);
        }
        { // grpc: r * U[0.8, 1.2], may pass the cap by 20 % as A6 does
            bulwark::exponential_backoff b{
                .base = base, .cap = cap, .jitter = bulwark::grpc_jitter};
            for (int i = 0; i < samples; ++i) {
                duration d = b.next_delay(n, {}, rng);
                REQUIRE(d >= r - r / 5);
                REQUIRE(d <= r + r / 5);
            }
        }
        { // decorrelated: U[base, min(cap, 3 * previous)]
            bulwark::exponential_backoff b{
                .base = base, .cap = cap, .jitter = bulwark::decorrelated_jitter};
            duration prev{};
            for (int i = 0; i < samples; ++i) {
                duration d = b.next_delay(n, prev, rng);
                REQUIRE(d >= base);
                REQUIRE(d <= cap);
                REQUIRE(d <= 3 * (prev == 0ns ? base : prev));
                prev = (i % 50 == 0) ? duration{} : d; // restart now and then, as a new call does
            }
        }
    }
}

TEST_CASE("decorrelated_backoff matches decorrelated jitter and grows towards the cap",
          "[policy][backoff][jitter]") {
    bulwark::decorrelated_backoff d{.base = 10ms, .cap = 500ms};
    bulwark::backoff_rng rng{7};
    duration prev{};
    duration top{};
    for (int i = 0; i < samples; ++i) {
        duration x = d.next_delay(1, prev, rng);
        REQUIRE(x >= 10ms);
        REQUIRE(x <= std::min<duration>(500ms, 3 * (prev == 0ns ? 10ms : prev)));
        top = std::max(top, x);
        prev = x;
    }
    CHECK(top > 400ms);
}

TEST_CASE("jitter on constant and linear backoffs keeps their bounds",
          "[policy][backoff][jitter]") {
    bulwark::backoff_rng rng{99};
    bulwark::constant_backoff c{.delay = 100ms, .jitter = bulwark::grpc_jitter};
    bulwark::linear_backoff l{
        .base = 10ms, .step = 10ms, .cap = 100ms, .jitter = bulwark::full_jitter};
    for (int i = 0; i < samples; ++i) {
        duration a = c.next_delay(1, {}, rng);
        REQUIRE(a >= 80ms);
        REQUIRE(a <= 120ms);
        duration b = l.next_delay(4, {}, rng);
        REQUIRE(b >= 0ms);
        REQUIRE(b <= 40ms);
    }
}

TEST_CASE("any_backoff holds any built-in kind", "[policy][backoff]") {
    bulwark::backoff_rng a{1}, b{1};
    bulwark::linear_backoff l{.base = 1ms, .step = 2ms, .cap = 1s, .jitter = bulwark::equal_jitter};
    bulwark::any_backoff any = l;
    for (std::uint32_t n = 1; n < 20; ++n)
        CHECK(any.next_delay(n, {}, a) == l.next_delay(n, {}, b));
    CHECK(any.get_if<bulwark::linear_backoff>() != nullptr);
    CHECK(bulwark::any_backoff{}.get_if<bulwark::exponential_backoff>() != nullptr);
}

TEST_CASE("bad backoff settings are rejected at construction", "[policy][backoff]") {
    using Catch::Contains;
    CHECK_THROWS_AS((bulwark::constant_backoff{.delay = -1ms}), bulwark::invalid_argument_error);
    CHECK_THROWS_WITH((bulwark::constant_backoff{.delay = -1ms}),
                      Contains("constant_backoff") && Contains("delay must be >= 0"));
    CHECK_THROWS_WITH(
        (bulwark::constant_backoff{.delay = 1ms, .jitter = bulwark::decorrelated_jitter}),
        Contains("decorrelated jitter"));
    CHECK_THROWS_WITH((bulwark::linear_backoff{.base = 1ms, .step = -1ms}),
                      Contains("linear_backoff: step must be >= 0 (got -1000000ns)"));
    CHECK_THROWS_WITH((bulwark::linear_backoff{.base = 2s, .cap = 1s}),
                      Contains("linear_backoff: cap must be >= base (got 1000000000ns)"));
    CHECK_THROWS_WITH((bulwark::exponential_backoff{.base = -5ms}),
                      Contains("exponential_backoff: base must be >= 0 (got -5000000ns)"));
    CHECK_THROWS_WITH((bulwark::exponential_backoff{.multiplier = 0.5}),
                      Contains("multiplier must be >= 1 and finite (got 0.5)"));
    CHECK_THROWS_WITH((bulwark::exponential_backoff{.base = 1s, .cap = 10ms}),
                      Contains("cap must be >= base"));
    CHECK_THROWS_WITH((bulwark::decorrelated_backoff{.base = 0ms}),
                      Contains("decorrelated_backoff: base must be > 0"));
    CHECK_NOTHROW((bulwark::exponential_backoff{.base = 0ms, .cap = 0ms}));
}

TEST_CASE("the backoff concept accepts user backoffs", "[policy][backoff]") {
    struct square {
        duration next_delay(std::uint32_t n, duration, bulwark::backoff_rng&) const {
            return std::chrono::milliseconds{n * n};
        }
    };
    STATIC_REQUIRE(bulwark::backoff<square>);
    STATIC_REQUIRE_FALSE(bulwark::backoff<int>);
}
