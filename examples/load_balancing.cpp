// Client-side load balancing: a registry fed by a (pretend) discovery source, peak-EWMA P2C that
// steers away from a slow instance, outlier ejection of a failing one, retries that move to
// another endpoint, a hash-based balancer that keeps a user on one instance, and per-endpoint
// circuit breakers that pass over a failing instance without failing calls.
// Runs on a manual clock: simulated latencies, no sleeps.

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>
#include <bulwark/policy/retry.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;

/// A discovery source: anything with subscribe(callback) that pushes complete endpoint lists.
struct pretend_dns {
    bulwark::discovery_callback push;
    void subscribe(bulwark::discovery_callback cb) { push = std::move(cb); }
};

int main() {
    bulwark::manual_clock clock;
    bulwark::registry users(
        {.outlier = bulwark::outlier_options{.consecutive_failures = 3}, .clock = clock});
    pretend_dns dns;
    users.attach(dns);
    dns.push(std::vector<bulwark::endpoint_info>{{.address = "10.0.0.1:80", .zone = "a"},
                                                 {.address = "10.0.0.2:80", .zone = "a"},
                                                 {.address = "10.0.0.3:80", .zone = "b"},
                                                 {.address = "10.0.0.4:80", .zone = "b"}});
    std::printf("discovered %zu endpoints, %zu in zone b\n", users.size(),
                users.in_zone("b").size());

    // The simulated service: .2 is slow, .4 refuses connections.
    std::map<std::string, int> served;
    auto get_user = [&](bulwark::context& ctx) -> bulwark::outcome<std::string> {
        const std::string& addr = ctx.endpoint()->address();
        ++served[addr];
        clock.advance(addr == "10.0.0.2:80" ? 120ms : 8ms);
        if (addr == "10.0.0.4:80")
            return bulwark::errc::transport_error;
        return "user-7 from " + addr;
    };

    auto client = bulwark::pipeline{
        bulwark::retry{.max_attempts = 3, .clock = clock},
        bulwark::balance<bulwark::p2c_peak_ewma>{users},
    };
    int failed = 0;
    for (int i = 0; i < 1000; ++i)
        failed += client.try_execute(get_user).has_value() ? 0 : 1;
    std::printf("1000 calls, %d failed after retries; attempts per endpoint:\n", failed);
    for (const auto& [addr, n] : served)
        std::printf("  %s  %4d%s\n", addr.c_str(), n,
                    users.find(addr)->ejected() ? "  (ejected: 3 failures in a row)" : "");

    // Sticky routing: Maglev sends one user's calls to one endpoint.
    auto sticky = bulwark::pipeline{bulwark::balance<bulwark::maglev>{users}};
    for (const char* user : {"alice", "bob", "alice"}) {
        bulwark::context ctx;
        ctx.set_hash_key(user);
        std::printf("%-5s -> %s\n", user, sticky.execute(get_user, ctx).c_str());
    }

    // Per-endpoint breakers (Finagle's FailureAccrual): .3 goes down; after 2 failures in a row
    // its breaker opens and its turns go to the others, so no further call fails.
    bulwark::registry orders{
        {.address = "10.0.1.1:80"}, {.address = "10.0.1.2:80"}, {.address = "10.0.1.3:80"}};
    bulwark::breaker_set<std::string> breakers{
        {.consecutive_failures = 2, .open_for = 10s, .clock = clock}};
    auto guarded =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::round_robin>{orders, breakers}};
    auto get_order = [](bulwark::context& ctx) -> bulwark::outcome<int> {
        if (ctx.endpoint()->address() == "10.0.1.3:80")
            return bulwark::errc::transport_error;
        return 42;
    };
    int order_failures = 0;
    for (int i = 0; i < 30; ++i)
        order_failures += guarded.try_execute(get_order).has_value() ? 0 : 1;
    std::printf("30 order calls, %d failed (before .3's breaker opened); .3 rejected %lld turns\n",
                order_failures, static_cast<long long>(breakers["10.0.1.3:80"].metrics().rejected));

    // P2C with breakers: .1's breaker is open and the slow .2 is listed right after it. The open
    // endpoint is invisible to P2C's choice (a pick that lands on it is replaced by P2C's pick
    // among the others), so .2 gets its P2C share (a handful of calls), wherever it is listed.
    bulwark::registry mixed(
        {{.address = "10.0.2.1:80"}, {.address = "10.0.2.2:80"}, {.address = "10.0.2.3:80"}},
        {.clock = clock});
    breakers["10.0.2.1:80"].trip();
    auto p2c =
        bulwark::pipeline{bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{mixed, breakers}};
    std::map<std::string, int> got;
    for (int i = 0; i < 1000; ++i) // about 1 s: .1's breaker stays open (10 s)
        ++got[p2c.execute([&](bulwark::context& ctx) {
            std::string a = ctx.endpoint()->address();
            clock.advance(a == "10.0.2.2:80" ? 50ms : 1ms); // .2 is slow
            return a;
        })];
    std::printf("p2c around an open endpoint: slow .2 served %d of 1000, open .1 %d\n",
                got["10.0.2.2:80"], got["10.0.2.1:80"]);

    // With nothing to pick from, the error says so (it is not an endpoint failure).
    dns.push({});
    auto none = client.try_execute(get_user);
    std::printf("empty registry: %s\n", none.error().error_code().message().c_str());
}
