// Numeric extremes of every balance setting: each gets a clear error (bulwark::detail::require's
// message) or a documented clamp — never an overflow, a huge allocation or a float-to-integer
// conversion out of range (issue 9, item 1: ring_hash ignored max_ring_size for one big weight).
#include <bulwark/balance/health.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/outlier.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

using namespace std::chrono_literals;
using bulwark::invalid_argument_error;

namespace {
constexpr std::uint32_t max_weight = std::numeric_limits<std::uint32_t>::max();
} // namespace

TEST_CASE("limits: ring_hash keeps the ring within max_ring_size when one weight alone exceeds it",
          "[balance][limits][ring_hash]") {
    // Regression: k = max(1, max_ring_size / total) never went below 1, so a weight of
    // UINT32_MAX asked for 4 G entries (64 GB).
    bulwark::registry reg{{.address = "big", .weight = max_weight},
                          {.address = "a", .weight = 1},
                          {.address = "b", .weight = 3}};
    const bulwark::ring_hash rh{{.min_ring_size = 64, .max_ring_size = 1024}};
    auto r = reg.read();
    const auto ring = rh.build(r.set());
    CHECK(ring.hashes.size() <= 1024);
    std::set<std::string> owners;
    for (const bulwark::endpoint* e : ring.owners)
        owners.insert(e->address());
    CHECK(owners == std::set<std::string>{"a", "b", "big"}); // everyone keeps >= 1 entry
    const auto counts = rh.entry_counts(r->ready());
    CHECK(counts[0] >= 1000); // shares still follow the weights
    CHECK(counts[1] == 1);
    CHECK(counts[2] == 1);

    SECTION("the default 8 M ring, every endpoint at the largest weight") {
        bulwark::registry heavy{{.address = "x", .weight = max_weight},
                                {.address = "y", .weight = max_weight}};
        auto h = heavy.read();
        const auto c = bulwark::ring_hash{}.entry_counts(h->ready());
        CHECK(c[0] + c[1] <= (8u << 20));
        CHECK(c[0] == c[1]);
    }
    SECTION("more endpoints than max_ring_size: one entry each") {
        bulwark::registry many(balance_test::endpoints(20));
        auto m = many.read();
        const auto c =
            bulwark::ring_hash{{.min_ring_size = 1, .max_ring_size = 8}}.entry_counts(m->ready());
        for (auto x : c)
            CHECK(x == 1);
    }
}

TEST_CASE("limits: ring_hash options", "[balance][limits][ring_hash]") {
    CHECK_THROWS_WITH(bulwark::ring_hash({.min_ring_size = 0}),
                      Catch::StartsWith("bulwark::ring_hash: min_ring_size must be >= 1 (got 0)"));
    CHECK_THROWS_WITH(
        bulwark::ring_hash({.min_ring_size = 10, .max_ring_size = 5}),
        Catch::StartsWith("bulwark::ring_hash: max_ring_size must be >= min_ring_size (got 5)"));
    CHECK_THROWS_WITH(
        bulwark::ring_hash({.max_ring_size = std::uint64_t{1} << 32}),
        Catch::StartsWith("bulwark::ring_hash: max_ring_size must be <= 2^31 (got 4294967296)"));
    CHECK_NOTHROW(bulwark::ring_hash({.max_ring_size = std::uint64_t{1} << 31}));
    CHECK_THROWS_AS(bulwark::ring_hash({.balance_factor = 0.5}), invalid_argument_error);
    CHECK_THROWS_AS(bulwark::ring_hash({.balance_factor = std::nan("")}), invalid_argument_error);
    CHECK_THROWS_AS(bulwark::ring_hash({.balance_factor = -1}), invalid_argument_error);

    // A huge (or infinite) factor saturates the capacity: as good as off, no UB in the cast.
    bulwark::registry reg(balance_test::endpoints(3));
    auto r = reg.read();
    for (double f : {1e300, std::numeric_limits<double>::infinity()}) {
        bulwark::ring_hash rh{{.balance_factor = f}};
        bulwark::context ctx;
        ctx.set_hash_key("k");
        CHECK(rh.pick(r.set(), ctx, {}) != nullptr);
    }
}

TEST_CASE("limits: maglev table size and extreme weights", "[balance][limits][maglev]") {
    CHECK_THROWS_WITH(
        bulwark::maglev({.table_size = 4}),
        Catch::StartsWith("bulwark::maglev: table_size must be a prime >= 3 (e.g. 65537) (got 4)"));
    CHECK_THROWS_AS(bulwark::maglev({.table_size = 2}), invalid_argument_error);
    CHECK_THROWS_WITH(bulwark::maglev({.table_size = 4294967291u}), // the largest 32-bit prime
                      Catch::StartsWith("bulwark::maglev: table_size must be <= 2^26 "
                                        "(67108864) (got 4294967291)"));
    bulwark::registry reg{{.address = "big", .weight = max_weight},
                          {.address = "small", .weight = 1}};
    bulwark::maglev m{{.table_size = 251}};
    auto r = reg.read();
    const auto t = m.build(r.set());
    REQUIRE(t.size() == 251);
    for (const bulwark::endpoint* e : t)
        CHECK(e != nullptr); // full; "small" (share 2^-32) may get no slot, as documented
}

