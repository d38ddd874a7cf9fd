#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/retry.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

// docs/core.md: "a pipeline may be shared across threads". Four threads call one pipeline of
// stateful policies; every call is accounted for and the breaker's counters add up.
TEST_CASE("one pipeline shared by four threads", "[core][pipeline][concurrency]") {
    constexpr int threads = 4, per_thread = 5000;
    auto client = bulwark::pipeline{
        bulwark::retry{.max_attempts = 2, .backoff = bulwark::constant_backoff{.delay = {}}},
        bulwark::circuit_breaker{{.consecutive_failures = 1000000}},
    };
    std::atomic<int> attempts{0}, ok{0}, failed{0};
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&] {
                for (int i = 0; i < per_thread; ++i) {
                    auto out = client.try_execute([&]() -> bulwark::outcome<int> {
                        // every third attempt fails once: the retry makes it succeed
                        if (attempts.fetch_add(1) % 3 == 0)
                            return bulwark::errc::transport_error;
                        return 1;
                    });
                    (out.has_value() ? ok : failed).fetch_add(1);
                }
            });
    }
    CHECK(ok + failed == threads * per_thread);
    CHECK(attempts >= threads * per_thread);
    CHECK(attempts <= 2 * threads * per_thread);
}
