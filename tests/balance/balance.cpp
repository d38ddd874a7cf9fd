#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include "balance/helpers.hpp"
#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace std::chrono_literals;
using balance_test::endpoints;

namespace {

/// A user retry policy: calls again (same context) while the outcome fails, up to n attempts.
struct retry_n {
    static constexpr auto kind = bulwark::policy_kind::retry;
    int n;
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        auto o = next(ctx);
        for (int i = 1; i < n && !o.has_value(); ++i) {
            ctx.set_attempt(ctx.attempt() + 1);
            o = next(ctx);
        }
        return o;
    }
};

} // namespace

TEST_CASE("balance picks an endpoint into the context and counts it outstanding",
          "[balance][policy]") {
    bulwark::registry reg(endpoints(3));
    auto client = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{reg}};
    static_assert(bulwark::async_policy<bulwark::balance<bulwark::round_robin>>);
    static_assert(bulwark::policy_kind_v<bulwark::balance<bulwark::p2c_peak_ewma>> ==
                  bulwark::policy_kind::balance);
    std::string seen;
    for (int i = 0; i < 3; ++i) {
        client.execute([&](bulwark::context& ctx) {
            REQUIRE(ctx.endpoint() != nullptr);
            CHECK(bulwark::balanced_endpoint(ctx)->outstanding() == 1);
            seen += ctx.endpoint()->address();
        });
    }
    CHECK(seen == "e0e1e2");
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}

// Stateless strategies and the default classifier take no space: the policy is one pointer.
static_assert(sizeof(bulwark::balance<bulwark::p2c_peak_ewma>) == sizeof(void*));
static_assert(std::is_nothrow_move_constructible_v<bulwark::balance<bulwark::round_robin>>);

TEST_CASE("balance fails with no_endpoint, distinct from an endpoint failure",
          "[balance][policy]") {
    bulwark::registry reg;
    auto client = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    int calls = 0;
    auto o = client.try_execute([&] { return ++calls; });
    REQUIRE(o.has_failure());
    CHECK(o.code() == bulwark::errc::no_endpoint);
    CHECK(calls == 0);
    try {
        client.execute([] { return 1; });
        FAIL("expected an exception");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::no_endpoint);
        CHECK(std::string(e.what()) == "no endpoint available");
    }
}

TEST_CASE("balance records latency and outcomes; failures eject outliers", "[balance][policy]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(
        endpoints(4),
        {.outlier = bulwark::outlier_options{.consecutive_failures = 3}, .clock = clock});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{reg}};
    // e0 always fails; the others take 5 ms.
    auto op = [&](bulwark::context& ctx) -> bulwark::outcome<int> {
        clock.advance(5ms);
        if (ctx.endpoint()->address() == "e0")
            return bulwark::errc::transport_error;
        return 1;
    };
    std::map<std::string, int> served;
    for (int i = 0; i < 40; ++i) {
        bulwark::context ctx;
        (void)client.try_execute(op, ctx);
        ++served[ctx.endpoint()->address()];
    }
    CHECK(served["e0"] == 3); // ejected after its third failure in a row
    CHECK(reg.find("e0")->ejected());
    CHECK(reg.find("e1")->latency_estimate(clock.now(), 10s) == Approx(5e6).epsilon(0.01));
    // 30 s later it is back in the rotation (checked by the policy on its next pick).
    clock.advance(30s);
    served.clear();
    for (int i = 0; i < 4; ++i) {
        bulwark::context ctx;
        (void)client.try_execute(op, ctx);
        ++served[ctx.endpoint()->address()];
    }
    CHECK(served["e0"] == 1);
}

TEST_CASE("an exception escaping the operation counts as a failure", "[balance][policy]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(1), {.clock = clock});
    bulwark::balance<bulwark::round_robin> lb{reg};
    bulwark::context ctx;
    auto throwing_next = [](bulwark::context&) -> bulwark::outcome<int> {
        throw std::runtime_error("x");
    };
    CHECK_THROWS(lb.execute(throwing_next, ctx));
    CHECK(reg.find("e0")->consecutive_failures() == 1);
    CHECK(reg.find("e0")->outstanding() == 0);
}

TEST_CASE("p2c_peak_ewma prefers the low-latency endpoint under a scripted latency profile",
          "[balance][policy][p2c]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(3), {.clock = clock});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    // e0: 5 ms, e1: 20 ms, e2: 80 ms — then, halfway, e0 turns slow (200 ms).
    std::map<std::string, bulwark::duration> latency{{"e0", 5ms}, {"e1", 20ms}, {"e2", 80ms}};
    std::map<std::string, int> served;
    auto op = [&](bulwark::context& ctx) {
        clock.advance(latency[ctx.endpoint()->address()]);
        ++served[ctx.endpoint()->address()];
    };
    for (int i = 0; i < 1000; ++i)
        client.execute(op);
    // P2C samples two of three: the best wins every pair it is in (2/3 of the picks), the
    // worst wins none once every endpoint has a history.
    CHECK(served["e0"] > 600);
    CHECK(served["e1"] > 250);
    CHECK(served["e2"] < 20);

    latency["e0"] = 200ms; // a peak: the estimate jumps at once (peak EWMA)
    served.clear();
    for (int i = 0; i < 1000; ++i)
        client.execute(op);
    CHECK(served["e1"] > 600);
    CHECK(served["e0"] < 20);
}

