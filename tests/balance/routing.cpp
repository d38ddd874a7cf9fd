// Re-picks are the strategy's own choice: an endpoint whose breaker is open is invisible to the
// strategy (P2C cannot be drawn to it by its idle-looking cost), and a retry's re-pick among the
// untried endpoints follows the strategy, never list order. Found as a new user: with
// per-endpoint breakers and p2c_peak_ewma, a slow endpoint listed second took 17-19 % of the
// traffic (the rejected pick fell back to the first untried endpoint in registry order).
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/least_outstanding.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Sends `calls` calls through p2c with per-endpoint breakers over `order` (addresses "down",
// "slow", "fast"); "down"'s breaker is open for the whole run. Each call takes its endpoint's
// latency on the manual clock. Returns the share of calls each endpoint served.
std::map<std::string, double> p2c_shares(const std::vector<std::string>& order, int calls) {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{
        bulwark::circuit_breaker_options{.consecutive_failures = 2,
                                         .open_for = std::chrono::hours{1},
                                         .max_open_for = std::chrono::hours{1},
                                         .clock = clock}};
    std::vector<bulwark::endpoint_info> infos;
    for (const auto& a : order)
        infos.push_back({.address = a});
    bulwark::registry reg(infos, {.clock = clock});
    breakers["down"].trip();
    auto client =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{reg, breakers}};
    std::map<std::string, int> served;
    for (int i = 0; i < calls; ++i) {
        auto o = client.try_execute([&](bulwark::context& ctx) {
            const std::string& a = ctx.endpoint()->address();
            clock.advance(a == "slow" ? 50ms : 1ms);
            return a;
        });
        REQUIRE(o.has_value());
        ++served[*o];
    }
    std::map<std::string, double> share;
    for (const auto& [a, n] : served)
        share[a] = static_cast<double>(n) / calls;
    return share;
}

} // namespace

TEST_CASE("routing: an open endpoint is invisible to p2c; the slow one's share does not depend "
          "on its position",
          "[balance][routing][breakers]") {
    constexpr int calls = 4000;
    auto second = p2c_shares({"down", "slow", "fast"}, calls);
    auto third = p2c_shares({"down", "fast", "slow"}, calls);
    std::printf("routing: slow endpoint's share, listed 2nd: %.2f %%, listed 3rd: %.2f %%\n",
                100 * second["slow"], 100 * third["slow"]);
    CHECK(second["down"] == 0.0);
    CHECK(third["down"] == 0.0);
    // P2C over {slow, fast} sends the slow one only the first calls (before it has a latency
    // history) and the pairs where both look alike: about 1 %, not the 17-19 % of list order.
    CHECK(second["slow"] < 0.03);
    CHECK(third["slow"] < 0.03);
    CHECK(std::abs(second["slow"] - third["slow"]) < 0.015);
}

namespace {

// How `Strategy` re-picks for a retry: `tried` endpoints of `order` were tried already; returns
// the share of each endpoint over `n` re-picks.
template <class Strategy>
std::map<std::string, double> retry_shares(const std::vector<std::string>& order,
                                           const std::vector<std::string>& tried, int n,
                                           bool slow_latency = false) {
    bulwark::manual_clock clock;
    clock.advance(100s);
    std::vector<bulwark::endpoint_info> infos;
    for (const auto& a : order)
        infos.push_back({.address = a});
    bulwark::registry reg(infos, {.clock = clock});
    if (slow_latency)
        for (const auto& e : reg.endpoints())
            e->observe_latency(e->address() == "slow" ? 100ms : 1ms, clock.now(), 10s);
    bulwark::balance<Strategy> lb{reg};
    std::map<std::string, int> picked;
    for (int i = 0; i < n; ++i) {
        bulwark::context ctx;
        for (const auto& a : tried)
            ctx.set_endpoint(reg.find(a).get());
        const bulwark::endpoint* e = lb.begin(ctx, clock.now());
        REQUIRE(e != nullptr);
        ++picked[e->address()];
        e->end_request();
    }
    std::map<std::string, double> share;
    for (const auto& [a, c] : picked)
        share[a] = static_cast<double>(c) / n;
    return share;
}

} // namespace