TEST_CASE("limits: weighted_round_robin sequence length and extreme weights",
          "[balance][limits][wrr]") {
    CHECK_THROWS_WITH(
        bulwark::weighted_round_robin({.max_sequence = 0}),
        Catch::StartsWith(
            "bulwark::weighted_round_robin: max_sequence must be in [1, 2^24] (got 0)"));
    CHECK_THROWS_AS(bulwark::weighted_round_robin({.max_sequence = (1u << 24) + 1}),
                    invalid_argument_error);
    bulwark::registry reg{{.address = "big", .weight = max_weight},
                          {.address = "mid", .weight = max_weight - 1},
                          {.address = "small", .weight = 1}};
    auto r = reg.read();
    const auto seq = bulwark::weighted_round_robin::build(r.set(), 1000);
    CHECK(seq.size() <= 1001); // max_sequence, plus the entry every endpoint keeps
    std::set<std::string> seen;
    for (const bulwark::endpoint* e : seq)
        seen.insert(e->address());
    CHECK(seen.size() == 3);
}

TEST_CASE("limits: random with the largest weights", "[balance][limits][random]") {
    bulwark::registry reg{{.address = "big", .weight = max_weight},
                          {.address = "big2", .weight = max_weight},
                          {.address = "small", .weight = 1}};
    bulwark::random s;
    auto counts = balance_test::count_picks(reg, s, 2000);
    CHECK(counts["small"] == 0);
    CHECK(counts["big"] > 800);
    CHECK(counts["big2"] > 800);
}

TEST_CASE("limits: outlier ejection time saturates at max_ejection_time",
          "[balance][limits][outlier]") {
    const bulwark::outlier_detector d{{.base_ejection_time = std::chrono::hours{1000},
                                       .max_ejection_time = bulwark::duration::max()}};
    // 1000 h × 2^32 − 1 ejections overflows 64-bit nanoseconds: saturates instead.
    CHECK(d.ejection_length(max_weight) == bulwark::duration::max());
    CHECK(d.ejection_length(2) == std::chrono::hours{2000});
    const bulwark::outlier_detector e{{}};
    CHECK(e.ejection_length(3) == 90s);
    CHECK(e.ejection_length(max_weight) == 300s);

    CHECK_THROWS_WITH(
        bulwark::outlier_detector({.consecutive_failures = 0}),
        Catch::StartsWith("bulwark::outlier: consecutive_failures must be >= 1 (got 0)"));
    CHECK_THROWS_AS(bulwark::outlier_detector({.base_ejection_time = 0s}), invalid_argument_error);
    CHECK_THROWS_AS(bulwark::outlier_detector({.max_ejection_time = 1s}), invalid_argument_error);
    CHECK_THROWS_AS(bulwark::outlier_detector({.max_ejection_percent = std::nan("")}),
                    invalid_argument_error);
    CHECK_THROWS_AS(bulwark::outlier_detector({.max_ejection_percent = 100.5}),
                    invalid_argument_error);
    CHECK_THROWS_AS(bulwark::outlier_detector({.interval = -1s}), invalid_argument_error);
}

TEST_CASE("limits: registry settings, endpoint weights and the EWMA decay",
          "[balance][limits][registry]") {
    CHECK_THROWS_WITH(
        bulwark::registry({.panic_threshold = 1.5}),
        Catch::StartsWith("bulwark::registry: panic_threshold must be in [0, 1] (got 1.5)"));
    CHECK_THROWS_AS(bulwark::registry({.panic_threshold = std::nan("")}), invalid_argument_error);
    CHECK_THROWS_WITH(bulwark::registry({.ewma_decay = 0s}),
                      Catch::StartsWith("bulwark::registry: ewma_decay must be > 0 (got 0ns)"));
    CHECK_THROWS_AS(bulwark::registry({.outlier = bulwark::outlier_options{.interval = 0s}}),
                    invalid_argument_error);
    bulwark::registry reg;
    CHECK_THROWS_WITH(
        reg.update({{.address = "a", .weight = 0}}),
        Catch::StartsWith("bulwark::registry: the weight of 'a' must be >= 1 (got 0)"));
    CHECK_THROWS_AS(reg.update({{.address = ""}}), invalid_argument_error);
    CHECK_THROWS_AS(reg.update({{.address = "a"}, {.address = "a"}}), invalid_argument_error);
    CHECK(reg.size() == 0); // unchanged

    // The decay is exp(−Δt/τ) in floating point: any τ > 0 keeps the estimate finite.
    for (bulwark::duration tau : {bulwark::duration{1}, bulwark::duration::max()}) {
        bulwark::registry r{{{.address = "a"}}, {.ewma_decay = tau}};
        const auto e = r.find("a");
        e->observe_latency(1s, bulwark::time_point{10s}, tau);
        e->observe_latency(1ms, bulwark::time_point{100s}, tau);
        const double cost = e->peak_ewma_cost(bulwark::time_point{1000s}, tau);
        CHECK(std::isfinite(cost));
        CHECK(cost >= 0.0);
    }
}

TEST_CASE("limits: health check settings", "[balance][limits][health]") {
    using opts = bulwark::health_check_options;
    CHECK_THROWS_WITH(opts{.interval = 0s}.validate(),
                      Catch::StartsWith("bulwark::health_check: interval must be > 0 (got 0ns)"));
    CHECK_THROWS_AS(opts{.timeout = -1s}.validate(), invalid_argument_error);
    CHECK_THROWS_AS(opts{.healthy_threshold = 0}.validate(), invalid_argument_error);
    CHECK_THROWS_AS(opts{.unhealthy_threshold = 0}.validate(), invalid_argument_error);
    // The longest timeout is allowed: a probe's deadline saturates.
    CHECK_NOTHROW(
        opts{.interval = bulwark::duration::max(), .timeout = bulwark::duration::max()}.validate());
}