TEST_CASE("retries avoid endpoints already tried in the call", "[balance][policy][retry]") {
    bulwark::registry reg(endpoints(4));
    SECTION("random") {
        auto client = bulwark::pipeline{retry_n{4}, bulwark::balance<bulwark::random>{reg}};
        for (int round = 0; round < 50; ++round) {
            std::set<std::string> tried;
            bulwark::context ctx;
            auto o = client.try_execute(
                [&](bulwark::context& c) -> bulwark::outcome<int> {
                    tried.insert(c.endpoint()->address());
                    return bulwark::errc::transport_error;
                },
                ctx);
            CHECK(tried.size() == 4); // four attempts, four different endpoints
        }
    }
    SECTION("ring_hash keeps the key's fallback order") {
        auto client = bulwark::pipeline{retry_n{3}, bulwark::balance<bulwark::ring_hash>{reg}};
        std::vector<std::string> first, second;
        for (auto* out : {&first, &second}) {
            bulwark::context ctx;
            ctx.set_hash_key("user-7");
            (void)client.try_execute(
                [&](bulwark::context& c) -> bulwark::outcome<int> {
                    out->push_back(c.endpoint()->address());
                    return bulwark::errc::transport_error;
                },
                ctx);
        }
        CHECK(first == second);
        CHECK(std::set<std::string>(first.begin(), first.end()).size() == 3);
    }
    SECTION("when every endpoint was tried, it reuses one") {
        bulwark::registry two(endpoints(2));
        auto client = bulwark::pipeline{retry_n{5}, bulwark::balance<bulwark::round_robin>{two}};
        int calls = 0;
        (void)client.try_execute([&](bulwark::context&) -> bulwark::outcome<int> {
            ++calls;
            return bulwark::errc::transport_error;
        });
        CHECK(calls == 5);
    }
}

TEST_CASE("balance drives coroutines through async_execute", "[balance][policy][async]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(2), {.clock = clock});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{reg}};
    auto op = [&](bulwark::context& ctx) -> bulwark::task<std::string> {
        co_await clock.async_sleep_for(10ms, {});
        co_return ctx.endpoint()->address();
    };
    auto t = bulwark::spawn(client.async_execute(op));
    CHECK_FALSE(t.done());
    CHECK(reg.find("e0")->outstanding() == 1);
    clock.advance(10ms);
    REQUIRE(t.done());
    CHECK(t.get() == "e0");
    CHECK(reg.find("e0")->outstanding() == 0);
    CHECK(reg.find("e0")->latency_estimate(clock.now(), 10s) == Approx(10e6).epsilon(0.01));
}

TEST_CASE("the call path of balance allocates nothing", "[balance][policy][alloc]") {
    bulwark::registry reg(endpoints(16, {1, 2}));
    auto rr = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{reg}};
    auto p2c = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    auto mag = bulwark::pipeline{bulwark::balance<bulwark::maglev>{reg}};
    auto op = [](bulwark::context& ctx) { return ctx.endpoint()->weight(); };
    bulwark::context warm;
    warm.set_hash_key(1);
    (void)mag.execute(op, warm); // builds the Maglev table for this snapshot
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i) {
        (void)rr.execute(op);
        (void)p2c.execute(op);
        bulwark::context ctx;
        ctx.set_hash_key(static_cast<std::uint64_t>(i));
        (void)mag.execute(op, ctx);
    }
    CHECK(scope.count() == 0);
}

TEST_CASE("balance with a user strategy", "[balance][policy][strategy]") {
    struct last_ready {
        const bulwark::endpoint* pick(const bulwark::endpoint_set& set, const bulwark::context&,
                                      bulwark::time_point) noexcept {
            return set.ready().empty() ? nullptr : set.ready().back();
        }
    };
    static_assert(bulwark::balancing_strategy<last_ready>);
    static_assert(!bulwark::balancing_strategy<int>);
    bulwark::registry reg(endpoints(3));
    auto client = bulwark::pipeline{bulwark::balance<last_ready>{reg}};
    CHECK(client.execute([](bulwark::context& ctx) { return ctx.endpoint()->address(); }) == "e2");
}

TEST_CASE("bulwark::retry outside balance moves each attempt to a new endpoint",
          "[balance][policy][retry]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(3), {.clock = clock});
    auto client = bulwark::pipeline{
        bulwark::retry{
            .max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 10ms}, .clock = clock},
        bulwark::balance<bulwark::p2c_peak_ewma>{reg},
    };
    std::vector<std::string> tried;
    auto o = client.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
        tried.push_back(ctx.endpoint()->address());
        if (tried.size() < 3)
            return bulwark::errc::transport_error;
        return 7;
    });
    REQUIRE(o.has_value());
    CHECK(*o == 7);
    CHECK(std::set<std::string>(tried.begin(), tried.end()).size() == 3);
}
