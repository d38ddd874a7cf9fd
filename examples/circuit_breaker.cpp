// A circuit breaker in front of a flaky dependency: it opens when half of the last 10 calls
// fail, rejects calls without running them (errc::circuit_open + retry_after), lets 3 trial
// calls through after the open time, and closes again when they succeed. A breaker_set keeps
// one breaker per endpoint. Time is a manual clock, so the tour runs instantly.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/circuit_breaker.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

using namespace std::chrono_literals;

namespace {

const char* name(bulwark::breaker_state s) {
    switch (s) {
    case bulwark::breaker_state::closed:
        return "closed";
    case bulwark::breaker_state::open:
        return "open";
    case bulwark::breaker_state::half_open:
        return "half-open";
    case bulwark::breaker_state::forced_open:
        return "forced-open";
    case bulwark::breaker_state::disabled:
        return "disabled";
    case bulwark::breaker_state::metrics_only:
        return "metrics-only";
    }
    return "?";
}

struct print_listener {
    void on_state_change(bulwark::breaker_state from, bulwark::breaker_state to) const {
        std::printf("  breaker: %s -> %s\n", name(from), name(to));
    }
};

} // namespace

int main() {
    bulwark::manual_clock clock;
    bulwark::basic_circuit_breaker breaker{{.window = bulwark::count_window{10},
                                            .failure_rate = 0.5,
                                            .minimum_calls = 10,
                                            .open_for = 30s,
                                            .half_open_calls = 3,
                                            .clock = clock},
                                           bulwark::default_classifier{},
                                           print_listener{}};
    auto client = bulwark::pipeline{std::ref(breaker)};

    bool healthy = true;
    int served = 0;
    auto call = [&]() -> bulwark::outcome<int> {
        ++served;
        if (!healthy)
            return bulwark::errc::transport_error;
        return 200;
    };

    std::printf("10 good calls, then the dependency goes down:\n");
    for (int i = 0; i < 10; ++i)
        (void)client.try_execute(call);
    healthy = false;
    int i = 0;
    while (breaker.state() == bulwark::breaker_state::closed) {
        (void)client.try_execute(call);
        ++i;
    }
    std::printf("  opened after %d failures (failure rate %.0f %%)\n", i,
                breaker.metrics().failure_rate() * 100);

    auto rejected = client.try_execute(call);
    std::printf(
        "while open: %s, retry after %lld s, dependency untouched (%d calls served)\n",
        rejected.error().error_code().message().c_str(),
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::seconds>(rejected.error().retry_after).count()),
        served);

    std::printf("30 s later the dependency is back; 3 trial calls close the breaker:\n");
    clock.advance(30s);
    healthy = true;
    for (int t = 0; t < 3; ++t)
        (void)client.try_execute(call);

    std::printf("one breaker per endpoint:\n");
    bulwark::breaker_set<std::string> per_endpoint{
        {.consecutive_failures = 3, .open_for = 10s, .clock = clock}};
    auto down = []() -> bulwark::outcome<int> { return bulwark::errc::transport_error; };
    for (int t = 0; t < 3; ++t)
        (void)bulwark::pipeline{std::ref(per_endpoint["10.0.0.1:80"])}.try_execute(down);
    per_endpoint.for_each([](const std::string& ep, bulwark::circuit_breaker& b) {
        std::printf("  %s: %s\n", ep.c_str(), name(b.state()));
    });
    std::printf("  10.0.0.2:80: %s\n", name(per_endpoint["10.0.0.2:80"].state()));
}
