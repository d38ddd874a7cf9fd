// Retry with exponential backoff and jitter, a listener, a shared retry budget, and a deadline.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

/// Prints each retry and why the retries stopped.
struct print_listener {
    template <class R>
    void on_retry(std::uint32_t attempt, bulwark::duration delay, const bulwark::outcome<R>&) {
        std::printf("  attempt %u failed; retrying in %.1f ms\n", attempt,
                    std::chrono::duration<double, std::milli>(delay).count());
    }
    template <class R>
    void on_give_up(bulwark::retry_stop why, std::uint32_t attempt, const bulwark::outcome<R>&) {
        static constexpr const char* names[] = {"not retryable", "attempts exhausted",
                                                "deadline",      "max duration",
                                                "stopped",       "budget exhausted"};
        std::printf("  gave up after attempt %u: %s\n", attempt, names[static_cast<int>(why)]);
    }
};

} // namespace

int main() {
    // 1. A flaky call: fails twice, then answers.
    std::puts("1. exponential backoff, full jitter:");
    auto flaky = bulwark::pipeline{bulwark::retry{
        .max_attempts = 4,
        .backoff =
            bulwark::exponential_backoff{.base = 2ms, .cap = 50ms, .jitter = bulwark::full_jitter}}
                                       .with_listener(print_listener{})};
    int calls = 0;
    int v = flaky.execute([&] {
        if (++calls < 3)
            throw std::runtime_error("connection reset");
        return 42;
    });
    std::printf("  -> %d after %d calls\n", v, calls);

    // 2. One budget for one downstream service, shared by two pipelines: when the service is
    //    down, retries stop at the budget instead of multiplying the load.
    std::puts("2. a shared retry budget (reserve of 2 retries, 20 % of calls):");
    bulwark::retry_budget users_budget{.ratio = 0.2, .min_per_second = 1, .ttl = 2s};
    auto policy = bulwark::retry{.max_attempts = 3,
                                 .backoff = bulwark::constant_backoff{.delay = 1ms},
                                 .budget = users_budget}
                      .with_listener(print_listener{});
    auto reads = bulwark::pipeline{policy};
    auto writes = bulwark::pipeline{policy};
    auto down = []() -> bulwark::outcome<int> { return bulwark::errc::transport_error; };
    (void)reads.try_execute(down);
    (void)writes.try_execute(down);
    std::printf("  budget left: %.1f retries\n", users_budget.balance());

    // 3. Never sleeps past the caller's deadline.
    std::puts("3. a 30 ms deadline with 20 ms waits:");
    auto patient = bulwark::pipeline{
        bulwark::retry{.max_attempts = 10, .backoff = bulwark::constant_backoff{.delay = 20ms}}
            .with_listener(print_listener{})};
    bulwark::context ctx{bulwark::steady_clock::now() + 30ms};
    auto out = patient.try_execute(down, ctx);
    std::printf("  -> %s\n", out.error().error_code().message().c_str());
}
