// Per-endpoint circuit breakers in the balance policy (Finagle FailureAccrual, Polly per-authority
// breakers): an open endpoint is passed over, the call goes to another one.
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>

#include "balance/helpers.hpp"
#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using balance_test::endpoints;

namespace {

bulwark::circuit_breaker_options two_in_a_row(bulwark::manual_clock& clock) {
    return {.consecutive_failures = 2, .open_for = 10s, .half_open_calls = 1, .clock = clock};
}

} // namespace

// Unused, the breakers cost nothing: the default policy is still one pointer.
static_assert(sizeof(bulwark::balance<bulwark::p2c_peak_ewma>) == sizeof(void*));
static_assert(std::is_same_v<bulwark::balance_with_breakers<bulwark::round_robin>,
                             bulwark::balance<bulwark::round_robin, bulwark::default_classifier,
                                              bulwark::breaker_set<std::string>>>);
static_assert(bulwark::async_policy<bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>>);
static_assert(
    std::is_nothrow_move_constructible_v<bulwark::balance_with_breakers<bulwark::random>>);

TEST_CASE("breakers: a failing endpoint's breaker opens and calls flow to the others",
          "[balance][breakers]") {
    bulwark::manual_clock clock;
    bulwark::registry reg(endpoints(3), {.clock = clock});
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::balance lb{reg, breakers, bulwark::round_robin{}}; // CTAD
    static_assert(
        std::is_same_v<decltype(lb), bulwark::balance_with_breakers<bulwark::round_robin>>);
    auto client = bulwark::pipeline{std::ref(lb)};
    bool e0_down = true;
    std::map<std::string, int> served;
    auto op = [&](bulwark::context& ctx) -> bulwark::outcome<int> {
        ++served[ctx.endpoint()->address()];
        if (e0_down && ctx.endpoint()->address() == "e0")
            return bulwark::errc::transport_error;
        return 1;
    };
    int failed = 0;
    for (int i = 0; i < 6; ++i) // two rounds: e0 fails twice, its breaker opens
        failed += client.try_execute(op).has_failure() ? 1 : 0;
    CHECK(failed == 2);
    CHECK(breakers["e0"].state() == bulwark::breaker_state::open);
    // The endpoint statistics saw the failures too (outlier detection input).
    CHECK(reg.find("e0")->consecutive_failures() == 2);

    served.clear();
    for (int i = 0; i < 30; ++i) {
        bulwark::context ctx;
        auto o = client.try_execute(op, ctx);
        REQUIRE(o.has_value()); // no failed call surfaces: e0's turns go to the others
        CHECK(ctx.endpoint()->address() != "e0");
    }
    CHECK(served.count("e0") == 0);
    // Round robin: e0's turn is re-picked to the next one, so e1 and e2 still share evenly.
    CHECK(served["e1"] == 15);
    CHECK(served["e2"] == 15);
    CHECK(breakers["e0"].metrics().rejected == 15);
    CHECK(reg.find("e0")->outstanding() == 0);

    SECTION("after open_for the half-open probe goes to it, and a success closes it") {
        e0_down = false;
        clock.advance(10s);
        served.clear();
        for (int i = 0; i < 3; ++i)
            REQUIRE(client.try_execute(op).has_value());
        CHECK(served["e0"] == 1); // the probe
        CHECK(breakers["e0"].state() == bulwark::breaker_state::closed);
        CHECK(reg.find("e0")->consecutive_failures() == 0);
    }
    SECTION("a failed probe opens it again, still without failing the calls of the others") {
        clock.advance(10s);
        served.clear();
        failed = 0;
        for (int i = 0; i < 6; ++i)
            failed += client.try_execute(op).has_failure() ? 1 : 0;
        CHECK(served["e0"] == 1);
        CHECK(failed == 1); // the probe itself
        CHECK(breakers["e0"].state() == bulwark::breaker_state::open);
    }
    SECTION("a breaker is keyed by address: it survives a registry update") {
        reg.update(endpoints(4));
        served.clear();
        for (int i = 0; i < 20; ++i)
            REQUIRE(client.try_execute(op).has_value());
        CHECK(served.count("e0") == 0);
        CHECK(served["e3"] > 0);
    }
}

TEST_CASE("breakers: when every breaker rejects, the call fails with circuit_open",
          "[balance][breakers]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::registry reg(endpoints(3), {.clock = clock});
    bulwark::balance_with_breakers<bulwark::p2c_peak_ewma> lb{reg, breakers};
    auto client = bulwark::pipeline{std::ref(lb)};
    breakers["e0"].trip();
    clock.advance(1s);
    breakers["e1"].trip();
    clock.advance(1s);
    breakers["e2"].trip();
    clock.advance(1s);
    int calls = 0;
    auto o = client.try_execute([&] { return ++calls; });
    REQUIRE(o.has_failure());
    CHECK(o.code() == bulwark::errc::circuit_open);
    CHECK(o.error().retry_after == 7s); // e0's, the smallest: it opened first
    CHECK(calls == 0);
    for (const char* a : {"e0", "e1", "e2"}) {
        CHECK(breakers[a].metrics().rejected == 1);
        CHECK(reg.find(a)->outstanding() == 0);
        CHECK(reg.find(a)->consecutive_failures() == 0); // a rejection is not an endpoint failure
    }
    try {
        client.execute([] { return 1; });
        FAIL("expected an exception");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::circuit_open);
    }
    // 7 s later e0 lets a probe through.
    clock.advance(7s);
    CHECK(client.try_execute([&] { return ++calls; }).has_value());
    CHECK(calls == 1);
    CHECK(breakers["e0"].state() == bulwark::breaker_state::closed);

    SECTION("no endpoint at all is still no_endpoint") {
        bulwark::registry empty;
        auto none = bulwark::pipeline{
            bulwark::balance_with_breakers<bulwark::round_robin>{empty, breakers}};
        CHECK(none.try_execute([] { return 1; }).code() == bulwark::errc::no_endpoint);
    }
}

