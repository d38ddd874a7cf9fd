// A production-shaped client: three endpoints behind peak-EWMA P2C with a circuit breaker per
// endpoint, retries under a shared budget, a total and a per-attempt timeout, and a fallback
// value. Four threads make 10 000 calls on the real steady clock; the endpoints are simulated in
// this process (one healthy, one slow now and then, one that fails for a stretch and recovers).
// It prints where the calls went and every breaker transition it saw.
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker/breaker_set.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int threads = 4;
constexpr int calls_per_thread = 2500; // 10 000 calls

struct endpoint_stats {
    std::atomic<int> attempts{0};
    std::atomic<int> failures{0};
};

} // namespace

int main() {
    bulwark::registry service{{.address = "10.0.0.1:8080"},  // healthy
                              {.address = "10.0.0.2:8080"},  // slow now and then
                              {.address = "10.0.0.3:8080"}}; // down for a stretch
    bulwark::breaker_set<std::string> breakers{{.consecutive_failures = 5, .open_for = 200ms}};
    bulwark::retry_budget budget{.ratio = 0.2, .min_per_second = 50};

    auto client = bulwark::pipeline{
        bulwark::fallback{std::string{"cached"}},
        bulwark::total_timeout{500ms},
        bulwark::retry{.max_attempts = 3, .budget = budget},
        bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{service, breakers},
        bulwark::attempt_timeout{50ms},
    };

    std::map<std::string, endpoint_stats> stats;
    for (const char* a : {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"})
        stats[a];
    std::atomic<int> started{0};

    // The simulated service. .3 fails from call 2 000 to call 5 000 (of all threads), then
    // recovers; .2 takes 2 ms on one call in 50.
    auto call = [&](bulwark::context& ctx) -> bulwark::outcome<std::string> {
        const std::string& addr = ctx.endpoint()->address();
        auto& s = stats.at(addr);
        const int n = s.attempts.fetch_add(1) + 1;
        const int now = started.load();
        if (addr == "10.0.0.3:8080" && now >= 2000 && now < 5000) {
            s.failures.fetch_add(1);
            return bulwark::errc::transport_error;
        }
        if (addr == "10.0.0.2:8080" && n % 50 == 0)
            std::this_thread::sleep_for(2ms);
        return "ok from " + addr;
    };

    // Breaker transitions, as a watcher thread sees them (it samples every millisecond).
    std::mutex log_mutex;
    std::vector<std::string> transitions;
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        std::map<std::string, bulwark::breaker_state> last;
        while (!done.load()) {
            for (const auto& [addr, _] : stats) {
                auto* b = breakers.find(addr);
                if (b == nullptr)
                    continue;
                auto st = b->metrics().state;
                auto it = last.find(addr);
                if (it == last.end() || it->second != st) {
                    std::lock_guard lock(log_mutex);
                    transitions.push_back(
                        "  call ~" + std::to_string(started.load()) + ": " + addr + " " +
                        std::string(bulwark::to_string(
                            it == last.end() ? bulwark::breaker_state::closed : it->second)) +
                        " -> " + std::string(bulwark::to_string(st)));
                    last[addr] = st;
                }
            }
            std::this_thread::sleep_for(1ms);
        }
    });

    std::atomic<int> fallbacks{0};
    const auto t0 = std::chrono::steady_clock::now();
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&] {
                for (int i = 0; i < calls_per_thread; ++i) {
                    started.fetch_add(1);
                    if (client.execute(call) == "cached")
                        fallbacks.fetch_add(1);
                }
            });
    }
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    done = true;
    watcher.join();

    std::printf("%d calls on %d threads in %lld ms, %d answered by the fallback\n",
                threads * calls_per_thread, threads,
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
                fallbacks.load());
    std::printf("attempts per endpoint:\n");
    for (const auto& [addr, s] : stats)
        std::printf("  %s  %5d attempts, %4d failed\n", addr.c_str(), s.attempts.load(),
                    s.failures.load());
    std::printf("breaker transitions seen:\n");
    for (const auto& line : transitions)
        if (line.find("closed -> closed") == std::string::npos)
            std::printf("%s\n", line.c_str());
    return fallbacks.load() == threads * calls_per_thread ? 1 : 0;
}