TEST_CASE("routing: a retry's re-pick is p2c's choice among the untried, not list order",
          "[balance][routing][retry]") {
    constexpr int n = 4000;
    auto second =
        retry_shares<bulwark::p2c_peak_ewma>({"fast0", "slow", "fast2"}, {"fast0"}, n, true);
    auto third =
        retry_shares<bulwark::p2c_peak_ewma>({"fast0", "fast2", "slow"}, {"fast0"}, n, true);
    std::printf("routing: retry re-pick to the slow endpoint, listed 2nd: %.2f %%, 3rd: %.2f %%\n",
                100 * second["slow"], 100 * third["slow"]);
    CHECK(second["fast0"] == 0.0);
    // Among {slow, fast2}, p2c always takes the faster one.
    CHECK(second["slow"] == 0.0);
    CHECK(third["slow"] == 0.0);
}

TEST_CASE("routing: a retry's re-pick goes on in round robin's rotation over the untried",
          "[balance][routing][retry]") {
    constexpr int n = 3000;
    const std::vector<std::string> order{"e0", "e1", "e2", "e3", "e4", "e5"};
    SECTION("round_robin") {
        auto share = retry_shares<bulwark::round_robin>(order, {"e0", "e1", "e2"}, n);
        // Each untried one a third: the endpoint after the tried run does not take the
        // re-picks that list order (or a scan from the cursor) would hand it.
        for (const char* a : {"e3", "e4", "e5"})
            CHECK(share[a] == Approx(1.0 / 3).margin(0.01));
        CHECK(share["e0"] + share["e1"] + share["e2"] == 0.0);
    }
    SECTION("weighted_round_robin") {
        auto share = retry_shares<bulwark::weighted_round_robin>(order, {"e0", "e1", "e2"}, n);
        for (const char* a : {"e3", "e4", "e5"})
            CHECK(share[a] == Approx(1.0 / 3).margin(0.01));
    }
    SECTION("random") {
        auto share = retry_shares<bulwark::random>(order, {"e0", "e1", "e2"}, 30000);
        for (const char* a : {"e3", "e4", "e5"})
            CHECK(share[a] == Approx(1.0 / 3).margin(0.02));
    }
}

TEST_CASE("routing: every strategy returns null when the exclusion rules out every endpoint",
          "[balance][routing]") {
    bulwark::registry reg(balance_test::endpoints(3));
    auto r = reg.read();
    bulwark::context ctx;
    bulwark::exclusion all;
    for (const bulwark::endpoint* e : r->ready())
        REQUIRE(all.rule_out(e));
    bulwark::exclusion none;
    auto check = [&](auto strategy) {
        CHECK(strategy.pick(r.set(), ctx, {}, all) == nullptr);
        CHECK(strategy.pick(r.set(), ctx, {}, none) != nullptr);
    };
    check(bulwark::round_robin{});
    check(bulwark::weighted_round_robin{});
    check(bulwark::random{});
    check(bulwark::p2c_peak_ewma{});
    check(bulwark::least_outstanding{});
    check(bulwark::ring_hash{});
    check(bulwark::maglev{});
}

namespace {

// A user strategy that knows nothing of exclusions: always the first ready endpoint.
struct first_ready {
    const bulwark::endpoint* pick(const bulwark::endpoint_set& set, const bulwark::context&,
                                  bulwark::time_point) noexcept {
        return set.ready().empty() ? nullptr : set.ready().front();
    }
};
static_assert(!bulwark::excluding_strategy<first_ready>);

} // namespace

TEST_CASE("routing: a user strategy without exclusions picks over a filtered snapshot",
          "[balance][routing][breakers]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{
        bulwark::circuit_breaker_options{.open_for = 10s, .clock = clock}};
    bulwark::registry reg(balance_test::endpoints(3), {.clock = clock});
    breakers["e0"].trip();
    breakers["e1"].trip();
    auto client =
        bulwark::pipeline{bulwark::balance<first_ready, bulwark::default_classifier,
                                           bulwark::breaker_set<std::string>>{reg, breakers}};
    for (int i = 0; i < 10; ++i)
        CHECK(client.execute([](bulwark::context& c) { return c.endpoint()->address(); }) == "e2");
    // A retry (e2 tried) goes back to e2: every other one is ruled out.
    bulwark::context ctx;
    ctx.set_endpoint(reg.find("e2").get());
    CHECK(client.execute([](bulwark::context& c) { return c.endpoint()->address(); }, ctx) == "e2");
}
