// The HTTP transport behind the full pipeline, against three of our own servers on loopback:
// one healthy, one failing (503), one slow. Calls route around the failing and the slow one,
// their breakers open and half-open, the slow one's sockets are cancelled by the per-attempt
// timeout, no call hangs, and no connection is left open at the end.

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/transport/http.hpp>

#include "support/http_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <thread>

using namespace std::chrono_literals;
using bulwark::test::http_server;
using bulwark::test::reply;
using bulwark::test::request_info;

namespace {
// Waits (real time, bounded) until a server-side count reaches a value: server threads notice a
// closed socket on their own schedule. Never a timing assertion: the bound only stops a hang.
template <class F>
bool eventually(F f) {
    for (int i = 0; i < 1000; ++i) {
        if (f())
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return f();
}
} // namespace

TEST_CASE("http pipeline: calls route around a failing and a slow server; breakers open, "
          "half-open and close; nothing hangs or leaks",
          "[transport][http][pipeline]") {
    http_server good([](const request_info&) { return reply::ok("good"); });
    http_server failing([](const request_info&) { return reply::status_of(503); });
    http_server slow([](const request_info&) { return reply::slow(30s, "slow"); });

    bulwark::registry reg{
        {.address = good.address()}, {.address = failing.address()}, {.address = slow.address()}};
    bulwark::manual_clock breaker_time; // open -> half-open is driven by hand, not by sleeping
    bulwark::breaker_set<std::string> breakers{
        {.consecutive_failures = 2, .open_for = 30s, .half_open_calls = 1, .clock = breaker_time}};
    bulwark::http_transport http;
    auto client = bulwark::pipeline{
        bulwark::timeout{.total = 10s},
        bulwark::retry{.max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 0ms}},
        bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{reg, breakers},
        bulwark::timeout{.per_attempt = 300ms},
    };
    std::map<std::string, int> served;
    auto get = [&](bulwark::context& ctx) {
        ++served[ctx.endpoint()->address()];
        return http.send({.target = "/users/7"}, ctx);
    };

    int ok = 0;
    for (int i = 0; i < 40; ++i) {
        auto res = client.try_execute(get);
        if (res.has_value() && res->body == "good")
            ++ok;
    }
    CHECK(ok == 40); // every call succeeded: retries went to another endpoint
    CHECK(breakers[failing.address()].state() == bulwark::breaker_state::open);
    CHECK(breakers[good.address()].state() == bulwark::breaker_state::closed);
    // The failing one was tried until its breaker opened; the slow one was tried, its request
    // cut by the per-attempt timeout (the server saw the socket close while it waited), and
    // from then on peak-EWMA P2C passes it over (or its breaker does, after two timeouts).
    CHECK(served[failing.address()] >= 2);
    CHECK(served[slow.address()] >= 1);
    CHECK(slow.requests() >= 1);
    CHECK(eventually([&] { return slow.abandoned() == slow.requests(); }));
    const auto tried_failing = failing.requests();

    // The failing server recovers; once open_for has passed, its breaker lets a trial call
    // through (half-open), which succeeds and closes it.
    failing.set_handler([](const request_info&) { return reply::ok("recovered"); });
    breaker_time.advance(30s);
    int recovered = 0;
    for (int i = 0;
         i < 200 && breakers[failing.address()].state() != bulwark::breaker_state::closed; ++i) {
        auto res = client.try_execute(get);
        recovered += res.has_value() ? 1 : 0;
    }
    CHECK(breakers[failing.address()].state() == bulwark::breaker_state::closed);
    CHECK(failing.requests() > tried_failing);
    CHECK(recovered > 0);

    // No leak: every pooled connection is idle, and closing them leaves no socket open on any
    // server (accepted == closed).
    CHECK(http.open_connections() == http.idle_connections());
    http.close_idle(true);
    CHECK(http.open_connections() == 0);
    CHECK(eventually([&] { return good.open() == 0 && failing.open() == 0 && slow.open() == 0; }));
}

TEST_CASE("http pipeline: retry waits at least the server's Retry-After",
          "[transport][http][pipeline]") {
    http_server srv([](const request_info& r) {
        return r.index == 0 ? reply::status_of(503, "2") : reply::ok("after");
    });
    bulwark::manual_clock clock; // sync sleeps advance it and are recorded
    bulwark::http_transport http;
    auto client = bulwark::pipeline{bulwark::retry{
        .max_attempts = 2, .backoff = bulwark::constant_backoff{.delay = 1ms}, .clock = clock}};
    const std::string address = srv.address();
    auto res =
        client.try_execute([&](bulwark::context& ctx) { return http.send(address, {}, ctx); });
    REQUIRE(res.has_value());
    CHECK(res->body == "after");
    const auto sleeps = clock.sleeps();
    REQUIRE(sleeps.size() == 1);
    CHECK(sleeps[0] >= 2s);
}

TEST_CASE("http pipeline: coroutine calls through the pipeline",
          "[transport][http][pipeline][async]") {
    http_server a([](const request_info&) { return reply::ok("a"); });
    http_server b([](const request_info&) { return reply::with(reply::fault::reset); });
    bulwark::registry reg{{.address = a.address()}, {.address = b.address()}};
    bulwark::http_transport http;
    auto client = bulwark::pipeline{
        bulwark::retry{.max_attempts = 2, .backoff = bulwark::constant_backoff{.delay = 0ms}},
        bulwark::balance<bulwark::round_robin>{reg},
    };
    for (int i = 0; i < 6; ++i) {
        auto res = bulwark::sync_wait(client.async_execute(
            [&](bulwark::context& ctx) { return http.async_send({.target = "/"}, ctx); }));
        CHECK(res.body == "a");
    }
}