TEST_CASE("breakers: more open endpoints than a context remembers, one closed",
          "[balance][breakers]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::registry reg(endpoints(20), {.clock = clock});
    for (int i = 0; i < 20; ++i)
        if (i != 13)
            breakers["e" + std::to_string(i)].trip();
    SECTION("random") {
        auto client =
            bulwark::pipeline{bulwark::balance_with_breakers<bulwark::random>{reg, breakers}};
        for (int i = 0; i < 50; ++i)
            CHECK(client.execute([](bulwark::context& c) { return c.endpoint()->address(); }) ==
                  "e13");
    }
    SECTION("round_robin") {
        auto client =
            bulwark::pipeline{bulwark::balance_with_breakers<bulwark::round_robin>{reg, breakers}};
        for (int i = 0; i < 50; ++i)
            CHECK(client.execute([](bulwark::context& c) { return c.endpoint()->address(); }) ==
                  "e13");
    }
}

TEST_CASE("breakers: ring_hash falls back along the ring while the key's endpoint is open",
          "[balance][breakers]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::registry reg(endpoints(5), {.clock = clock});
    auto client =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::ring_hash>{reg, breakers}};
    auto where = [&] {
        bulwark::context ctx;
        ctx.set_hash_key("user-7");
        return client.execute([](bulwark::context& c) { return c.endpoint()->address(); }, ctx);
    };
    const std::string home = where();
    breakers[home].trip();
    const std::string fallback = where();
    CHECK(fallback != home);
    CHECK(where() == fallback); // the fallback is stable too
    breakers[home].reset();
    CHECK(where() == home);
}

TEST_CASE("breakers: the call path allocates nothing once the breakers exist",
          "[balance][breakers][alloc]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::registry reg(endpoints(16), {.clock = clock});
    auto p2c =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{reg, breakers}};
    auto rr =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::round_robin>{reg, breakers}};
    auto op = [](bulwark::context& ctx) { return ctx.endpoint()->weight(); };
    (void)p2c.execute(op); // builds the breakers and this snapshot's tables (cold)
    (void)rr.execute(op);
    breakers["e3"].trip(); // and rejections allocate nothing either
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i) {
        (void)p2c.execute(op);
        (void)rr.execute(op);
    }
    CHECK(scope.count() == 0);
    CHECK(breakers["e3"].metrics().rejected > 0);
}

TEST_CASE("breakers: async_execute passes over open endpoints on the same logic",
          "[balance][breakers][async]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> breakers{two_in_a_row(clock)};
    bulwark::registry reg(endpoints(3), {.clock = clock});
    auto client =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::round_robin>{reg, breakers}};
    auto op = [&](bulwark::context& ctx) -> bulwark::task<std::string> {
        co_await clock.async_sleep_for(10ms, {});
        co_return ctx.endpoint()->address();
    };
    breakers["e0"].trip();
    auto t = bulwark::spawn(client.async_execute(op));
    CHECK_FALSE(t.done());
    CHECK(reg.find("e1")->outstanding() == 1);
    CHECK(reg.find("e0")->outstanding() == 0);
    clock.advance(10ms);
    REQUIRE(t.done());
    CHECK(t.get() == "e1");
    CHECK(reg.find("e1")->outstanding() == 0);

    breakers["e1"].trip();
    breakers["e2"].trip();
    bulwark::context actx;
    auto all_open = bulwark::spawn(client.async_try_execute(op, actx));
    REQUIRE(all_open.done());
    auto o = all_open.get();
    REQUIRE(o.has_failure());
    CHECK(o.code() == bulwark::errc::circuit_open);
    CHECK(o.error().retry_after == 10s - 10ms); // e0's: it opened 10 ms before the others
}

TEST_CASE("breakers: concurrent calls while breakers trip and the registry changes",
          "[balance][breakers][concurrency]") {
    bulwark::breaker_set<std::string> breakers{
        bulwark::circuit_breaker_options{.consecutive_failures = 3, .open_for = 1ms}};
    bulwark::registry reg(endpoints(4));
    bulwark::balance_with_breakers<bulwark::p2c_peak_ewma> lb{reg, breakers};
    auto client = bulwark::pipeline{std::ref(lb)};
    std::atomic<bool> stop{false};
    std::atomic<int> calls{0};
    std::atomic<int> odd{0};
    std::thread updater([&] {
        for (int i = 0; !stop.load(); ++i) // new snapshots: the breaker tables are rebuilt
            reg.update(endpoints(static_cast<std::size_t>(3 + i % 3)));
    });
    std::vector<std::thread> callers;
    for (int t = 0; t < 3; ++t)
        callers.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                auto o = client.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
                    calls.fetch_add(1, std::memory_order_relaxed);
                    if (ctx.endpoint()->address() == "e1")
                        return bulwark::errc::transport_error;
                    return 1;
                });
                if (o.has_failure() && o.code() != bulwark::errc::transport_error &&
                    o.code() != bulwark::errc::circuit_open)
                    odd.fetch_add(1, std::memory_order_relaxed); // no Catch2 asserts off-thread
            }
        });
    for (auto& c : callers)
        c.join();
    stop = true;
    updater.join();
    CHECK(calls.load() > 0);
    CHECK(odd.load() == 0);
    CHECK(breakers.size() >= 3);
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}
